"""Runs one admitted workflow: asks core/workflow_run.py what to do, does it, records it.

Every change is written to ``status`` before the runner goes on, and a step's start before
its action runs: that write is what makes a crash safe (see core/workflow_run.py). Steps of
independent branches run as concurrent tasks; a halt, a deadline or deletion cancels them.

An attempt that ends without succeeding (it failed or timed out, or a halt, the deadline or
the workflow's deletion stopped it) stops what it started (``end_step``: a ``job`` step's
Job is deleted) before the runner goes on, so a rollback never runs beside it. A step task
cancelled by anything else leaves its work running: that is the operator shutting down
(kopf cancels every task it finds at exit, the controller its runners), and the next leader
adopts the work as the same attempt, as after a crash. Within an attempt, transient API
faults are retried until the step's timeout (kube/transient.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, Protocol

from orchestration_engine.actions.base import StepContext, StepFailed
from orchestration_engine.api.service import Health
from orchestration_engine.api.workflow import (
    Step,
    StepAction,
    WorkflowPhase,
    WorkflowSpec,
    WorkflowStatus,
)
from orchestration_engine.controllers.workflows.record import (
    WorkflowRecord,
    as_conditions,
    status_of,
    status_patch,
)
from orchestration_engine.core import workflow_run
from orchestration_engine.core.relist import version_number
from orchestration_engine.core.status_fence import AfterConflict, after_conflict
from orchestration_engine.core.workflow_conditions import workflow_conditions
from orchestration_engine.core.workflow_run import Launch, Stage
from orchestration_engine.kube import transient
from orchestration_engine.kube.errors import Conflict, KubeError, NotFound
from orchestration_engine.plumbing import metrics

log = logging.getLogger(__name__)

# A step with no timeoutSeconds still ends: ten minutes, or a delay's length and a minute.
DEFAULT_STEP_TIMEOUT_SECONDS = 600.0
PERSIST_RETRY_SECONDS = (0.2, 0.5, 1.0, 2.0, 5.0)
# How long stopping what an ended attempt started may take (transient faults retried).
END_STEP_SECONDS = 30.0


class StatusStore(Protocol):
    async def write_now(
        self,
        plural: str,
        namespace: str,
        name: str,
        status: dict[str, Any],
        *,
        resource_version: str | None = None,
    ) -> dict[str, Any]: ...


# Reads the workflow again (None: it does not exist), after a conditional write met a 409.
WorkflowReader = Callable[[str, str], Awaitable[dict[str, Any] | None]]
StepRunner = Callable[[StepContext, Step], Awaitable[str]]
# Stops what an attempt that ended without succeeding started; what it did (None: nothing).
StepEnder = Callable[[StepContext, Step], Awaitable[str | None]]
PhaseListener = Callable[[WorkflowRecord, WorkflowPhase, WorkflowPhase], None]


class WorkflowGone(Exception):
    """The workflow was deleted while it ran (or replaced by another of the same name)."""


class WorkflowMoved(Exception):
    """Another writer changed the workflow's status: the runner stops, and the controller
    decides again from ``body``, the object as read after the conflict."""

    def __init__(self, body: dict[str, Any]) -> None:
        super().__init__("status changed by another writer")
        self.body = body


# Endings under way: the loop keeps only weak references to tasks.
_ENDINGS: set[asyncio.Task[None]] = set()


def step_timeout(step: Step) -> float:
    if step.timeout_seconds is not None:
        return float(step.timeout_seconds)
    seconds = step.params.seconds
    if step.action.value == "delay" and seconds is not None:
        return float(seconds) + 60.0
    return DEFAULT_STEP_TIMEOUT_SECONDS


class WorkflowRunner:
    def __init__(
        self,
        record: WorkflowRecord,
        status: WorkflowStatus,
        *,
        plural: str,
        store: StatusStore,
        run_step: StepRunner,
        halted: Callable[[WorkflowRecord], bool],
        health: Callable[[str, str], Health | None],
        on_phase: PhaseListener,
        read: WorkflowReader | None = None,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        end_step: StepEnder | None = None,
    ) -> None:
        self.record = record
        self._end_step = end_step
        # Step tasks this runner cancelled to end them (halt, deadline, deletion).
        self._to_end: set[asyncio.Task[str]] = set()
        self._deleted = False
        self.status = status
        self._plural = plural
        self._store = store
        self._run_step = run_step
        self._halted = halted
        self._health = health
        self._on_phase = on_phase
        self._now = now
        self._tasks: dict[str, asyncio.Task[str]] = {}
        self._stage_of: dict[str, Stage] = {}
        self._poke = asyncio.Event()
        self._written: dict[str, Any] | None = None
        self._read = read
        # What this runner takes status to hold, and at which resourceVersion: its writes are
        # conditional on that version (a stale writer gets a 409 instead of winning).
        self._believed = status_patch(record.status)
        self._version = record.resource_version

    def executing_actions(self) -> list[StepAction]:
        """The actions of the steps executing now (for the engine's phase)."""
        found: list[StepAction] = []
        for name, stage in self._stage_of.items():
            steps = self.spec.steps if stage is Stage.MAIN else self.spec.rollback
            found.extend(s.action for s in steps if s.name == name)
        return found

    def workflow_deleted(self) -> None:
        """The workflow is gone: when the runner is cancelled now, its steps' attempts end
        (and stop what they started) rather than being left for a resume."""
        self._deleted = True

    def poke(self) -> None:
        """Something outside changed (spec, halt, a service's health): decide again."""
        self._poke.set()

    @property
    def spec(self) -> WorkflowSpec:
        assert self.record.spec is not None
        return self.record.spec

    async def run(self, *, written: WorkflowStatus | None) -> WorkflowStatus:
        """Until the workflow ends or is parked; returns its last status. ``written``: what
        status already holds (None if the admission still has to be written)."""
        if written is not None:
            self._written = status_patch(written)
            self._believed = self._written
        previous_phase = written.phase if written is not None else WorkflowPhase.QUEUED
        try:
            while True:
                decision = workflow_run.decide(
                    self.spec,
                    self.status,
                    self._now(),
                    executing=frozenset(self._tasks),
                    halted=self._halted(self.record),
                    health=self._criteria_health(),
                )
                self.status = decision.status
                await self._stop(decision.stop, end=True)
                now = self._now()
                for launch in decision.launch:
                    self.status = workflow_run.step_started(self.status, launch, now)
                await self._persist()
                if self.status.phase != previous_phase:
                    self._on_phase(self.record, previous_phase, self.status.phase)
                    previous_phase = self.status.phase
                for launch in decision.launch:
                    self._start(launch)
                if decision.done and not self._tasks:
                    return self.status
                if not decision.stop:  # after a stop, decide again at once
                    await self._wait(decision.wake_at)
                self._collect()
        except WorkflowGone:
            self._deleted = True
            raise
        finally:
            # Anything else (a shutdown, an unexpected error: resumed on the next event as
            # the same attempts) leaves the work running, to be adopted.
            await self._stop(list(self._tasks), end=self._deleted)

    # --- steps ----------------------------------------------------------------------------

    def _spec_step(self, stage: Stage, name: str) -> Step:
        steps = self.spec.steps if stage is Stage.MAIN else self.spec.rollback
        return next(s for s in steps if s.name == name)

    def _start(self, launch: Launch) -> None:
        step = self._spec_step(launch.stage, launch.step)
        status = self.status.steps if launch.stage is Stage.MAIN else self.status.rollback_steps
        started = next(s for s in status if s.name == launch.step).started_at or self._now()
        context = StepContext(
            namespace=self.record.key[0],
            workflow=self.record.key[1],
            workflow_uid=self.record.uid,
            step=launch.step,
            attempt=launch.attempt,
            started_at=started,
            rollback=launch.stage is Stage.ROLLBACK,
        )
        task = asyncio.create_task(
            self._attempt(context, step), name=f"step-{self.record.key[1]}-{launch.step}"
        )
        task.add_done_callback(lambda _task: self._poke.set())
        self._tasks[launch.step] = task
        self._stage_of[launch.step] = launch.stage

    async def _attempt(self, context: StepContext, step: Step) -> str:
        timeout = step_timeout(step)
        window = asyncio.timeout(timeout)
        try:
            with transient.within(timeout):
                async with window:
                    return await self._run_step(context, step)
        except asyncio.CancelledError:
            if asyncio.current_task() in self._to_end:
                await self._end(context, step)
            raise
        except Exception as error:
            await self._end(context, step)
            if isinstance(error, TimeoutError) and window.expired():
                raise StepFailed(f"timed out after {timeout:g}s") from None
            raise

    async def _end(self, context: StepContext, step: Step) -> None:
        """Stop what the attempt started, and wait for that. Shielded: cancelling the step
        again (the runner stopped meanwhile) does not stop the stopping. A fresh context, so
        the attempt's spent ``transient.within`` does not bound it."""
        if self._end_step is None:
            return
        ending = asyncio.create_task(
            self._ending(context, step),
            name=f"end-{self.record.key[1]}-{context.step}",
            context=contextvars.Context(),
        )
        _ENDINGS.add(ending)
        ending.add_done_callback(_ENDINGS.discard)
        await asyncio.shield(ending)

    async def _ending(self, context: StepContext, step: Step) -> None:
        assert self._end_step is not None
        namespace, name = self.record.key
        try:
            with transient.within(END_STEP_SECONDS):
                async with asyncio.timeout(END_STEP_SECONDS):
                    done = await self._end_step(context, step)
        except Exception as error:
            metrics.STEP_CLEANUPS.labels(step.action.value, "failed").inc()
            log.warning(
                "workflow %s/%s: step %s ended, but what attempt %d started was not stopped: %s",
                namespace,
                name,
                context.step,
                context.attempt,
                _describe(error),
            )
            return
        if done is not None:
            metrics.STEP_CLEANUPS.labels(step.action.value, "done").inc()
            log.info("workflow %s/%s: step %s ended: %s", namespace, name, context.step, done)

    def _collect(self) -> None:
        """Record every attempt that has finished."""
        now = self._now()
        for name, task in list(self._tasks.items()):
            if not task.done():
                continue
            del self._tasks[name]
            stage = self._stage_of.pop(name)
            error = task.exception() if not task.cancelled() else None
            if task.cancelled():
                continue
            if error is None:
                self.status = workflow_run.step_succeeded(
                    self.status, stage, name, task.result(), now
                )
            else:
                message = str(error) if isinstance(error, StepFailed) else _describe(error)
                self.status = workflow_run.step_failed(
                    self.status, self._spec_step(stage, name), stage, message, now
                )

    async def _stop(self, names: list[str], *, end: bool) -> None:
        """Cancel these steps' tasks and wait for them; ``end``: their attempts end (and
        stop what they started), else the work is left running for a resume."""
        tasks = [self._tasks.pop(n) for n in names if n in self._tasks]
        for name in names:
            self._stage_of.pop(name, None)
        for task in tasks:
            if end:
                self._to_end.add(task)
            task.cancel()
        try:
            # asyncio.wait, not ``await task`` under a suppress: the wait may last as long as
            # an ending (up to END_STEP_SECONDS), and a cancellation of the runner itself
            # (its workflow deleted, the operator stopping) must reach it, not be swallowed
            # with the step's own CancelledError.
            if tasks:
                await asyncio.wait(tasks)
        finally:
            self._to_end.difference_update(tasks)
            for task in tasks:
                if task.done() and not task.cancelled():
                    task.exception()  # retrieved: the stopped attempt's outcome is moot

    async def _wait(self, wake_at: datetime | None) -> None:
        if any(t.done() for t in self._tasks.values()):
            return
        self._poke.clear()
        timeout = None
        if wake_at is not None:
            timeout = max(0.0, (wake_at - self._now()).total_seconds())
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                await self._poke.wait()

    def _criteria_health(self) -> dict[str, Health | None]:
        criteria = self.spec.success_criteria
        if criteria is None:
            return {}
        return {s: self._health(self.record.key[0], s) for s in criteria.services_healthy}

    # --- status ---------------------------------------------------------------------------

    async def _persist(self) -> None:
        """Write the status if it changed; retried until it is stored (nothing may run before
        its start is recorded), unless the workflow is gone."""
        self.status.conditions = as_conditions(
            workflow_conditions(self.status, self.record.generation, self._now())
        )
        self.status.observed_generation = self.record.generation
        body = status_patch(self.status)
        if body == self._written:
            return
        namespace, name = self.record.key
        attempt = 0
        # Conditional only when a conflict can be resolved by reading the object again.
        fenced = self._read is not None
        while True:
            try:
                try:
                    stored = await self._store.write_now(
                        self._plural,
                        namespace,
                        name,
                        body,
                        resource_version=str(self._version) if fenced and self._version else None,
                    )
                    break
                except Conflict:
                    if not fenced:
                        raise
                    landed = await self._after_conflict(namespace, name, body)
                    if landed is not None:
                        stored = landed
                        break
                    continue  # the same write, conditional on the version just read
            except NotFound as missing:
                # Gone, unless a read finds it still there as itself (a 404 of the path, not
                # of the object: a proxy, a server still installing its paths). Then retry.
                if not fenced or not await self._still_there(namespace, name):
                    raise WorkflowGone(f"{namespace}/{name}") from None
                await self._backoff(attempt, missing)
                attempt += 1
            except (KubeError, OSError, TimeoutError) as error:
                await self._backoff(attempt, error)
                attempt += 1
        self._written = self._believed = body
        self.record.status = self.status.model_copy(deep=True)
        rv = stored.get("metadata", {}).get("resourceVersion")
        if rv is not None:
            self._version = int(rv)
            self.record.resource_version = max(self.record.resource_version, int(rv))

    async def _backoff(self, attempt: int, error: BaseException) -> None:
        log.warning(
            "status of workflow %s/%s not written (attempt %d), retrying: %s",
            *self.record.key,
            attempt + 1,
            error,
        )
        await asyncio.sleep(PERSIST_RETRY_SECONDS[min(attempt, len(PERSIST_RETRY_SECONDS) - 1)])

    async def _still_there(self, namespace: str, name: str) -> bool:
        assert self._read is not None
        try:
            found = await self._read(namespace, name)
        except (KubeError, OSError, TimeoutError):
            return True  # cannot tell now: the next write asks again
        return found is not None and (found.get("metadata") or {}).get("uid") == self.record.uid

    async def _after_conflict(
        self, namespace: str, name: str, body: dict[str, Any]
    ) -> dict[str, Any] | None:
        """The object moved since the version this runner read: read it again and decide
        (core/status_fence.py). Returns None to retry the write, or the object when it
        already holds ``body`` (an earlier send of this very write landed but its answer was
        lost, so its resend met the version it had itself moved); raises to stop the
        runner."""
        assert self._read is not None
        found = await self._read(namespace, name)
        meta = (found or {}).get("metadata", {})
        if (
            found is not None
            and meta.get("uid") == self.record.uid
            and status_patch(status_of(found)) == body
        ):
            return found
        verdict = after_conflict(
            self.record.uid,
            self._believed,
            str(meta.get("uid")) if found is not None else None,
            status_patch(status_of(found)) if found is not None else None,
        )
        if verdict is AfterConflict.GONE:
            raise WorkflowGone(f"{namespace}/{name}")
        assert found is not None
        if verdict is AfterConflict.MOVED:
            log.warning(
                "workflow %s/%s: its status was changed by another writer; deciding again "
                "from what it holds now",
                namespace,
                name,
            )
            raise WorkflowMoved(found)
        self._version = version_number(meta.get("resourceVersion"))
        return None


def _describe(error: BaseException) -> str:
    text = str(error) or type(error).__name__
    return f"{type(error).__name__}: {text}" if not isinstance(error, KubeError) else text
