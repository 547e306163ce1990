"""Mirrors workflows' phase changes into the metrics store (``workflow_management`` and
``events``), as the original engine kept them: one row per change, never blocking."""

from __future__ import annotations

from typing import Any, Protocol

from orchestration_engine.api.workflow import KIND
from orchestration_engine.core import dag
from orchestration_engine.core.plan import step_graph
from orchestration_engine.execution.record import WorkflowRecord


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
                "data": {"phase": status.phase.value, "reason": status.reason},
            },
        )
