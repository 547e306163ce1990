"""How the runner ends a step's attempt: every way it ends without succeeding (failure,
timeout, deadline, halt, the workflow deleted) runs the action's ending before the runner
goes on, and the operator's own shutdown (a cancel from outside: kopf cancels every task it
finds at exit) leaves the work running. In memory: the steps and their endings are
functions that record what happened; the controller-level tests use its real wiring."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from prometheus_client import REGISTRY

from orchestration_engine.actions.base import StepContext, StepFailed
from orchestration_engine.api.workflow import Step, WorkflowPhase
from orchestration_engine.controllers.workflows.controller import WorkflowController
from orchestration_engine.controllers.workflows.record import WorkflowRecord
from orchestration_engine.controllers.workflows.runner import WorkflowGone, WorkflowRunner
from orchestration_engine.core import workflow_run
from orchestration_engine.core.scheduler import Limits
from orchestration_engine.kube import transient
from orchestration_engine.kube.errors import NotFound


class Store:
    """Status writes that succeed (or, once ``gone``, meet the API server's 404)."""

    def __init__(self) -> None:
        self.rv = 0
        self.gone = False

    async def write_now(
        self,
        plural: str,
        namespace: str,
        name: str,
        status: dict[str, Any],
        *,
        resource_version: str | None = None,
    ) -> dict[str, Any]:
        if self.gone:
            raise NotFound(404, f"{name} not found")
        self.rv += 1
        return {"metadata": {"resourceVersion": str(self.rv)}, "status": status}


def job(name: str, **step: Any) -> dict[str, Any]:
    return {"name": name, "action": "job", "params": {"template": {"template": {}}}, **step}


def undo(name: str = "undo") -> dict[str, Any]:
    return {"name": name, "action": "delay", "params": {"seconds": 0}}


class Run:
    """One runner over a workflow of these steps, with recording steps and endings."""

    def __init__(
        self,
        steps: list[dict[str, Any]],
        run_step: Callable[[StepContext, Step], Awaitable[str]],
        end_step: Callable[[StepContext, Step], Awaitable[str | None]] | None = None,
        **spec: Any,
    ) -> None:
        self.log: list[str] = []
        self.halt = False
        self.store = Store()
        record = WorkflowRecord.from_body(
            {
                "metadata": {"namespace": "ns", "name": "wf", "uid": "uid-wf", "generation": 1},
                "spec": {"steps": steps, **spec},
            }
        )
        assert record.spec is not None, record.problems
        status = workflow_run.admit(record.spec, record.status, datetime.now(UTC))

        async def ending(context: StepContext, step: Step) -> str | None:
            self.log.append(f"end {step.name}/{context.attempt}")
            return None if end_step is None else await end_step(context, step)

        self.runner = WorkflowRunner(
            record,
            status,
            plural="orchestrationworkflows",
            store=self.store,
            run_step=run_step,
            halted=lambda _record: self.halt,
            health=lambda _ns, _name: None,
            on_phase=lambda *_: None,
            end_step=ending,
        )
        self.task: asyncio.Task[Any] = asyncio.create_task(self.runner.run(written=None))

    async def until(self, predicate: Callable[[], bool], timeout: float = 5.0) -> None:
        async with asyncio.timeout(timeout):
            while not predicate():
                await asyncio.sleep(0.01)


def step_phase(run: Run, name: str) -> str:
    steps = {s.name: s for s in run.runner.status.steps + run.runner.status.rollback_steps}
    return steps[name].phase.value


def cleanups(result: str) -> float:
    return (
        REGISTRY.get_sample_value("eoe_step_cleanups_total", {"action": "job", "result": result})
        or 0.0
    )


async def forever(context: StepContext, step: Step) -> str:
    await asyncio.Event().wait()
    raise AssertionError("unreachable")


async def test_a_timed_out_attempt_is_ended_before_the_rollback_starts() -> None:
    log: list[str] = []

    async def run_step(context: StepContext, step: Step) -> str:
        log.append(f"run {step.name}")
        if step.name == "migrate":
            await asyncio.Event().wait()
        return "ok"

    async def end_step(context: StepContext, step: Step) -> str:
        # Takes a while: the rollback must wait for it, not run beside it.
        for _ in range(50):
            await asyncio.sleep(0)
        log.append(f"ended {step.name}")
        return "job deleted"

    run = Run([job("migrate", timeoutSeconds=1)], run_step, end_step, rollback=[undo()])
    final = await asyncio.wait_for(run.task, 10)
    assert final.phase is WorkflowPhase.ROLLED_BACK
    assert log == ["run migrate", "ended migrate", "run undo"]
    assert "timed out after 1s" in (final.steps[0].message or "")


async def test_a_failed_attempt_is_ended_and_a_succeeded_one_is_not() -> None:
    async def run_step(context: StepContext, step: Step) -> str:
        if step.name == "bad":
            raise StepFailed("job bad failed: BackoffLimitExceeded")
        return "ok"

    run = Run([job("good"), job("bad", dependsOn=["good"], retries=1)], run_step)
    final = await asyncio.wait_for(run.task, 10)
    assert final.phase is WorkflowPhase.FAILED
    # Each failed attempt is ended, before the next one starts; the success is not.
    assert run.log == ["end bad/1", "end bad/2"]


async def test_a_halt_ends_the_attempt_and_parks_the_workflow() -> None:
    started = asyncio.Event()

    async def run_step(context: StepContext, step: Step) -> str:
        started.set()
        return await forever(context, step)

    run = Run([job("migrate")], run_step)
    await started.wait()
    run.halt = True
    run.runner.poke()
    final = await asyncio.wait_for(run.task, 5)
    assert final.phase is WorkflowPhase.HALTED
    assert run.log == ["end migrate/1"]
    # Still the same attempt, to be resumed when the halt clears.
    assert final.steps[0].attempts == 1
    assert final.steps[0].phase.value == "Running"


async def test_a_passed_deadline_ends_the_attempt() -> None:
    run = Run([job("migrate")], forever, deadlineSeconds=1)
    final = await asyncio.wait_for(run.task, 10)
    assert final.reason == "DeadlineExceeded"
    assert run.log == ["end migrate/1"]


async def test_deleting_the_workflow_ends_the_attempt() -> None:
    started = asyncio.Event()

    async def run_step(context: StepContext, step: Step) -> str:
        started.set()
        return await forever(context, step)

    run = Run([job("migrate")], run_step)
    await started.wait()
    run.runner.workflow_deleted()  # what the controller does when the workflow is deleted
    run.task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await run.task
    assert run.log == ["end migrate/1"]


async def test_a_status_write_meeting_404_ends_the_running_attempts() -> None:
    release = asyncio.Event()

    async def run_step(context: StepContext, step: Step) -> str:
        if step.name == "quick":
            await release.wait()
            return "ok"
        return await forever(context, step)

    run = Run([job("quick"), job("slow")], run_step)
    await run.until(lambda: step_phase(run, "slow") == "Running")
    run.store.gone = True  # the workflow is deleted: the next write (quick's end) meets 404
    release.set()
    with pytest.raises(WorkflowGone):
        await asyncio.wait_for(run.task, 5)
    assert run.log == ["end slow/1"]


async def test_the_operators_shutdown_leaves_the_work_running() -> None:
    started = asyncio.Event()

    async def run_step(context: StepContext, step: Step) -> str:
        started.set()
        return await forever(context, step)

    run = Run([job("migrate")], run_step)
    await started.wait()
    # kopf, exiting, cancels each task it did not start: the step's, then the runner's.
    [step_task] = run.runner._tasks.values()
    step_task.cancel()
    run.task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await run.task
    assert run.log == []


async def test_an_ending_that_fails_is_counted_and_the_runner_goes_on() -> None:
    async def end_step(context: StepContext, step: Step) -> str:
        raise OSError("connection reset")

    async def run_step(context: StepContext, step: Step) -> str:
        if step.name == "migrate":
            raise StepFailed("boom")
        return "ok"

    before = cleanups("failed")
    run = Run([job("migrate")], run_step, end_step, rollback=[undo()])
    final = await asyncio.wait_for(run.task, 10)
    assert final.phase is WorkflowPhase.ROLLED_BACK
    assert cleanups("failed") == before + 1


async def test_an_ending_finishes_even_if_the_runner_is_cancelled_again() -> None:
    release = asyncio.Event()
    finished = asyncio.Event()
    started = asyncio.Event()

    async def run_step(context: StepContext, step: Step) -> str:
        started.set()
        return await forever(context, step)

    async def end_step(context: StepContext, step: Step) -> str:
        await release.wait()
        finished.set()
        return "job deleted"

    run = Run([job("migrate")], run_step, end_step)
    await started.wait()
    run.runner.workflow_deleted()
    run.task.cancel()
    await run.until(lambda: run.log == ["end migrate/1"])
    run.task.cancel()  # again, while the ending waits
    with pytest.raises(asyncio.CancelledError):
        await run.task
    release.set()
    await asyncio.wait_for(finished.wait(), 5)


async def test_an_attempt_runs_within_its_timeout_and_its_ending_within_its_own() -> None:
    seen: dict[str, float | None] = {}

    async def run_step(context: StepContext, step: Step) -> str:
        seen["attempt"] = transient.time_left()
        raise StepFailed("boom")

    async def end_step(context: StepContext, step: Step) -> str:
        seen["ending"] = transient.time_left()
        return "done"

    run = Run([job("migrate", timeoutSeconds=7)], run_step, end_step)
    await asyncio.wait_for(run.task, 10)
    assert seen["attempt"] is not None
    assert 6.0 < seen["attempt"] <= 7.0
    # The ending is not bounded by the attempt's (spent) time but by its own.
    assert seen["ending"] is not None
    assert 7.0 < seen["ending"] <= 30.0


# --- through the controller ------------------------------------------------------------------


class Statuses:
    """The controller's status sink, storing nothing: the runner's writes succeed."""

    def submit(self, plural: str, namespace: str, name: str, status: dict[str, Any]) -> None:
        pass

    def forget(self, plural: str, namespace: str, name: str) -> None:
        pass

    async def write_now(self, *_: Any, **__: Any) -> dict[str, Any]:
        return {"metadata": {"resourceVersion": "1"}}


class Events:
    def record(self, *_: Any) -> None:
        pass


def controller_with(ended: list[str], started: asyncio.Event) -> WorkflowController:
    async def run_step(context: StepContext, step: Step) -> str:
        started.set()
        return await forever(context, step)

    async def end_step(context: StepContext, step: Step) -> str:
        ended.append(step.name)
        return "job deleted"

    async def cleanup(_namespace: str, _uid: str) -> int:
        return 0

    return WorkflowController(
        statuses=Statuses(),
        events=Events(),
        run_step=run_step,
        limits=lambda: Limits(10, None),
        health=lambda _ns, _name: None,
        cleanup=cleanup,
        end_step=end_step,
    )


WORKFLOW = {
    "metadata": {
        "namespace": "ns",
        "name": "wf",
        "uid": "uid-wf",
        "generation": 1,
        "resourceVersion": "1",
        "creationTimestamp": "2026-12-07T12:00:00Z",
    },
    "spec": {"steps": [job("migrate")]},
}


async def test_the_deleted_event_ends_the_running_attempt() -> None:
    ended: list[str] = []
    started = asyncio.Event()
    controller = controller_with(ended, started)
    await controller.start()
    try:
        controller.observe("ADDED", WORKFLOW)
        await asyncio.wait_for(started.wait(), 5)
        controller.observe("DELETED", WORKFLOW)
        async with asyncio.timeout(5):
            while ended != ["migrate"]:
                await asyncio.sleep(0.01)
    finally:
        await controller.stop()
    assert ended == ["migrate"]


async def test_stopping_the_controller_leaves_the_attempt_running() -> None:
    ended: list[str] = []
    started = asyncio.Event()
    controller = controller_with(ended, started)
    await controller.start()
    controller.observe("ADDED", WORKFLOW)
    await asyncio.wait_for(started.wait(), 5)
    await controller.stop()
    for _ in range(20):
        await asyncio.sleep(0)
    assert ended == []
