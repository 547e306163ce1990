"""A workflow's conditions from its phase, so kubectl wait and GitOps tools read its state.

``Ready`` is True once the workflow has Succeeded (``kubectl wait --for=condition=Ready``
waits for success, as ``--for=condition=Complete`` does for a Job); ``Admitted`` says whether
the scheduler let it start and, while it waits, why not; ``Succeeded`` is Unknown until it
ends; ``Stalled`` (kstatus) is True only for a spec that cannot run.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from orchestration_engine.api.workflow import WorkflowPhase, WorkflowStatus
from orchestration_engine.core.conditions import set_condition

ADMITTED_PHASES = frozenset(
    {
        WorkflowPhase.RUNNING,
        WorkflowPhase.ROLLING_BACK,
        WorkflowPhase.SUCCEEDED,
        WorkflowPhase.ROLLED_BACK,
    }
)


def workflow_conditions(
    status: WorkflowStatus,
    generation: int | None,
    now: datetime,
    *,
    wait_reason: str | None = None,
    problems: str | None = None,
) -> list[dict[str, Any]]:
    """``wait_reason``: the scheduler's reason while Pending or Queued; ``problems``: why
    the spec cannot run (None: it can)."""
    conditions = [c.to_k8s() if hasattr(c, "to_k8s") else dict(c) for c in status.conditions]
    phase = status.phase
    message = status.message or ""

    def put(type_: str, value: bool | str, reason: str, text: str) -> None:
        nonlocal conditions
        conditions = set_condition(
            conditions, type_, value, reason, text, generation=generation, now=now
        )

    if problems is not None:
        put("Ready", False, "InvalidSpec", problems)
        put("Stalled", True, "InvalidSpec", problems)
        put("Admitted", False, "InvalidSpec", "the spec cannot run")
        put("Succeeded", "Unknown", "InvalidSpec", "the spec cannot run")
        return conditions

    put("Stalled", False, "SpecAccepted", "")
    succeeded = phase == WorkflowPhase.SUCCEEDED
    put("Ready", succeeded, phase.value, message)
    if phase in ADMITTED_PHASES or (phase == WorkflowPhase.FAILED and status.started_at):
        put("Admitted", True, "Admitted", "the scheduler let it start")
    elif phase in (WorkflowPhase.PENDING, WorkflowPhase.QUEUED):
        put("Admitted", False, wait_reason or phase.value, message)
    else:
        put("Admitted", False, phase.value, message)
    if succeeded:
        put("Succeeded", True, "Succeeded", message)
    elif phase in (WorkflowPhase.FAILED, WorkflowPhase.ROLLED_BACK, WorkflowPhase.CANCELLED):
        put("Succeeded", False, status.reason or phase.value, message)
    else:
        put("Succeeded", "Unknown", phase.value, "not finished")
    return conditions
