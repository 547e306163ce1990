"""Mirrors workflows' phase changes into the metrics store (``workflow_management`` and
``events``), as the original engine kept them: one row per change, never blocking."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol

from orchestration_engine.api.workflow import KIND, StepStatus, WorkflowStatus
from orchestration_engine.controllers.workflows.record import WorkflowRecord
from orchestration_engine.core import dag
from orchestration_engine.core.plan import step_graph
from orchestration_engine.core.workflow_run import TERMINAL_PHASES

STEP_MESSAGE_CHARS = 1000


class RowSink(Protocol):
    def submit(self, table: str, row: dict[str, Any]) -> None: ...


class WorkflowRows:
    def __init__(self, rows: RowSink, orchestration_id: str) -> None:
        self.rows = rows
        self.orchestration_id = orchestration_id

    def workflow(self, record: WorkflowRecord) -> None:
        spec, status = record.spec, record.status
        if spec is None:
            return
        self.rows.submit(
            "workflow_management",
            {
                "orchestration_id": self.orchestration_id,
                "namespace": record.key[0],
                "workflow_id": record.uid,
                "workflow_name": record.key[1],
                "workflow_type": spec.workflow_type.value,
                "priority": spec.priority.value,
                "execution_plan": dag.waves(step_graph(spec.steps)),
                "dependencies": list(spec.depends_on),
                "estimated_duration": spec.estimated_duration_seconds or 0,
                "resource_allocation": spec.resources.to_k8s() if spec.resources else {},
                "success_criteria": spec.success_criteria.to_k8s() if spec.success_criteria else {},
                "rollback_plan": [s.name for s in reversed(spec.rollback)],
                "status": status.phase.value,
                "progress": status.progress,
            },
        )
        self.rows.submit(
            "events",
            {
                "kind": KIND,
                "namespace": record.key[0],
                "name": record.key[1],
                "reason": status.phase.value,
                "message": (status.message or status.phase.value)[:4000],
                "data": {"phase": status.phase.value, "reason": status.reason}
                | (finished_history(status) if status.phase in TERMINAL_PHASES else {}),
            },
        )


def finished_history(status: WorkflowStatus) -> dict[str, Any]:
    """What a finished workflow's status says, kept in its last ``events`` row: the cluster
    may delete the workflow (ttlSecondsAfterFinished, history limits), the store keeps this."""

    def steps(items: list[StepStatus]) -> list[dict[str, Any]]:
        return [
            {
                "name": s.name,
                "phase": s.phase.value,
                "attempts": s.attempts,
                "startedAt": iso(s.started_at),
                "finishedAt": iso(s.finished_at),
                "message": (s.message or "")[:STEP_MESSAGE_CHARS],
            }
            for s in items
        ]

    return {
        "startedAt": iso(status.started_at),
        "finishedAt": iso(status.finished_at),
        "progress": status.progress,
        "steps": steps(status.steps),
        "rollbackSteps": steps(status.rollback_steps),
    }


def iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None
