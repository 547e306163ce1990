"""core.workflow_run, property-based: random DAGs driven to their end by a simulated runner.

The runner is simulated exactly as the contract of ``decide`` says: it records each launch
with ``step_started``, runs it (here: finishes one executing step per round, succeeding or
failing as hypothesis draws), cancels what ``stop`` names, re-admits a Halted workflow, and
after a simulated crash forgets what was executing (the status keeps those steps Running).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from orchestration_engine.api.workflow import (
    StepPhase,
    StepStatus,
    WorkflowPhase,
    WorkflowSpec,
    WorkflowStatus,
)
from orchestration_engine.core.workflow_run import (
    TERMINAL_PHASES,
    Launch,
    Reason,
    Stage,
    admit,
    decide,
    step_failed,
    step_started,
    step_succeeded,
)

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
MAX_ROUNDS = 400


@st.composite
def dags(draw: st.DrawFn, max_steps: int = 8) -> list[dict[str, Any]]:
    """Steps listed in a random order; each depends only on steps earlier in a random
    topological order, so the graph is acyclic."""
    count = draw(st.integers(1, max_steps))
    topological = draw(st.permutations([f"s{i}" for i in range(count)]))
    steps = []
    for index, name in enumerate(topological):
        deps = draw(st.lists(st.sampled_from(topological[:index]), unique=True)) if index else []
        steps.append(
            {
                "name": name,
                "action": "delay",
                "params": {"seconds": 1},
                "dependsOn": deps,
                "retries": draw(st.integers(0, 2)),
            }
        )
    return draw(st.permutations(steps))


def rollback_steps(count: int, retries: list[int]) -> list[dict[str, Any]]:
    return [
        {"name": f"r{i}", "action": "delay", "params": {"seconds": 1}, "retries": retries[i]}
        for i in range(count)
    ]


@dataclass
class Trace:
    status: WorkflowStatus
    starts: list[tuple[Stage, str, int]] = field(default_factory=list)  # (stage, step, attempt)
    rounds: int = 0


def simulate(spec: WorkflowSpec, data: st.DataObject, *, chaos: bool) -> Trace:
    """Run the workflow to its end. With ``chaos``: steps fail, the operator crashes, the
    engine halts."""
    draw = data.draw
    now = NOW
    status = admit(spec, WorkflowStatus(phase=WorkflowPhase.QUEUED, queue_position=1), now)
    trace = Trace(status)
    executing: dict[str, Stage] = {}
    halted = False
    crashes, halts = (3, 2) if chaos else (0, 0)  # at most, so the workflow can end
    spec_steps = {
        Stage.MAIN: {s.name: s for s in spec.steps},
        Stage.ROLLBACK: {s.name: s for s in spec.rollback},
    }
    deps = {s.name: s.depends_on for s in spec.steps}

    for trace.rounds in range(1, MAX_ROUNDS + 1):
        stage = Stage.ROLLBACK if status.phase == WorkflowPhase.ROLLING_BACK else Stage.MAIN
        current = frozenset(n for n, s in executing.items() if s is stage)
        decision = decide(spec, status, now, executing=current, halted=halted)
        status = decision.status

        assert set(decision.stop) <= current
        for name in decision.stop:
            del executing[name]  # the runner cancels it

        if decision.done:
            if status.phase in TERMINAL_PHASES:
                break
            assert status.phase == WorkflowPhase.HALTED, status.phase
            assert not executing
            halted = False
            status = admit(spec, status, now)
            continue

        stage = Stage.ROLLBACK if status.phase == WorkflowPhase.ROLLING_BACK else Stage.MAIN
        if stage is Stage.ROLLBACK:
            assert Stage.MAIN not in executing.values(), "rollback while main steps execute"
        names = [launch.step for launch in decision.launch]
        assert len(names) == len(set(names))
        if decision.launch and stage is Stage.ROLLBACK:
            assert len(decision.launch) == 1, "rollback: one at a time"
            assert not executing, "rollback: one at a time"
        steps = status.steps if stage is Stage.MAIN else status.rollback_steps
        by_name = {s.name: s for s in steps}
        for launch in decision.launch:
            check_launch(launch, stage, by_name, executing, deps)
            status = step_started(status, launch, now)
            executing[launch.step] = launch.stage
            if not launch.resumed:
                trace.starts.append((launch.stage, launch.step, launch.attempt))

        if crashes and draw(st.integers(0, 9)) == 9:
            crashes -= 1
            executing.clear()  # the operator restarts; the status keeps them Running
        elif halts and not halted and draw(st.integers(0, 14)) == 14:
            halts -= 1
            halted = True
        elif executing:
            name = draw(st.sampled_from(sorted(executing)))
            finished_stage = executing.pop(name)
            ok = draw(st.booleans()) if chaos else True
            if ok:
                status = step_succeeded(status, finished_stage, name, "done", now)
            else:
                spec_step = spec_steps[finished_stage][name]
                status = step_failed(status, spec_step, finished_stage, "boom", now)
        elif not decision.launch and not decision.stop:
            # Nothing runs, nothing started: only a backoff (or the deadline) can be due.
            assert decision.wake_at is not None, f"stuck: {status}"
            assert decision.wake_at > now
            now = decision.wake_at
            continue
        now += timedelta(seconds=1)
    else:
        raise AssertionError(f"not done after {MAX_ROUNDS} rounds: {status}")
    trace.status = status
    return trace


def check_launch(
    launch: Launch,
    stage: Stage,
    by_name: dict[str, StepStatus],
    executing: dict[str, Stage],
    deps: dict[str, list[str]],
) -> None:
    assert launch.stage is stage
    assert launch.step not in executing
    step = by_name[launch.step]
    assert step.phase in (StepPhase.PENDING, StepPhase.RUNNING)
    if launch.resumed:
        assert step.phase == StepPhase.RUNNING
        assert launch.attempt == step.attempts
    else:
        assert step.phase == StepPhase.PENDING
        assert launch.attempt == step.attempts + 1
    if stage is Stage.MAIN:
        unmet = [d for d in deps[launch.step] if by_name[d].phase != StepPhase.SUCCEEDED]
        assert not unmet, f"{launch.step} launched before {unmet} succeeded"


@settings(max_examples=150, deadline=None)
@given(steps=dags(), data=st.data())
def test_a_dag_where_every_step_succeeds_runs_each_step_once_in_order(
    steps: list[dict[str, Any]], data: st.DataObject
) -> None:
    spec = WorkflowSpec.model_validate({"steps": steps})
    trace = simulate(spec, data, chaos=False)

    assert trace.status.phase == WorkflowPhase.SUCCEEDED
    assert trace.status.progress == 100.0
    started = [name for _, name, _ in trace.starts]
    assert sorted(started) == sorted(s.name for s in spec.steps)  # each exactly once
    assert all(attempt == 1 for _, _, attempt in trace.starts)
    position = {name: i for i, name in enumerate(started)}
    for step in spec.steps:
        assert all(position[d] < position[step.name] for d in step.depends_on)
    assert all(s.phase == StepPhase.SUCCEEDED and s.attempts == 1 for s in trace.status.steps)


@settings(max_examples=200, deadline=None)
@given(
    steps=dags(max_steps=6),
    rollback_retries=st.lists(st.integers(0, 2), max_size=3),
    deadline=st.none() | st.integers(1, 40),
    data=st.data(),
)
def test_with_failures_crashes_and_halts_the_workflow_ends_and_keeps_its_rules(
    steps: list[dict[str, Any]],
    rollback_retries: list[int],
    deadline: int | None,
    data: st.DataObject,
) -> None:
    spec = WorkflowSpec.model_validate(
        {
            "steps": steps,
            "rollback": rollback_steps(len(rollback_retries), rollback_retries),
            "deadlineSeconds": deadline,
        }
    )
    trace = simulate(spec, data, chaos=True)
    status = trace.status

    assert status.phase in TERMINAL_PHASES
    assert status.phase != WorkflowPhase.CANCELLED
    assert status.finished_at is not None

    # Attempts never exceed retries + 1, and each attempt number is started once, in order.
    retries = {(Stage.MAIN, s.name): s.retries for s in spec.steps}
    retries.update({(Stage.ROLLBACK, s.name): s.retries for s in spec.rollback})
    for (stage, name), allowed in retries.items():
        attempts = [a for st_, n, a in trace.starts if (st_, n) == (stage, name)]
        assert attempts == list(range(1, len(attempts) + 1))
        assert len(attempts) <= allowed + 1
    for stage, recorded in ((Stage.MAIN, status.steps), (Stage.ROLLBACK, status.rollback_steps)):
        for step in recorded:
            assert step.attempts <= retries[(stage, step.name)] + 1

    # Nothing is left Pending or Running in a finished workflow.
    main = {s.name: s.phase for s in status.steps}
    back = {s.name: s.phase for s in status.rollback_steps}
    assert set(main.values()) <= {StepPhase.SUCCEEDED, StepPhase.FAILED, StepPhase.SKIPPED}
    assert set(back.values()) <= {StepPhase.SUCCEEDED, StepPhase.FAILED, StepPhase.SKIPPED}
    assert status.progress == 100.0

    if status.phase == WorkflowPhase.SUCCEEDED:
        assert set(main.values()) == {StepPhase.SUCCEEDED}
        assert status.reason is None
        assert not status.rollback_steps
    else:
        assert status.reason is not None
        if spec.rollback:
            # The rollback ran: last written first, each only after the one before succeeded.
            assert [s.name for s in status.rollback_steps] == [
                s.name for s in reversed(spec.rollback)
            ]
            order = [n for st_, n, _ in trace.starts if st_ is Stage.ROLLBACK]
            assert order == sorted(order, key=lambda n: -int(n[1:]))
            phases_in_order = list(back.values())
            if status.phase == WorkflowPhase.ROLLED_BACK:
                assert set(phases_in_order) == {StepPhase.SUCCEEDED}
            else:
                assert status.phase == WorkflowPhase.FAILED
                assert status.reason == Reason.ROLLBACK_FAILED
                first_bad = next(i for i, p in enumerate(phases_in_order) if p != "Succeeded")
                assert phases_in_order[first_bad] == StepPhase.FAILED
                assert set(phases_in_order[first_bad + 1 :]) <= {StepPhase.SKIPPED}
        else:
            assert status.phase == WorkflowPhase.FAILED
            assert status.reason in (Reason.STEP_FAILED, Reason.DEADLINE_EXCEEDED)
            assert not status.rollback_steps
        if status.reason == Reason.STEP_FAILED:
            assert StepPhase.FAILED in main.values()
