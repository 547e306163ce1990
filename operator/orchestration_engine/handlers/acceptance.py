"""The first reconcile step of every kind: is the spec usable? Writes Ready/Stalled.

The API server's schema and CEL rules catch most bad input; what they cannot see (a cycle in
a workflow's steps, an object written before a CRD upgrade) is caught here and reported as a
condition, never by retrying forever.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import kopf
from pydantic import ValidationError

from orchestration_engine.api import GROUP, VERSION, errors
from orchestration_engine.api.base import Model
from orchestration_engine.core.conditions import set_condition


def judge(model: type[Model], spec: dict[str, Any]) -> list[str]:
    try:
        model.model_validate(spec)
    except ValidationError as error:
        return errors.describe(error)
    return []


def acceptance_status(
    status: dict[str, Any], generation: int | None, problems: list[str], *, ready_message: str
) -> dict[str, Any]:
    now = datetime.now(UTC)
    conditions: list[dict[str, Any]] = list(status.get("conditions") or [])
    if problems:
        message = "; ".join(problems)
        conditions = set_condition(
            conditions, "Ready", False, "InvalidSpec", message, generation=generation, now=now
        )
        conditions = set_condition(
            conditions, "Stalled", True, "InvalidSpec", message, generation=generation, now=now
        )
    else:
        conditions = set_condition(
            conditions, "Ready", True, "Accepted", ready_message, generation=generation, now=now
        )
        conditions = set_condition(
            conditions, "Stalled", False, "Accepted", "", generation=generation, now=now
        )
    return {"observedGeneration": generation, "conditions": conditions}


def on_spec_change(
    registry: kopf.OperatorRegistry, plural: str, handler: Callable[..., Awaitable[None]]
) -> None:
    """Run ``handler`` when an object appears, when its spec changes, and on operator start."""
    resource = (GROUP, VERSION, plural)
    kopf.on.create(*resource, registry=registry)(handler)
    kopf.on.update(*resource, registry=registry, field="spec")(handler)
    kopf.on.resume(*resource, registry=registry)(handler)
