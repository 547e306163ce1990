"""A finished workflow's last store row keeps what its status says: the cluster may delete
the workflow (retention), the store is its history."""

from __future__ import annotations

import json
from typing import Any

from workflow_controller_support import T0, body, delay

from orchestration_engine.api.workflow import StepPhase, StepStatus, WorkflowPhase
from orchestration_engine.controllers.workflows.record import WorkflowRecord
from orchestration_engine.controllers.workflows.store_rows import WorkflowRows
from orchestration_engine.store.rows import prepare


class Sink:
    def __init__(self) -> None:
        self.rows: list[tuple[str, dict[str, Any]]] = []

    def submit(self, table: str, row: dict[str, Any]) -> None:
        self.rows.append((table, prepare(table, row, now=T0)))


def test_the_finished_row_holds_the_steps_and_times() -> None:
    record = WorkflowRecord.from_body(body("wf", [delay("a"), delay("b", dependsOn=["a"])]))
    record.status.phase = WorkflowPhase.FAILED
    record.status.started_at, record.status.finished_at = T0, T0
    record.status.steps = [
        StepStatus(name="a", phase=StepPhase.SUCCEEDED, attempts=1, started_at=T0),
        StepStatus(name="b", phase=StepPhase.FAILED, attempts=2, message="x" * 5000),
    ]
    sink = Sink()
    WorkflowRows(sink, "o-1").workflow(record)
    (_, managed), (_, event) = sink.rows
    assert managed["status"] == "Failed"
    assert managed["workflow_id"] == "uid-wf"
    data = json.loads(event["data"])
    assert data["finishedAt"] == T0.isoformat()
    assert [(s["name"], s["phase"], s["attempts"]) for s in data["steps"]] == [
        ("a", "Succeeded", 1),
        ("b", "Failed", 2),
    ]
    assert len(data["steps"][1]["message"]) == 1000


def test_an_unfinished_row_stays_small() -> None:
    record = WorkflowRecord.from_body(body("wf", [delay("a")]))
    record.status.phase = WorkflowPhase.RUNNING
    sink = Sink()
    WorkflowRows(sink, "o-1").workflow(record)
    assert set(json.loads(sink.rows[1][1]["data"])) == {"phase", "reason"}
