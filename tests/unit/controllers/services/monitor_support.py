"""Stand-ins for a ServiceMonitor's collaborators in unit tests: a settable clock,
recorded Events."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from orchestration_engine.kube.events import ObjectRef

START = datetime(2026, 11, 24, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.seconds = 0.0

    def now(self) -> datetime:
        return START + timedelta(seconds=self.seconds)


class Events:
    def __init__(self) -> None:
        self.reasons: list[str] = []

    def record(self, ref: ObjectRef, type_: str, reason: str, message: str) -> None:
        self.reasons.append(reason)


def condition(status: dict[str, Any], type_: str) -> dict[str, Any]:
    return next((c for c in status.get("conditions", []) if c["type"] == type_), {})
