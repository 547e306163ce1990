"""Counts of OrchestrationWorkflows by phase, from their watch events (for the engine)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from typing import Any

from orchestration_engine.api.workflow import WorkflowPhase
from orchestration_engine.plumbing import metrics

FAILED = frozenset({WorkflowPhase.FAILED.value, WorkflowPhase.ROLLED_BACK.value})


class WorkflowTracker:
    def __init__(self) -> None:
        self._phase: dict[tuple[str, str], str] = {}

    def observe(self, event_type: str | None, body: Mapping[str, Any]) -> None:
        meta = body.get("metadata", {})
        key = (str(meta.get("namespace", "")), str(meta.get("name", "")))
        old = self._phase.get(key)
        if event_type == "DELETED":
            self._phase.pop(key, None)
            new = None
        else:
            new = str((body.get("status") or {}).get("phase") or WorkflowPhase.PENDING.value)
            self._phase[key] = new
        if old != new:
            if old is not None:
                metrics.WORKFLOWS.labels(old).dec()
            if new is not None:
                metrics.WORKFLOWS.labels(new).inc()

    def counts(self) -> dict[str, int]:
        phases = Counter(self._phase.values())
        return {
            "total": len(self._phase),
            "queued": phases[WorkflowPhase.QUEUED.value] + phases[WorkflowPhase.PENDING.value],
            "running": phases[WorkflowPhase.RUNNING.value]
            + phases[WorkflowPhase.ROLLING_BACK.value],
            "succeeded": phases[WorkflowPhase.SUCCEEDED.value],
            "failed": sum(phases[p] for p in FAILED),
        }
