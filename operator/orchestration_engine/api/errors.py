"""Turns pydantic's validation errors into messages that name the field as users wrote it."""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import ValidationError


def field_path(location: Sequence[int | str], root: str = "spec") -> str:
    path = root
    for part in location:
        path += f"[{part}]" if isinstance(part, int) else f".{part}"
    return path


def describe(error: ValidationError, root: str = "spec") -> list[str]:
    """One line per problem: ``spec.steps[1].retries: must be >= 0``-like, pydantic's wording."""
    lines = []
    for item in error.errors():
        message = item["msg"].removeprefix("Value error, ")
        if item["type"] == "string_pattern_mismatch":
            # The pattern alone does not say what was written; the value does.
            message += f", not {_shown(item.get('input'))}"
        lines.append(f"{field_path(item['loc'], root)}: {message}")
    return lines


def _shown(value: object, limit: int = 100) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"
