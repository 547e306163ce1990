"""One workflow's execution as a state machine: status in, next status and moves out.

The runner (controllers/workflows/runner.py) does the I/O; everything it decides comes from here:

- ``admit``: the status a workflow gets when the scheduler lets it start.
- ``decide``: given the status, the time and which steps are executing in this process,
  which steps start (or are resumed), which are stopped, and the workflow's next phase.
- ``step_started`` / ``step_succeeded`` / ``step_failed``: record one attempt.

A step's start is recorded (phase Running, ``attempts`` counted) before its action runs, so a
step found Running but not executing (the operator stopped meanwhile) is run again as the
same attempt; its action is idempotent. A step that has Succeeded never runs again.

Failure: when a step has failed its last attempt, no new step starts; once the steps still
executing have finished, the unstarted ones are Skipped and the rollback runs (last written
first, one at a time, each with its own retries), ending RolledBack, or Failed if a rollback
step fails (the rest are then Skipped) or if there is no rollback. Unmet ``successCriteria``
and a passed ``deadlineSeconds`` (counted from admission; executing steps are stopped) are
failures too. Rollback ignores ``suspend`` and emergency halts: it is the way back to safety.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from orchestration_engine.api.service import Health
from orchestration_engine.api.workflow import (
    Step,
    StepPhase,
    StepStatus,
    WorkflowPhase,
    WorkflowSpec,
    WorkflowStatus,
)

BACKOFF_BASE_SECONDS = 1.0
BACKOFF_MAX_SECONDS = 60.0

RUNNING_PHASES = frozenset({WorkflowPhase.RUNNING, WorkflowPhase.ROLLING_BACK})
TERMINAL_PHASES = frozenset(
    {
        WorkflowPhase.SUCCEEDED,
        WorkflowPhase.FAILED,
        WorkflowPhase.ROLLED_BACK,
        WorkflowPhase.CANCELLED,
    }
)
FINISHED_STEP = frozenset({StepPhase.SUCCEEDED, StepPhase.FAILED, StepPhase.SKIPPED})


class Stage(StrEnum):
    MAIN = "main"
    ROLLBACK = "rollback"


class Reason(StrEnum):
    """Why a workflow failed (``status.reason``, the Succeeded condition's reason)."""

    STEP_FAILED = "StepFailed"
    DEADLINE_EXCEEDED = "DeadlineExceeded"
    SUCCESS_CRITERIA_UNMET = "SuccessCriteriaUnmet"
    ROLLBACK_FAILED = "RollbackFailed"
    DEPENDENCY_FAILED = "DependencyFailed"


@dataclass(frozen=True)
class Launch:
    stage: Stage
    step: str
    attempt: int
    resumed: bool  # the attempt was recorded before but is not executing here


@dataclass
class Decision:
    status: WorkflowStatus
    launch: list[Launch] = field(default_factory=list)
    stop: list[str] = field(default_factory=list)  # executing steps to cancel
    wake_at: datetime | None = None  # look again then, even if nothing happens

    @property
    def done(self) -> bool:
        """The runner has nothing left to do: the workflow ended or was parked."""
        return self.status.phase not in RUNNING_PHASES


def backoff_seconds(attempts: int) -> float:
    """Before attempt ``attempts + 1``: 1 s, 2 s, 4 s … capped at a minute."""
    return min(BACKOFF_BASE_SECONDS * 2.0 ** max(0, attempts - 1), BACKOFF_MAX_SECONDS)


def admit(spec: WorkflowSpec, status: WorkflowStatus, now: datetime) -> WorkflowStatus:
    """The status of a workflow the scheduler lets run. Steps already recorded (a workflow
    parked by suspend or a halt, then admitted again) keep their progress."""
    new = status.model_copy(deep=True)
    new.phase = WorkflowPhase.RUNNING
    new.queue_position = None
    new.started_at = new.started_at or now
    new.finished_at = None
    new.message = None
    known = {s.name: s for s in new.steps}
    new.steps = [known.get(s.name) or StepStatus(name=s.name) for s in spec.steps]
    new.progress = progress(new)
    return new


def progress(status: WorkflowStatus) -> float:
    if not status.steps:
        return 0.0
    finished = sum(1 for s in status.steps if s.phase in FINISHED_STEP)
    return round(100.0 * finished / len(status.steps), 1)


def later(start: datetime, seconds: float) -> datetime | None:
    """``start`` plus ``seconds``, or None where that is beyond what a datetime holds: a
    deadline the schema bounds, but an older CRD may have stored 2^63 - 1, and a status
    edited by hand may say year 9999. Past the end of time means never."""
    try:
        return start + timedelta(seconds=seconds)
    except OverflowError:
        return None


def _ready_at(step: StepStatus) -> datetime | None:
    """When a Pending step that failed before may try again (None: at once)."""
    if step.attempts == 0 or step.finished_at is None:
        return None
    return later(step.finished_at, backoff_seconds(step.attempts))


def decide(
    spec: WorkflowSpec,
    status: WorkflowStatus,
    now: datetime,
    *,
    executing: frozenset[str] = frozenset(),
    halted: bool = False,
    health: Mapping[str, Health | None] | None = None,
) -> Decision:
    """``executing``: names of the steps whose actions run in this process now (main or
    rollback, whichever stage is current); ``halted``: an emergency halt holds this workflow;
    ``health``: the services named in ``successCriteria``."""
    new = status.model_copy(deep=True)
    if new.phase == WorkflowPhase.ROLLING_BACK:
        return _decide_rollback(spec, new, now, executing)
    if new.phase != WorkflowPhase.RUNNING:
        return Decision(new)
    return _decide_main(spec, new, now, executing, halted, health or {})


def _decide_main(
    spec: WorkflowSpec,
    status: WorkflowStatus,
    now: datetime,
    executing: frozenset[str],
    halted: bool,
    health: Mapping[str, Health | None],
) -> Decision:
    steps = {s.name: s for s in status.steps}
    deadline = (
        later(status.started_at, spec.deadline_seconds)
        if spec.deadline_seconds and status.started_at
        else None
    )
    if deadline is not None and now >= deadline:
        for step in status.steps:
            if step.phase == StepPhase.RUNNING:
                _finish(step, StepPhase.FAILED, "stopped: the workflow's deadline passed", now)
        return _fail(
            spec,
            status,
            now,
            Reason.DEADLINE_EXCEEDED,
            f"deadline of {spec.deadline_seconds}s exceeded",
            stop=sorted(executing),
        )

    failed = [s for s in status.steps if s.phase == StepPhase.FAILED]
    if failed:
        # Let what runs finish, start nothing new. A step left Running by a restart is
        # resumed as the same attempt, as anywhere else, not left Running in a failed workflow.
        resumed = [
            Launch(Stage.MAIN, s.name, s.attempts, resumed=True)
            for s in status.steps
            if s.phase == StepPhase.RUNNING and s.name not in executing
        ]
        if executing or resumed:
            return Decision(status, resumed)
        first = failed[0]
        return _fail(
            spec, status, now, Reason.STEP_FAILED, f"step {first.name} failed: {first.message}"
        )

    if all(s.phase == StepPhase.SUCCEEDED for s in status.steps):
        unmet = _unmet_criteria(spec, health)
        if unmet:
            return _fail(spec, status, now, Reason.SUCCESS_CRITERIA_UNMET, unmet)
        status.phase = WorkflowPhase.SUCCEEDED
        status.finished_at = now
        status.message = "all steps succeeded"
        status.reason = None
        status.progress = progress(status)
        return Decision(status)

    if halted or spec.suspend:
        if executing:
            # A halt stops at once (the steps resume later as the same attempt); suspend
            # lets the executing steps finish.
            return Decision(status, stop=sorted(executing) if halted else [])
        status.phase = WorkflowPhase.HALTED if halted else WorkflowPhase.SUSPENDED
        status.message = (
            "held by the engine's emergency halt; resumes when it clears"
            if halted
            else "suspended (spec.suspend); resumes when it is set to false"
        )
        return Decision(status)

    decision = Decision(status)
    for spec_step in spec.steps:
        step = steps[spec_step.name]
        if spec_step.name in executing:
            continue
        if step.phase == StepPhase.RUNNING:
            decision.launch.append(Launch(Stage.MAIN, step.name, step.attempts, resumed=True))
        elif step.phase == StepPhase.PENDING and all(
            steps[d].phase == StepPhase.SUCCEEDED for d in spec_step.depends_on if d in steps
        ):
            ready_at = _ready_at(step)
            if ready_at is not None and ready_at > now:
                decision.wake_at = _earliest(decision.wake_at, ready_at)
                continue
            decision.launch.append(Launch(Stage.MAIN, step.name, step.attempts + 1, resumed=False))
    if deadline is not None:
        decision.wake_at = _earliest(decision.wake_at, deadline)
    status.progress = progress(status)
    return decision


def _decide_rollback(
    spec: WorkflowSpec, status: WorkflowStatus, now: datetime, executing: frozenset[str]
) -> Decision:
    known = {s.name: s for s in status.rollback_steps}
    status.rollback_steps = [
        known.get(s.name) or StepStatus(name=s.name) for s in reversed(spec.rollback)
    ]
    for step in status.rollback_steps:
        if step.phase == StepPhase.SUCCEEDED:
            continue
        if step.phase in (StepPhase.FAILED, StepPhase.SKIPPED):
            for later in status.rollback_steps:
                if later.phase == StepPhase.PENDING:
                    later.phase = StepPhase.SKIPPED
            status.phase = WorkflowPhase.FAILED
            status.finished_at = now
            status.message = f"rollback step {step.name} failed: {step.message}; {status.message}"
            status.reason = Reason.ROLLBACK_FAILED
            return Decision(status)
        if step.name in executing:
            return Decision(status)
        if step.phase == StepPhase.RUNNING:
            return Decision(status, [Launch(Stage.ROLLBACK, step.name, step.attempts, True)])
        ready_at = _ready_at(step)
        if ready_at is not None and ready_at > now:
            return Decision(status, wake_at=ready_at)
        return Decision(status, [Launch(Stage.ROLLBACK, step.name, step.attempts + 1, False)])
    status.phase = WorkflowPhase.ROLLED_BACK
    status.finished_at = now
    return Decision(status)


def _fail(
    spec: WorkflowSpec,
    status: WorkflowStatus,
    now: datetime,
    reason: Reason,
    message: str,
    *,
    stop: list[str] | None = None,
) -> Decision:
    for step in status.steps:
        if step.phase == StepPhase.PENDING:
            step.phase = StepPhase.SKIPPED
    status.reason = reason
    status.message = message
    status.progress = progress(status)
    if spec.rollback:
        status.phase = WorkflowPhase.ROLLING_BACK
        decision = _decide_rollback(spec, status, now, frozenset())
        decision.stop = stop or []
        return decision
    status.phase = WorkflowPhase.FAILED
    status.finished_at = now
    return Decision(status, stop=stop or [])


def _unmet_criteria(spec: WorkflowSpec, health: Mapping[str, Health | None]) -> str | None:
    if spec.success_criteria is None:
        return None
    unhealthy = [
        f"{name} is {(health.get(name) or Health.UNKNOWN).value}"
        for name in spec.success_criteria.services_healthy
        if health.get(name) is not Health.HEALTHY
    ]
    if not unhealthy:
        return None
    return "success criteria unmet: " + ", ".join(unhealthy) + " (servicesHealthy)"


def _earliest(a: datetime | None, b: datetime) -> datetime:
    return b if a is None or b < a else a


def _finish(step: StepStatus, phase: StepPhase, message: str, now: datetime) -> None:
    step.phase = phase
    step.message = message
    step.finished_at = now


# --- recording one attempt ------------------------------------------------------------------


def _steps(status: WorkflowStatus, stage: Stage) -> list[StepStatus]:
    return status.steps if stage is Stage.MAIN else status.rollback_steps


def _find(status: WorkflowStatus, stage: Stage, name: str) -> StepStatus:
    for step in _steps(status, stage):
        if step.name == name:
            return step
    raise KeyError(f"no {stage.value} step {name!r} in status")


def step_started(status: WorkflowStatus, launch: Launch, now: datetime) -> WorkflowStatus:
    new = status.model_copy(deep=True)
    step = _find(new, launch.stage, launch.step)
    if not launch.resumed:
        step.attempts = launch.attempt
        step.started_at = now
        step.finished_at = None
        step.phase = StepPhase.RUNNING
        step.message = None
    return new


def step_succeeded(
    status: WorkflowStatus, stage: Stage, name: str, message: str, now: datetime
) -> WorkflowStatus:
    new = status.model_copy(deep=True)
    _finish(_find(new, stage, name), StepPhase.SUCCEEDED, message, now)
    new.progress = progress(new)
    return new


def step_failed(
    status: WorkflowStatus,
    spec_step: Step,
    stage: Stage,
    message: str,
    now: datetime,
) -> WorkflowStatus:
    """A failed attempt: Pending again (retried after a backoff) while retries are left."""
    new = status.model_copy(deep=True)
    step = _find(new, stage, spec_step.name)
    if step.attempts <= spec_step.retries:
        wait = backoff_seconds(step.attempts)
        _finish(
            step,
            StepPhase.PENDING,
            f"attempt {step.attempts} failed: {message}; retrying in {wait:g}s",
            now,
        )
    else:
        attempts = f" after {step.attempts} attempts" if step.attempts > 1 else ""
        _finish(step, StepPhase.FAILED, f"{message}{attempts}", now)
    new.progress = progress(new)
    return new
