"""core.workflow_conditions: Ready, Admitted, Succeeded and Stalled from the workflow's phase."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from orchestration_engine.api.workflow import WorkflowPhase, WorkflowStatus
from orchestration_engine.core.workflow_conditions import workflow_conditions

T0 = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
T1 = datetime(2026, 11, 23, 11, 0, tzinfo=UTC)
T0_TEXT = "2026-11-23T10:00:00Z"
T1_TEXT = "2026-11-23T11:00:00Z"

P = WorkflowPhase
NOT_STARTED = (P.PENDING, P.QUEUED, P.SUSPENDED, P.HALTED, P.CANCELLED)


def status(phase: WorkflowPhase, **fields: Any) -> WorkflowStatus:
    return WorkflowStatus(phase=phase, **fields)


def conditions(
    state: WorkflowStatus, now: datetime = T0, generation: int | None = 4, **extra: Any
) -> dict[str, dict[str, Any]]:
    result = workflow_conditions(state, generation, now, **extra)
    by_type = {c["type"]: c for c in result}
    assert len(by_type) == len(result), "one condition per type"
    return by_type


def summary(condition: dict[str, Any]) -> tuple[str, str]:
    return condition["status"], condition["reason"]


def stored(state: WorkflowStatus, now: datetime, **extra: Any) -> WorkflowStatus:
    """``state`` with the conditions computed at ``now``, as read back from the API server."""
    new = state.model_copy(deep=True)
    written = workflow_conditions(state, 4, now, **extra)
    new.conditions = WorkflowStatus.model_validate({"conditions": written}).conditions
    return new


# --- the four conditions ------------------------------------------------------------------


def test_the_four_conditions_of_a_running_workflow() -> None:
    result = workflow_conditions(status(P.RUNNING, started_at=T0, message="2 of 3 steps"), 4, T0)
    assert result == [
        {
            "type": "Stalled",
            "status": "False",
            "reason": "SpecAccepted",
            "message": "",
            "lastTransitionTime": T0_TEXT,
            "observedGeneration": 4,
        },
        {
            "type": "Ready",
            "status": "False",
            "reason": "Running",
            "message": "2 of 3 steps",
            "lastTransitionTime": T0_TEXT,
            "observedGeneration": 4,
        },
        {
            "type": "Admitted",
            "status": "True",
            "reason": "Admitted",
            "message": "the scheduler let it start",
            "lastTransitionTime": T0_TEXT,
            "observedGeneration": 4,
        },
        {
            "type": "Succeeded",
            "status": "Unknown",
            "reason": "Running",
            "message": "not finished",
            "lastTransitionTime": T0_TEXT,
            "observedGeneration": 4,
        },
    ]


def test_without_a_generation_there_is_no_observed_generation() -> None:
    for condition in workflow_conditions(status(P.QUEUED), None, T0):
        assert "observedGeneration" not in condition


@pytest.mark.parametrize("phase", list(WorkflowPhase))
def test_ready_is_true_only_when_succeeded(phase: WorkflowPhase) -> None:
    ready = conditions(status(phase, started_at=T0, message="m"))["Ready"]
    expected = "True" if phase == P.SUCCEEDED else "False"
    assert summary(ready) == (expected, phase.value)
    assert ready["message"] == "m"


@pytest.mark.parametrize("phase", [P.RUNNING, P.ROLLING_BACK, P.SUCCEEDED, P.ROLLED_BACK, P.FAILED])
def test_admitted_once_started(phase: WorkflowPhase) -> None:
    admitted = conditions(status(phase, started_at=T0))["Admitted"]
    assert summary(admitted) == ("True", "Admitted")
    assert admitted["message"] == "the scheduler let it start"


def test_failed_before_it_started_was_not_admitted() -> None:
    admitted = conditions(status(P.FAILED, message="bad"))["Admitted"]
    assert summary(admitted) == ("False", "Failed")
    assert admitted["message"] == "bad"


@pytest.mark.parametrize("phase", [P.PENDING, P.QUEUED])
def test_a_waiting_workflow_says_why_it_waits(phase: WorkflowPhase) -> None:
    state = status(phase, message="waits for a slot: 10 workflows are running")
    admitted = conditions(state, wait_reason="ConcurrencyLimit")["Admitted"]
    assert summary(admitted) == ("False", "ConcurrencyLimit")
    assert admitted["message"] == "waits for a slot: 10 workflows are running"


@pytest.mark.parametrize("phase", [P.PENDING, P.QUEUED])
def test_a_waiting_workflow_without_a_reason_shows_its_phase(phase: WorkflowPhase) -> None:
    assert summary(conditions(status(phase))["Admitted"]) == ("False", phase.value)


@pytest.mark.parametrize("phase", [P.SUSPENDED, P.HALTED, P.CANCELLED])
def test_parked_or_cancelled_is_not_admitted(phase: WorkflowPhase) -> None:
    # The wait reason is only for Pending and Queued.
    admitted = conditions(status(phase, started_at=T0), wait_reason="Whatever")["Admitted"]
    assert summary(admitted) == ("False", phase.value)


def test_succeeded_true_on_success() -> None:
    result = conditions(status(P.SUCCEEDED, started_at=T0, message="all steps succeeded"))
    assert summary(result["Succeeded"]) == ("True", "Succeeded")
    assert result["Succeeded"]["message"] == "all steps succeeded"


@pytest.mark.parametrize(
    ("phase", "reason", "expected_reason"),
    [
        (P.FAILED, "StepFailed", "StepFailed"),
        (P.FAILED, "DeadlineExceeded", "DeadlineExceeded"),
        (P.FAILED, "RollbackFailed", "RollbackFailed"),
        (P.FAILED, None, "Failed"),
        (P.ROLLED_BACK, "SuccessCriteriaUnmet", "SuccessCriteriaUnmet"),
        (P.ROLLED_BACK, None, "RolledBack"),
        (P.CANCELLED, "DependencyFailed", "DependencyFailed"),
        (P.CANCELLED, None, "Cancelled"),
    ],
)
def test_succeeded_false_when_it_ended_otherwise(
    phase: WorkflowPhase, reason: str | None, expected_reason: str
) -> None:
    state = status(phase, started_at=T0, reason=reason, message="step a failed: boom")
    succeeded = conditions(state)["Succeeded"]
    assert summary(succeeded) == ("False", expected_reason)
    assert succeeded["message"] == "step a failed: boom"


@pytest.mark.parametrize(
    "phase", [P.PENDING, P.QUEUED, P.RUNNING, P.ROLLING_BACK, P.SUSPENDED, P.HALTED]
)
def test_succeeded_unknown_until_it_ends(phase: WorkflowPhase) -> None:
    succeeded = conditions(status(phase))["Succeeded"]
    assert summary(succeeded) == ("Unknown", phase.value)
    assert succeeded["message"] == "not finished"


@pytest.mark.parametrize("phase", list(WorkflowPhase))
def test_not_stalled_when_the_spec_can_run(phase: WorkflowPhase) -> None:
    stalled = conditions(status(phase))["Stalled"]
    assert summary(stalled) == ("False", "SpecAccepted")


@pytest.mark.parametrize("phase", [P.PENDING, P.RUNNING, P.SUCCEEDED])
def test_an_invalid_spec_is_stalled(phase: WorkflowPhase) -> None:
    problem = "steps form a cycle: a -> b -> a"
    result = conditions(status(phase, started_at=T0), problems=problem)
    assert set(result) == {"Ready", "Stalled", "Admitted", "Succeeded"}
    assert summary(result["Stalled"]) == ("True", "InvalidSpec")
    assert result["Stalled"]["message"] == problem
    assert summary(result["Ready"]) == ("False", "InvalidSpec")
    assert result["Ready"]["message"] == problem
    assert summary(result["Admitted"]) == ("False", "InvalidSpec")
    assert summary(result["Succeeded"]) == ("Unknown", "InvalidSpec")


@pytest.mark.parametrize("phase", list(WorkflowPhase))
@pytest.mark.parametrize("problems", [None, "bad spec"])
def test_every_condition_fits_the_api_schema(phase: WorkflowPhase, problems: str | None) -> None:
    # Reasons must match metav1.Condition's pattern: read the result back through the model.
    for wait_reason in (None, "EmergencyHalt"):
        state = status(phase, started_at=T0, reason="StepFailed", message=None)
        written = workflow_conditions(state, 4, T0, wait_reason=wait_reason, problems=problems)
        parsed = WorkflowStatus.model_validate({"conditions": written}).conditions
        assert [c.type for c in parsed] == [c["type"] for c in written]


# --- lastTransitionTime -------------------------------------------------------------------


def test_transition_time_stays_when_nothing_changes() -> None:
    running = stored(status(P.RUNNING, started_at=T0), T0)
    again = workflow_conditions(running, 4, T1)
    assert {c["type"]: c["lastTransitionTime"] for c in again} == {
        "Stalled": T0_TEXT,
        "Ready": T0_TEXT,
        "Admitted": T0_TEXT,
        "Succeeded": T0_TEXT,
    }
    assert again == workflow_conditions(running, 4, T0)  # nothing new: no write


def test_transition_time_moves_only_for_conditions_whose_status_changed() -> None:
    running = stored(status(P.RUNNING, started_at=T0), T0)
    running.phase = P.SUCCEEDED
    result = conditions(running, now=T1)
    assert result["Ready"]["lastTransitionTime"] == T1_TEXT  # False -> True
    assert result["Succeeded"]["lastTransitionTime"] == T1_TEXT  # Unknown -> True
    assert result["Admitted"]["lastTransitionTime"] == T0_TEXT  # True -> True
    assert result["Stalled"]["lastTransitionTime"] == T0_TEXT  # False -> False


def test_a_new_wait_reason_is_not_a_transition() -> None:
    queued = stored(status(P.QUEUED), T0, wait_reason="ConcurrencyLimit")
    result = conditions(queued, now=T1, wait_reason="InsufficientCapacity")
    assert summary(result["Admitted"]) == ("False", "InsufficientCapacity")
    assert result["Admitted"]["lastTransitionTime"] == T0_TEXT


def test_becoming_invalid_and_valid_again_moves_stalled() -> None:
    queued = stored(status(P.QUEUED), T0)
    invalid = stored(queued, T1, problems="bad")
    stalled = conditions(invalid, now=T1)["Stalled"]  # valid again at T1
    assert summary(stalled) == ("False", "SpecAccepted")
    assert stalled["lastTransitionTime"] == T1_TEXT
    previous = {c.type: c for c in invalid.conditions}
    assert previous["Stalled"].status == "True"
    assert previous["Admitted"].last_transition_time == T0  # False -> False at T1


def test_other_condition_types_are_kept() -> None:
    state = WorkflowStatus.model_validate(
        {
            "phase": "Running",
            "conditions": [
                {
                    "type": "Custom",
                    "status": "True",
                    "reason": "Mine",
                    "message": "",
                    "lastTransitionTime": T0_TEXT,
                }
            ],
        }
    )
    result = workflow_conditions(state, 4, T1)
    assert result[0]["type"] == "Custom"
    assert result[0]["lastTransitionTime"] == T0_TEXT
    assert [c["type"] for c in result] == ["Custom", "Stalled", "Ready", "Admitted", "Succeeded"]


def test_the_input_status_is_not_modified() -> None:
    state = stored(status(P.RUNNING, started_at=T0), T0)
    before = state.model_copy(deep=True)
    state.phase = P.FAILED
    workflow_conditions(state, 5, T1)
    before.phase = P.FAILED
    assert state == before


@pytest.mark.parametrize("phase", NOT_STARTED)
def test_not_started_phases_are_not_admitted(phase: WorkflowPhase) -> None:
    assert conditions(status(phase))["Admitted"]["status"] == "False"
