"""The one helper for ``status.conditions`` (Kubernetes API conventions).

``lastTransitionTime`` moves only when a condition's status changes, so a re-reconcile that
finds nothing new produces an identical list and no write.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

Conditions = list[dict[str, Any]]


def rfc3339(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def set_condition(
    conditions: Conditions,
    type_: str,
    status: bool | str,
    reason: str,
    message: str,
    *,
    generation: int | None,
    now: datetime,
) -> Conditions:
    """A new list with ``type_`` set; the input is not modified."""
    status_text = ("True" if status else "False") if isinstance(status, bool) else status
    previous = find_condition(conditions, type_)
    transition = (
        previous["lastTransitionTime"]
        if previous is not None and previous.get("status") == status_text
        else rfc3339(now)
    )
    updated: dict[str, Any] = {
        "type": type_,
        "status": status_text,
        "reason": reason,
        "message": message,
        "lastTransitionTime": transition,
    }
    if generation is not None:
        updated["observedGeneration"] = generation
    if previous is None:
        return [*conditions, updated]
    return [updated if c.get("type") == type_ else c for c in conditions]


def find_condition(conditions: Conditions, type_: str) -> dict[str, Any] | None:
    return next((c for c in conditions if c.get("type") == type_), None)


def is_true(conditions: Conditions, type_: str) -> bool:
    found = find_condition(conditions, type_)
    return found is not None and found.get("status") == "True"
