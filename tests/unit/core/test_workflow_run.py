"""core.workflow_run: one workflow's execution, status in → decision out, rule by rule."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from orchestration_engine.api.service import Health
from orchestration_engine.api.workflow import (
    Step,
    StepPhase,
    StepStatus,
    WorkflowPhase,
    WorkflowSpec,
    WorkflowStatus,
)
from orchestration_engine.core.workflow_run import (
    TERMINAL_PHASES,
    Decision,
    Launch,
    Reason,
    Stage,
    admit,
    backoff_seconds,
    decide,
    progress,
    step_failed,
    step_started,
    step_succeeded,
)

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
MAIN, ROLLBACK = Stage.MAIN, Stage.ROLLBACK


def at(seconds: float) -> datetime:
    return NOW + timedelta(seconds=seconds)


def delay(name: str, *deps: str, retries: int = 0) -> dict[str, Any]:
    return {
        "name": name,
        "action": "delay",
        "params": {"seconds": 1},
        "dependsOn": list(deps),
        "retries": retries,
    }


def make_spec(
    steps: list[dict[str, Any]], rollback: list[dict[str, Any]] | None = None, **extra: Any
) -> WorkflowSpec:
    return WorkflowSpec.model_validate({"steps": steps, "rollback": rollback or [], **extra})


CHAIN = make_spec([delay("a"), delay("b", "a"), delay("c", "b")])


def spec_step(spec: WorkflowSpec, stage: Stage, name: str) -> Step:
    steps = spec.steps if stage is MAIN else spec.rollback
    return next(s for s in steps if s.name == name)


def status_of(status: WorkflowStatus, name: str, stage: Stage = MAIN) -> StepStatus:
    steps = status.steps if stage is MAIN else status.rollback_steps
    return next(s for s in steps if s.name == name)


def phases(status: WorkflowStatus, stage: Stage = MAIN) -> dict[str, StepPhase]:
    steps = status.steps if stage is MAIN else status.rollback_steps
    return {s.name: s.phase for s in steps}


def launched(decision: Decision) -> list[str]:
    return [launch.step for launch in decision.launch]


def start_all(status: WorkflowStatus, decision: Decision, now: datetime) -> WorkflowStatus:
    for launch in decision.launch:
        status = step_started(status, launch, now)
    return status


def succeed(
    status: WorkflowStatus, name: str, now: datetime, stage: Stage = MAIN
) -> WorkflowStatus:
    return step_succeeded(status, stage, name, "done", now)


def fail(
    spec: WorkflowSpec,
    status: WorkflowStatus,
    name: str,
    now: datetime,
    stage: Stage = MAIN,
    message: str = "boom",
) -> WorkflowStatus:
    return step_failed(status, spec_step(spec, stage, name), stage, message, now)


def started(spec: WorkflowSpec, now: datetime = NOW) -> WorkflowStatus:
    return admit(spec, WorkflowStatus(phase=WorkflowPhase.QUEUED, queue_position=2), now)


def with_steps(
    spec: WorkflowSpec, now: datetime = NOW, **step_phases: StepPhase | tuple[StepPhase, int]
) -> WorkflowStatus:
    """An admitted status whose steps are in the given phases (attempts 1 unless given)."""
    status = started(spec, now)
    for step in status.steps:
        value = step_phases.get(step.name)
        if value is None:
            continue
        phase, attempts = value if isinstance(value, tuple) else (value, 1)
        step.phase = phase
        step.attempts = attempts
        step.started_at = now
        if phase in (StepPhase.SUCCEEDED, StepPhase.FAILED):
            step.finished_at = now
    status.progress = progress(status)
    return status


# --- admit --------------------------------------------------------------------------------


def test_admit_a_fresh_workflow() -> None:
    status = admit(CHAIN, WorkflowStatus(phase=WorkflowPhase.QUEUED, queue_position=3), NOW)
    assert status.phase == WorkflowPhase.RUNNING
    assert status.queue_position is None
    assert status.started_at == NOW
    assert status.finished_at is None
    assert status.message is None
    assert status.progress == 0.0
    assert [(s.name, s.phase, s.attempts) for s in status.steps] == [
        ("a", StepPhase.PENDING, 0),
        ("b", StepPhase.PENDING, 0),
        ("c", StepPhase.PENDING, 0),
    ]


def test_admit_keeps_existing_step_progress_and_resets_the_queue_position() -> None:
    parked = WorkflowStatus(
        phase=WorkflowPhase.HALTED,
        queue_position=4,
        started_at=at(-100),
        message="held by the engine's emergency halt; resumes when it clears",
        steps=[
            StepStatus(name="a", phase=StepPhase.SUCCEEDED, attempts=1, finished_at=at(-90)),
            StepStatus(name="b", phase=StepPhase.RUNNING, attempts=2, started_at=at(-50)),
        ],
    )
    status = admit(CHAIN, parked, NOW)
    assert status.phase == WorkflowPhase.RUNNING
    assert status.queue_position is None
    assert status.started_at == at(-100)  # the first admission
    assert status.message is None
    assert [(s.name, s.phase, s.attempts) for s in status.steps] == [
        ("a", StepPhase.SUCCEEDED, 1),
        ("b", StepPhase.RUNNING, 2),
        ("c", StepPhase.PENDING, 0),
    ]
    assert status_of(status, "b").started_at == at(-50)
    assert status.progress == 33.3
    # The input is left alone.
    assert parked.phase == WorkflowPhase.HALTED
    assert parked.queue_position == 4


def test_admit_follows_the_spec_order_and_drops_unknown_steps() -> None:
    old = WorkflowStatus(steps=[StepStatus(name="gone"), StepStatus(name="b", attempts=1)])
    status = admit(CHAIN, old, NOW)
    assert [s.name for s in status.steps] == ["a", "b", "c"]
    assert status_of(status, "b").attempts == 1


# --- launching in dependency order --------------------------------------------------------


def test_a_chain_launches_one_step_at_a_time_in_order() -> None:
    status = started(CHAIN)
    seen: list[list[str]] = []
    now = NOW
    for _ in range(3):
        decision = decide(CHAIN, status, now)
        assert not decision.done
        seen.append(launched(decision))
        assert all(launch.attempt == 1 and not launch.resumed for launch in decision.launch)
        status = start_all(decision.status, decision, now)
        executing = frozenset(launched(decision))
        # Nothing else while it runs.
        waiting = decide(CHAIN, status, now, executing=executing)
        assert waiting.launch == []
        assert waiting.status.phase == WorkflowPhase.RUNNING
        now += timedelta(seconds=5)
        status = succeed(status, launched(decision)[0], now)
    assert seen == [["a"], ["b"], ["c"]]
    final = decide(CHAIN, status, now)
    assert final.done
    assert final.launch == []
    assert final.status.phase == WorkflowPhase.SUCCEEDED
    assert final.status.finished_at == now
    assert final.status.message == "all steps succeeded"
    assert final.status.reason is None
    assert final.status.progress == 100.0


def test_independent_branches_launch_together() -> None:
    spec = make_spec([delay("a"), delay("b"), delay("join", "a", "b")])
    decision = decide(spec, started(spec), NOW)
    assert launched(decision) == ["a", "b"]
    status = start_all(decision.status, decision, NOW)

    status = succeed(status, "a", at(1))
    assert decide(spec, status, at(1), executing=frozenset({"b"})).launch == []
    status = succeed(status, "b", at(2))
    assert launched(decide(spec, status, at(2))) == ["join"]


def test_a_diamond_launches_its_middle_together() -> None:
    spec = make_spec(
        [delay("top"), delay("l", "top"), delay("r", "top"), delay("bottom", "l", "r")]
    )
    status = with_steps(spec, top=StepPhase.SUCCEEDED)
    assert launched(decide(spec, status, NOW)) == ["l", "r"]


@pytest.mark.parametrize(
    "b_phase",
    [StepPhase.PENDING, StepPhase.RUNNING, (StepPhase.PENDING, 1)],
)
def test_a_step_waits_until_all_its_dependencies_succeeded(
    b_phase: StepPhase | tuple[StepPhase, int],
) -> None:
    spec = make_spec([delay("a"), delay("b", retries=3), delay("c", "a", "b")])
    status = with_steps(spec, a=StepPhase.SUCCEEDED, b=b_phase)
    decision = decide(spec, status, NOW, executing=frozenset({"b"}))
    assert "c" not in launched(decision)
    assert decision.launch == []


def test_a_running_step_not_executing_here_is_resumed_as_the_same_attempt() -> None:
    spec = make_spec([delay("a", retries=3), delay("b")])
    status = with_steps(spec, a=(StepPhase.RUNNING, 2))
    decision = decide(spec, status, NOW)
    assert decision.launch == [
        Launch(MAIN, "a", attempt=2, resumed=True),
        Launch(MAIN, "b", attempt=1, resumed=False),
    ]
    # Recording a resumed start changes nothing: the attempt was recorded before the crash.
    resumed = step_started(decision.status, decision.launch[0], at(30))
    assert status_of(resumed, "a") == status_of(status, "a")


def test_an_executing_step_is_not_launched_again() -> None:
    spec = make_spec([delay("a"), delay("b")])
    status = with_steps(spec, a=StepPhase.RUNNING, b=StepPhase.RUNNING)
    decision = decide(spec, status, NOW, executing=frozenset({"a"}))
    assert decision.launch == [Launch(MAIN, "b", attempt=1, resumed=True)]
    assert decide(spec, status, NOW, executing=frozenset({"a", "b"})).launch == []


def test_a_pending_step_already_executing_is_not_launched_twice() -> None:
    # The runner may have started it before its start was recorded.
    spec = make_spec([delay("a")])
    assert decide(spec, started(spec), NOW, executing=frozenset({"a"})).launch == []


def test_a_succeeded_step_never_launches_again() -> None:
    spec = make_spec([delay("a"), delay("b", "a")])
    status = with_steps(spec, a=StepPhase.SUCCEEDED)
    decision = decide(spec, status, NOW)
    assert launched(decision) == ["b"]
    # Even when executing is empty and it was the last one: the workflow just succeeds.
    status = with_steps(spec, a=StepPhase.SUCCEEDED, b=StepPhase.SUCCEEDED)
    assert decide(spec, status, NOW).launch == []


def test_decide_does_not_modify_its_input() -> None:
    spec = make_spec([delay("a")])
    status = with_steps(spec, a=StepPhase.FAILED)
    before = status.model_copy(deep=True)
    decide(spec, status, NOW)
    assert status == before


@pytest.mark.parametrize(
    "phase",
    [
        WorkflowPhase.PENDING,
        WorkflowPhase.QUEUED,
        WorkflowPhase.SUSPENDED,
        WorkflowPhase.HALTED,
        WorkflowPhase.SUCCEEDED,
        WorkflowPhase.FAILED,
        WorkflowPhase.ROLLED_BACK,
        WorkflowPhase.CANCELLED,
    ],
)
def test_decide_does_nothing_unless_running_or_rolling_back(phase: WorkflowPhase) -> None:
    status = started(CHAIN)
    status.phase = phase
    decision = decide(CHAIN, status, at(10**6))
    assert decision.done
    assert decision.launch == []
    assert decision.stop == []
    assert decision.wake_at is None
    assert decision.status == status


# --- retries and backoff ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("attempts", "seconds"),
    [(0, 1.0), (1, 1.0), (2, 2.0), (3, 4.0), (4, 8.0), (6, 32.0), (7, 60.0), (50, 60.0)],
)
def test_backoff_seconds(attempts: int, seconds: float) -> None:
    assert backoff_seconds(attempts) == seconds


def test_a_failed_attempt_with_retries_left_is_retried_after_a_backoff() -> None:
    spec = make_spec([delay("a", retries=2), delay("b", "a")])
    status = start_all(started(spec), decide(spec, started(spec), NOW), NOW)

    status = fail(spec, status, "a", at(10))
    a = status_of(status, "a")
    assert a.phase == StepPhase.PENDING
    assert a.attempts == 1
    assert a.finished_at == at(10)
    assert a.message == "attempt 1 failed: boom; retrying in 1s"
    assert status.progress == 0.0

    early = decide(spec, status, at(10.5))
    assert early.launch == []
    assert early.wake_at == at(11)
    assert early.status.phase == WorkflowPhase.RUNNING

    due = decide(spec, status, at(11))
    assert due.launch == [Launch(MAIN, "a", attempt=2, resumed=False)]
    assert due.wake_at is None
    status = step_started(due.status, due.launch[0], at(11))
    assert status_of(status, "a").finished_at is None
    assert status_of(status, "a").message is None

    status = fail(spec, status, "a", at(20))
    assert status_of(status, "a").message == "attempt 2 failed: boom; retrying in 2s"
    assert decide(spec, status, at(21.9)).wake_at == at(22)
    due = decide(spec, status, at(22))
    assert due.launch == [Launch(MAIN, "a", attempt=3, resumed=False)]
    status = step_started(due.status, due.launch[0], at(22))

    status = fail(spec, status, "a", at(30))
    a = status_of(status, "a")
    assert a.phase == StepPhase.FAILED
    assert a.attempts == 3
    assert a.message == "boom after 3 attempts"


def test_the_wake_up_is_the_earliest_retry_or_the_deadline() -> None:
    spec = make_spec([delay("a", retries=5), delay("b", retries=5)], deadlineSeconds=100)
    status = with_steps(spec, a=(StepPhase.PENDING, 4), b=(StepPhase.PENDING, 3))
    status_of(status, "a").finished_at = at(10)  # retry at 10 + 8
    status_of(status, "b").finished_at = at(12)  # retry at 12 + 4
    assert decide(spec, status, at(13)).wake_at == at(16)
    status_of(status, "b").finished_at = None  # no backoff: launched at once
    decision = decide(spec, status, at(13))
    assert launched(decision) == ["b"]
    assert decision.wake_at == at(18)
    running = with_steps(spec, a=StepPhase.RUNNING, b=StepPhase.RUNNING)
    assert decide(spec, running, at(13), executing=frozenset({"a", "b"})).wake_at == at(100)


def test_one_failed_attempt_without_retries_fails_the_step() -> None:
    spec = make_spec([delay("a")])
    status = with_steps(spec, a=StepPhase.RUNNING)
    status = fail(spec, status, "a", at(1), message="exit 1")
    a = status_of(status, "a")
    assert a.phase == StepPhase.FAILED
    assert a.message == "exit 1"  # no "after 1 attempts"
    assert a.finished_at == at(1)
    assert status.progress == 100.0


# --- failure, rollback --------------------------------------------------------------------


def test_failure_without_rollback_fails_naming_the_step() -> None:
    spec = make_spec([delay("a"), delay("b", "a"), delay("c")])
    status = with_steps(spec, c=StepPhase.SUCCEEDED, a=StepPhase.RUNNING)
    status = fail(spec, status, "a", at(5), message="exit 3")
    decision = decide(spec, status, at(6))
    assert decision.done
    assert decision.launch == []
    final = decision.status
    assert final.phase == WorkflowPhase.FAILED
    assert final.reason == "StepFailed"
    assert final.message == "step a failed: exit 3"
    assert final.finished_at == at(6)
    assert phases(final) == {
        "a": StepPhase.FAILED,
        "b": StepPhase.SKIPPED,
        "c": StepPhase.SUCCEEDED,
    }
    assert final.progress == 100.0
    assert final.rollback_steps == []


def test_after_a_final_failure_nothing_new_starts_while_others_execute() -> None:
    spec = make_spec([delay("a"), delay("b"), delay("c"), delay("d", "a")], [delay("undo")])
    status = with_steps(spec, a=StepPhase.RUNNING, b=StepPhase.RUNNING)
    status = fail(spec, status, "a", at(1))
    # c is Pending with its dependencies met, yet does not start; b still executes.
    decision = decide(spec, status, at(2), executing=frozenset({"b"}))
    assert decision.launch == []
    assert decision.stop == []
    assert decision.status.phase == WorkflowPhase.RUNNING
    assert phases(decision.status)["c"] == StepPhase.PENDING

    status = succeed(decision.status, "b", at(3))
    decision = decide(spec, status, at(4))
    assert phases(decision.status) == {
        "a": StepPhase.FAILED,
        "b": StepPhase.SUCCEEDED,
        "c": StepPhase.SKIPPED,
        "d": StepPhase.SKIPPED,
    }
    assert decision.status.phase == WorkflowPhase.ROLLING_BACK
    assert decision.status.reason == Reason.STEP_FAILED
    assert decision.launch == [Launch(ROLLBACK, "undo", attempt=1, resumed=False)]


def test_a_crashed_running_step_is_resumed_before_a_failure_is_handled() -> None:
    # a failed for good; b was Running when the operator stopped, so nothing executes it.
    # "Let what runs finish": b is resumed as the same attempt, not left Running forever.
    spec = make_spec([delay("a"), delay("b"), delay("c")], [delay("undo")])
    status = with_steps(spec, a=StepPhase.FAILED, b=StepPhase.RUNNING)
    decision = decide(spec, status, NOW)
    assert decision.launch == [Launch(MAIN, "b", attempt=1, resumed=True)]
    assert decision.status.phase == WorkflowPhase.RUNNING
    assert phases(decision.status)["c"] == StepPhase.PENDING

    status = succeed(decision.status, "b", at(1))
    decision = decide(spec, status, at(1))
    assert decision.status.phase == WorkflowPhase.ROLLING_BACK
    assert StepPhase.RUNNING not in phases(decision.status).values()


ROLLBACK_SPEC = make_spec(
    [delay("a"), delay("b", "a")],
    [delay("r1"), delay("r2", retries=1), delay("r3")],
)


def rolling_back() -> Decision:
    status = with_steps(ROLLBACK_SPEC, a=StepPhase.RUNNING)
    status = fail(ROLLBACK_SPEC, status, "a", at(1))
    return decide(ROLLBACK_SPEC, status, at(2))


def test_rollback_runs_last_written_first_one_at_a_time() -> None:
    decision = rolling_back()
    status = decision.status
    assert status.phase == WorkflowPhase.ROLLING_BACK
    assert not decision.done
    assert [s.name for s in status.rollback_steps] == ["r3", "r2", "r1"]
    assert decision.launch == [Launch(ROLLBACK, "r3", attempt=1, resumed=False)]

    order: list[str] = []
    now = at(2)
    for _ in range(3):
        (launch,) = decision.launch
        order.append(launch.step)
        status = step_started(decision.status, launch, now)
        busy = decide(ROLLBACK_SPEC, status, now, executing=frozenset({launch.step}))
        assert busy.launch == []
        assert busy.status.phase == WorkflowPhase.ROLLING_BACK
        now += timedelta(seconds=1)
        status = succeed(status, launch.step, now, ROLLBACK)
        decision = decide(ROLLBACK_SPEC, status, now)
    assert order == ["r3", "r2", "r1"]
    assert decision.done
    assert decision.launch == []
    assert decision.status.phase == WorkflowPhase.ROLLED_BACK
    assert decision.status.finished_at == now
    assert decision.status.reason == Reason.STEP_FAILED  # why it rolled back
    assert decision.status.message == "step a failed: boom"


def test_a_rollback_step_is_retried_with_backoff() -> None:
    decision = rolling_back()
    status = start_all(decision.status, decision, at(2))
    status = succeed(status, "r3", at(3), ROLLBACK)
    decision = decide(ROLLBACK_SPEC, status, at(3))
    assert decision.launch == [Launch(ROLLBACK, "r2", attempt=1, resumed=False)]
    status = start_all(decision.status, decision, at(3))
    status = fail(ROLLBACK_SPEC, status, "r2", at(4), ROLLBACK)
    assert status_of(status, "r2", ROLLBACK).phase == StepPhase.PENDING

    early = decide(ROLLBACK_SPEC, status, at(4.5))
    assert early.launch == []
    assert early.wake_at == at(5)
    assert early.status.phase == WorkflowPhase.ROLLING_BACK
    due = decide(ROLLBACK_SPEC, status, at(5))
    assert due.launch == [Launch(ROLLBACK, "r2", attempt=2, resumed=False)]


def test_a_crashed_rollback_step_is_resumed() -> None:
    decision = rolling_back()
    status = start_all(decision.status, decision, at(2))
    resumed = decide(ROLLBACK_SPEC, status, at(3))
    assert resumed.launch == [Launch(ROLLBACK, "r3", attempt=1, resumed=True)]


def test_a_rollback_step_that_fails_finally_fails_the_workflow() -> None:
    decision = rolling_back()
    status = start_all(decision.status, decision, at(2))
    status = fail(ROLLBACK_SPEC, status, "r3", at(3), ROLLBACK, message="denied")
    decision = decide(ROLLBACK_SPEC, status, at(4))
    assert decision.done
    assert decision.launch == []
    final = decision.status
    assert final.phase == WorkflowPhase.FAILED
    assert final.reason == "RollbackFailed"
    assert final.message == "rollback step r3 failed: denied; step a failed: boom"
    assert final.finished_at == at(4)
    assert phases(final, ROLLBACK) == {
        "r3": StepPhase.FAILED,
        "r2": StepPhase.SKIPPED,
        "r1": StepPhase.SKIPPED,
    }


def test_a_middle_rollback_step_failing_skips_only_the_later_ones() -> None:
    decision = rolling_back()
    status = start_all(decision.status, decision, at(2))
    status = succeed(status, "r3", at(3), ROLLBACK)
    for attempt, when in ((1, 3), (2, 10)):
        decision = decide(ROLLBACK_SPEC, status, at(when))
        assert decision.launch == [Launch(ROLLBACK, "r2", attempt=attempt, resumed=False)]
        status = start_all(decision.status, decision, at(when))
        status = fail(ROLLBACK_SPEC, status, "r2", at(when + 1), ROLLBACK)
    final = decide(ROLLBACK_SPEC, status, at(20)).status
    assert final.phase == WorkflowPhase.FAILED
    assert final.reason == Reason.ROLLBACK_FAILED
    assert phases(final, ROLLBACK) == {
        "r3": StepPhase.SUCCEEDED,
        "r2": StepPhase.FAILED,
        "r1": StepPhase.SKIPPED,
    }
    assert "rollback step r2 failed: boom after 2 attempts" in (final.message or "")


@pytest.mark.parametrize(("halted", "suspend"), [(True, False), (False, True), (True, True)])
def test_rollback_ignores_halt_and_suspend(halted: bool, suspend: bool) -> None:
    spec = make_spec([delay("a")], [delay("undo")], suspend=suspend)
    status = with_steps(spec, a=StepPhase.FAILED)
    decision = decide(spec, status, NOW, halted=halted)
    assert decision.status.phase == WorkflowPhase.ROLLING_BACK
    assert launched(decision) == ["undo"]
    status = start_all(decision.status, decision, NOW)
    busy = decide(spec, status, at(1), halted=halted, executing=frozenset({"undo"}))
    assert busy.stop == []
    assert busy.status.phase == WorkflowPhase.ROLLING_BACK
    status = succeed(status, "undo", at(2), ROLLBACK)
    assert decide(spec, status, at(2), halted=halted).status.phase == WorkflowPhase.ROLLED_BACK


def test_a_failure_wins_over_a_halt() -> None:
    spec = make_spec([delay("a"), delay("b")])
    status = with_steps(spec, a=StepPhase.FAILED)
    assert decide(spec, status, NOW, halted=True).status.phase == WorkflowPhase.FAILED


# --- success criteria ---------------------------------------------------------------------


def criteria_spec(rollback: bool = False) -> WorkflowSpec:
    return make_spec(
        [delay("a")],
        [delay("undo")] if rollback else None,
        successCriteria={"servicesHealthy": ["payments", "db"]},
    )


def test_success_criteria_met_succeeds() -> None:
    spec = criteria_spec()
    status = with_steps(spec, a=StepPhase.SUCCEEDED)
    health = {"payments": Health.HEALTHY, "db": Health.HEALTHY}
    decision = decide(spec, status, at(1), health=health)
    assert decision.status.phase == WorkflowPhase.SUCCEEDED
    assert decision.status.reason is None


@pytest.mark.parametrize(
    ("health", "message"),
    [
        (
            {"payments": Health.DEGRADED, "db": Health.HEALTHY},
            "success criteria unmet: payments is DEGRADED (servicesHealthy)",
        ),
        (
            {"payments": Health.WARNING, "db": Health.FAILED},
            "success criteria unmet: payments is WARNING, db is FAILED (servicesHealthy)",
        ),
        (
            {"payments": None, "db": Health.HEALTHY},
            "success criteria unmet: payments is UNKNOWN (servicesHealthy)",
        ),
        (
            {"db": Health.HEALTHY},  # not known at all
            "success criteria unmet: payments is UNKNOWN (servicesHealthy)",
        ),
        (
            None,
            "success criteria unmet: payments is UNKNOWN, db is UNKNOWN (servicesHealthy)",
        ),
    ],
)
def test_success_criteria_unmet_fails_naming_the_service_and_its_health(
    health: dict[str, Health | None] | None, message: str
) -> None:
    spec = criteria_spec()
    status = with_steps(spec, a=StepPhase.SUCCEEDED)
    decision = decide(spec, status, at(1), health=health)
    assert decision.done
    assert decision.status.phase == WorkflowPhase.FAILED
    assert decision.status.reason == "SuccessCriteriaUnmet"
    assert decision.status.message == message
    assert decision.status.finished_at == at(1)


def test_success_criteria_unmet_rolls_back_when_there_is_a_rollback() -> None:
    spec = criteria_spec(rollback=True)
    status = with_steps(spec, a=StepPhase.SUCCEEDED)
    decision = decide(spec, status, at(1), health={"payments": Health.CRITICAL})
    assert decision.status.phase == WorkflowPhase.ROLLING_BACK
    assert decision.status.reason == Reason.SUCCESS_CRITERIA_UNMET
    assert "payments is CRITICAL" in (decision.status.message or "")
    assert launched(decision) == ["undo"]


def test_success_criteria_are_checked_only_when_all_steps_succeeded() -> None:
    spec = make_spec(
        [delay("a"), delay("b", "a")], successCriteria={"servicesHealthy": ["payments"]}
    )
    status = with_steps(spec, a=StepPhase.SUCCEEDED)
    decision = decide(spec, status, at(1), health={"payments": Health.FAILED})
    assert decision.status.phase == WorkflowPhase.RUNNING
    assert launched(decision) == ["b"]


def test_no_success_criteria_needs_no_health() -> None:
    spec = make_spec([delay("a")])
    status = with_steps(spec, a=StepPhase.SUCCEEDED)
    assert decide(spec, status, at(1)).status.phase == WorkflowPhase.SUCCEEDED


# --- deadline -----------------------------------------------------------------------------


def deadline_spec(rollback: bool = False) -> WorkflowSpec:
    return make_spec(
        [delay("a"), delay("b"), delay("c", "a"), delay("d")],
        [delay("undo")] if rollback else None,
        deadlineSeconds=60,
    )


def test_before_the_deadline_it_wakes_up_at_the_deadline() -> None:
    spec = deadline_spec()
    status = with_steps(spec, a=StepPhase.RUNNING, b=StepPhase.RUNNING, d=StepPhase.SUCCEEDED)
    decision = decide(spec, status, at(59.9), executing=frozenset({"a", "b"}))
    assert decision.status.phase == WorkflowPhase.RUNNING
    assert decision.stop == []
    assert decision.wake_at == at(60)


def test_a_passed_deadline_stops_and_fails_the_running_steps() -> None:
    spec = deadline_spec()
    # a executes here; b was Running when the operator stopped.
    status = with_steps(spec, a=StepPhase.RUNNING, b=StepPhase.RUNNING, d=StepPhase.SUCCEEDED)
    decision = decide(spec, status, at(60), executing=frozenset({"a"}))
    assert decision.done
    assert decision.stop == ["a"]
    assert decision.launch == []
    final = decision.status
    assert final.phase == WorkflowPhase.FAILED
    assert final.reason == "DeadlineExceeded"
    assert final.message == "deadline of 60s exceeded"
    assert final.finished_at == at(60)
    assert phases(final) == {
        "a": StepPhase.FAILED,
        "b": StepPhase.FAILED,
        "c": StepPhase.SKIPPED,
        "d": StepPhase.SUCCEEDED,
    }
    assert status_of(final, "a").message == "stopped: the workflow's deadline passed"
    assert status_of(final, "a").finished_at == at(60)


def test_a_passed_deadline_rolls_back_when_there_is_a_rollback() -> None:
    spec = deadline_spec(rollback=True)
    status = with_steps(spec, a=StepPhase.RUNNING, b=StepPhase.RUNNING)
    decision = decide(spec, status, at(61), executing=frozenset({"b", "a"}))
    assert decision.stop == ["a", "b"]
    assert decision.status.phase == WorkflowPhase.ROLLING_BACK
    assert decision.status.reason == Reason.DEADLINE_EXCEEDED
    assert launched(decision) == ["undo"]


def test_the_deadline_counts_from_admission() -> None:
    spec = deadline_spec()
    status = with_steps(spec, now=at(100))
    assert decide(spec, status, at(159)).status.phase == WorkflowPhase.RUNNING
    assert decide(spec, status, at(160)).status.phase == WorkflowPhase.FAILED


def test_the_deadline_wins_over_a_step_failure() -> None:
    spec = deadline_spec()
    status = with_steps(spec, a=StepPhase.FAILED)
    assert decide(spec, status, at(60)).status.reason == Reason.DEADLINE_EXCEEDED


def test_no_deadline_during_rollback() -> None:
    spec = deadline_spec(rollback=True)
    status = with_steps(spec, a=StepPhase.FAILED)
    decision = decide(spec, status, at(1))
    status = start_all(decision.status, decision, at(1))
    later = decide(spec, status, at(10**6), executing=frozenset({"undo"}))
    assert later.status.phase == WorkflowPhase.ROLLING_BACK
    assert later.stop == []


# --- suspend and emergency halt -----------------------------------------------------------


def test_suspend_lets_executing_steps_finish_then_parks() -> None:
    spec = make_spec([delay("a"), delay("b"), delay("c", "a")], suspend=True)
    status = with_steps(spec, a=StepPhase.RUNNING)
    busy = decide(spec, status, NOW, executing=frozenset({"a"}))
    assert busy.launch == []  # b is not started
    assert busy.stop == []  # a is not stopped
    assert busy.status.phase == WorkflowPhase.RUNNING

    status = succeed(busy.status, "a", at(1))
    parked = decide(spec, status, at(1))
    assert parked.done
    assert parked.launch == []
    assert parked.status.phase == WorkflowPhase.SUSPENDED
    assert parked.status.message == "suspended (spec.suspend); resumes when it is set to false"

    resumed_spec = make_spec([delay("a"), delay("b"), delay("c", "a")])
    status = admit(resumed_spec, parked.status, at(2))
    assert launched(decide(resumed_spec, status, at(2))) == ["b", "c"]


def test_halt_stops_executing_steps_then_parks_and_resumes_the_same_attempt() -> None:
    spec = make_spec([delay("a", retries=2), delay("b")])
    status = with_steps(spec, a=(StepPhase.RUNNING, 2))
    stopping = decide(spec, status, NOW, executing=frozenset({"a"}), halted=True)
    assert stopping.stop == ["a"]
    assert stopping.launch == []
    assert stopping.status.phase == WorkflowPhase.RUNNING

    parked = decide(spec, stopping.status, at(1), halted=True)
    assert parked.done
    assert parked.status.phase == WorkflowPhase.HALTED
    assert parked.status.message == "held by the engine's emergency halt; resumes when it clears"
    assert phases(parked.status)["a"] == StepPhase.RUNNING  # resumable

    status = admit(spec, parked.status, at(2))
    assert decide(spec, status, at(2)).launch == [
        Launch(MAIN, "a", attempt=2, resumed=True),
        Launch(MAIN, "b", attempt=1, resumed=False),
    ]


def test_a_halt_with_nothing_executing_parks_at_once() -> None:
    spec = make_spec([delay("a")])
    decision = decide(spec, started(spec), NOW, halted=True)
    assert decision.status.phase == WorkflowPhase.HALTED
    assert decision.launch == []


def test_all_steps_succeeded_wins_over_halt_and_suspend() -> None:
    spec = make_spec([delay("a")], suspend=True)
    status = with_steps(spec, a=StepPhase.SUCCEEDED)
    assert decide(spec, status, NOW, halted=True).status.phase == WorkflowPhase.SUCCEEDED


# --- recording attempts -------------------------------------------------------------------


def test_step_started_records_the_attempt() -> None:
    spec = make_spec([delay("a", retries=1)])
    status = with_steps(spec, a=(StepPhase.PENDING, 1))
    status_of(status, "a").message = "attempt 1 failed: x; retrying in 1s"
    status_of(status, "a").finished_at = at(-1)
    new = step_started(status, Launch(MAIN, "a", 2, resumed=False), NOW)
    a = status_of(new, "a")
    assert (a.phase, a.attempts, a.started_at, a.finished_at, a.message) == (
        StepPhase.RUNNING,
        2,
        NOW,
        None,
        None,
    )
    assert status_of(status, "a").attempts == 1  # input untouched


def test_recording_an_unknown_step_is_an_error() -> None:
    with pytest.raises(KeyError, match="no main step 'nope'"):
        step_started(started(CHAIN), Launch(MAIN, "nope", 1, resumed=False), NOW)
    with pytest.raises(KeyError, match="no rollback step 'a'"):
        step_succeeded(started(CHAIN), ROLLBACK, "a", "ok", NOW)


def test_step_succeeded_records_the_end_and_the_progress() -> None:
    status = with_steps(CHAIN, a=StepPhase.RUNNING)
    new = step_succeeded(status, MAIN, "a", "slept 1s", at(1))
    a = status_of(new, "a")
    assert (a.phase, a.message, a.finished_at) == (StepPhase.SUCCEEDED, "slept 1s", at(1))
    assert new.progress == 33.3


# --- progress -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("step_phases", "percent"),
    [
        ([], 0.0),
        ([StepPhase.PENDING], 0.0),
        ([StepPhase.RUNNING], 0.0),
        ([StepPhase.SUCCEEDED], 100.0),
        ([StepPhase.SUCCEEDED, StepPhase.PENDING, StepPhase.RUNNING], 33.3),
        ([StepPhase.SUCCEEDED, StepPhase.FAILED, StepPhase.RUNNING], 66.7),
        ([StepPhase.SKIPPED, StepPhase.FAILED, StepPhase.SUCCEEDED], 100.0),
        ([StepPhase.SUCCEEDED] + [StepPhase.PENDING] * 7, 12.5),
    ],
)
def test_progress_is_the_percent_of_finished_steps(
    step_phases: list[StepPhase], percent: float
) -> None:
    steps = [StepStatus(name=f"s{i}", phase=p) for i, p in enumerate(step_phases)]
    assert progress(WorkflowStatus(steps=steps)) == percent


def test_progress_ignores_rollback_steps() -> None:
    status = WorkflowStatus(
        steps=[StepStatus(name="a", phase=StepPhase.FAILED), StepStatus(name="b")],
        rollback_steps=[StepStatus(name="r", phase=StepPhase.SUCCEEDED)],
    )
    assert progress(status) == 50.0


def test_terminal_phases() -> None:
    assert {p.value for p in TERMINAL_PHASES} == {"Succeeded", "Failed", "RolledBack", "Cancelled"}
