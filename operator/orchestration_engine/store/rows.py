"""Checking and shaping a row when it is submitted, long before the database sees it.

The writer inserts rows much later, in batches, possibly after an outage; a row the database
would refuse (a missing column, a string where a number belongs) must fail in the caller's
hands, where the bug is, and not block or poison a batch of good rows. So every row is checked
against ``tables`` at submit time and completed: ``row_id`` and ``timestamp`` (the moment of
the decision, not of the eventual write) are filled in, dicts and lists become JSON text,
datetimes become UTC. The same functions turn rows into spill-file lines and back.
"""

from __future__ import annotations

import json
import math
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import Enum
from typing import Any

from sqlalchemy import BigInteger, Boolean, Column, Float, Integer, String, Table
from sqlalchemy.types import TypeEngine

from .tables import TABLES, UtcDateTime

Row = dict[str, Any]
_INT32 = 2**31
_INT64 = 2**63


class RowError(ValueError):
    """A row that no database would accept; raised by ``submit``, naming table and column."""


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return iso(value)
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def to_json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), default=_json_default)


def iso(moment: datetime) -> str:
    """ISO 8601 in UTC, the original schema's timestamp text; naive means UTC already."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat()


def _text(value: Any, *, max_length: int | None) -> str:
    if isinstance(value, Enum):
        value = value.value
    if isinstance(value, datetime):
        text = iso(value)
    elif isinstance(value, str):
        text = value
    elif isinstance(value, dict | list | tuple):
        try:
            text = to_json(value)
        except (TypeError, ValueError) as error:
            raise RowError(f"cannot be stored as JSON: {error}") from None
    else:
        raise RowError(f"expected text (or a dict/list for JSON), got {type(value).__name__}")
    if max_length is not None and len(text) > max_length:
        raise RowError(f"longer than {max_length} characters")
    return text


def _integer(bits: int) -> Callable[[Any], int]:
    limit = _INT64 if bits == 64 else _INT32

    def coerce(value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise RowError(f"expected an integer, got {type(value).__name__}")
        if not -limit <= value < limit:
            raise RowError(f"{value} does not fit in {bits} bits")
        return value

    return coerce


def _float(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise RowError(f"expected a number, got {type(value).__name__}")
    result = float(value)
    if not math.isfinite(result):
        # SQLite stores NaN as NULL, which NOT NULL then refuses at write time.
        raise RowError(f"{result} is not a finite number")
    return result


def _boolean(value: Any) -> bool:
    if not isinstance(value, bool):
        raise RowError(f"expected true or false, got {type(value).__name__}")
    return value


def _moment(value: Any) -> datetime:
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            raise RowError(f"{value!r} is not an ISO 8601 timestamp") from None
    if not isinstance(value, datetime):
        raise RowError(f"expected a datetime or ISO 8601 text, got {type(value).__name__}")
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def _coercer(column: Column[Any]) -> Callable[[Any], Any]:
    kind: TypeEngine[Any] = column.type
    if isinstance(kind, UtcDateTime):
        return _moment
    if isinstance(kind, Boolean):
        return _boolean
    if isinstance(kind, Float):
        return _float
    if isinstance(kind, Integer):
        # PostgreSQL's INTEGER is 32 bits; SQLite would take more and PostgreSQL would not.
        return _integer(64 if isinstance(kind, BigInteger) else 32)
    if isinstance(kind, String):
        max_length = kind.length

        def text(value: Any) -> str:
            return _text(value, max_length=max_length)

        return text
    raise TypeError(f"no coercion for {column.table.name}.{column.name} ({kind!r})")


@dataclass(frozen=True)
class _Field:
    name: str
    coerce: Callable[[Any], Any]
    required: bool
    default: Any


def _fields(table: Table) -> tuple[_Field, ...]:
    fields = []
    for column in table.columns:
        if column.primary_key:
            continue  # assigned by the database
        default = getattr(column.default, "arg", None) if column.default is not None else None
        fields.append(
            _Field(column.name, _coercer(column), not column.nullable and default is None, default)
        )
    return tuple(fields)


_FIELDS: dict[str, tuple[_Field, ...]] = {name: _fields(table) for name, table in TABLES.items()}


def new_row_id() -> str:
    return uuid.uuid4().hex


def prepare(table: str, row: Mapping[str, Any], *, now: datetime | None = None) -> Row:
    """The complete row ``table`` will accept, or RowError saying what is wrong with ``row``."""
    fields = _FIELDS.get(table)
    if fields is None:
        raise RowError(f"unknown table {table!r}; the store has {', '.join(sorted(_FIELDS))}")
    known = {field.name for field in fields}
    unknown = [name for name in row if name not in known]
    if unknown:
        raise RowError(f"{table}: unknown column(s) {', '.join(map(repr, sorted(unknown)))}")
    prepared: Row = {}
    for field in fields:
        value = row.get(field.name)
        if value is None:
            if field.name == "row_id":
                value = new_row_id()
            elif field.name == "timestamp":
                value = now or datetime.now(UTC)
            elif field.default is not None:
                value = field.default
            elif field.required:
                raise RowError(f"{table}.{field.name} is required")
            else:
                prepared[field.name] = None
                continue
        try:
            prepared[field.name] = field.coerce(value)
        except RowError as error:
            raise RowError(f"{table}.{field.name}: {error}") from None
    return prepared


def encode(table: str, row: Row) -> bytes:
    """One spill-file line."""
    return (to_json({"table": table, "row": row}) + "\n").encode()


def decode(line: bytes) -> tuple[str, Row]:
    """A spill-file line back into a prepared row; RowError if it cannot be one."""
    try:
        record = json.loads(line)
        table, row = record["table"], record["row"]
    except (ValueError, KeyError, TypeError):
        raise RowError(f"unreadable spill line: {line[:200]!r}") from None
    if not isinstance(table, str) or not isinstance(row, dict):
        raise RowError(f"unreadable spill line: {line[:200]!r}")
    return table, prepare(table, row)
