"""Admits, starts, resumes and parks OrchestrationWorkflows; one loop for all of them.

Watch events update what the controller knows and wake its loop; a pass then decides, with
core/scheduler.py, which waiting workflows start, and writes the others' phase and queue
position. Every admitted workflow gets a WorkflowRunner task that owns its status until it
ends or is parked (suspend, halt); the controller writes status only for workflows without
a runner, so the two never race. Scheduling reacts to events (a workflow that ends frees its
slot at once), never to a polling interval.

Level-triggered: after a restart, workflows whose status says Running or RollingBack get a
runner straight away (they were admitted before) and continue where status says they were.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from typing import Any, Protocol

from orchestration_engine.api.common import Priority
from orchestration_engine.api.service import Health
from orchestration_engine.api.workflow import (
    PLURAL,
    StepAction,
    WorkflowPhase,
    WorkflowStatus,
    WorkflowType,
)
from orchestration_engine.controllers.workflows.record import (
    WorkflowRecord,
    as_conditions,
    resource_version,
    status_of,
    status_patch,
)
from orchestration_engine.controllers.workflows.runner import (
    StatusStore,
    StepEnder,
    StepRunner,
    WorkflowGone,
    WorkflowMoved,
    WorkflowReader,
    WorkflowRunner,
)
from orchestration_engine.core import workflow_pass as passes
from orchestration_engine.core import workflow_run
from orchestration_engine.core.halt import WORKFLOW_WINDOW_SECONDS
from orchestration_engine.core.scheduler import (
    Candidate,
    Key,
    Limits,
    Resources,
    Wait,
    schedule,
)
from orchestration_engine.core.workflow_conditions import workflow_conditions
from orchestration_engine.core.workflow_facts import WorkflowFacts
from orchestration_engine.core.workflow_run import TERMINAL_PHASES
from orchestration_engine.kube.events import ObjectRef
from orchestration_engine.plumbing import metrics
from orchestration_engine.plumbing.lifecycle import Lifecycle
from orchestration_engine.plumbing.supervision import supervise

log = logging.getLogger(__name__)

# A waiting workflow's queuePosition is rewritten at most this often: with a thousand
# queued, every admission moves every position, and writing each move would flood the API
# server for a number that is only informative.
POSITION_REFRESH_SECONDS = 2.0
# The uids of workflows known to be gone, remembered so that a late event of one (its own
# status write coming back after the 404) never brings it back to run again. uids are never
# reused; the bound only caps memory.
GONE_UIDS_KEPT = 10_000
WAITING_PHASES = frozenset(
    {WorkflowPhase.PENDING, WorkflowPhase.QUEUED, WorkflowPhase.HALTED, WorkflowPhase.SUSPENDED}
)
# A runner that raised is started again after these delays (then every minute): the error is
# most likely the object's own (a value the core cannot handle), and restarting at once spun
# thousands of times a second. The workflow keeps its phase; its message and an Event say why.
RUNNER_RETRY_SECONDS = (1.0, 2.0, 5.0, 10.0, 30.0, 60.0)
WARNING_PHASES = frozenset(
    {
        WorkflowPhase.FAILED,
        WorkflowPhase.ROLLING_BACK,
        WorkflowPhase.ROLLED_BACK,
        WorkflowPhase.HALTED,
        WorkflowPhase.CANCELLED,
    }
)


class StatusSink(StatusStore, Protocol):
    """The runners' status store (kube/status.py's StatusWriter), and its queued writes."""

    def submit(self, plural: str, namespace: str, name: str, status: dict[str, Any]) -> None: ...
    def forget(self, plural: str, namespace: str, name: str) -> None: ...


class EventSink(Protocol):
    def record(self, ref: ObjectRef, type_: str, reason: str, message: str) -> None: ...


class PhaseSink(Protocol):
    """Where phase changes are mirrored (the metrics store)."""

    def workflow(self, record: WorkflowRecord) -> None: ...


class WorkflowController(Lifecycle):
    def __init__(
        self,
        *,
        statuses: StatusSink,
        events: EventSink,
        run_step: StepRunner,
        limits: Callable[[], Limits],
        health: Callable[[str, str], Health | None],
        cleanup: Callable[[str, str], Awaitable[int]],
        rows: PhaseSink | None = None,
        on_change: Callable[[], None] | None = None,
        read: WorkflowReader | None = None,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        monotonic: Callable[[], float] = time.monotonic,
        end_step: StepEnder | None = None,
    ) -> None:
        self.end_step = end_step
        self.statuses = statuses
        self.read = read
        self.events = events
        self.run_step = run_step
        self.limits = limits
        self.health = health
        self.cleanup = cleanup
        self.rows = rows
        self.on_change = on_change or (lambda: None)
        self._now = now
        self._monotonic = monotonic
        self.records: dict[Key, WorkflowRecord] = {}
        self.runners: dict[Key, WorkflowRunner] = {}
        self._runner_tasks: dict[Key, asyncio.Task[None]] = {}
        self._cleanups: set[asyncio.Task[int]] = set()
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._next_refresh: float | None = None
        self._halted = False
        self._gone: OrderedDict[str, None] = OrderedDict()
        self.admissions = 0
        # Workflows whose runner raised: (failures in a row, monotonic time of the next try).
        self._runner_failures: dict[Key, tuple[int, float]] = {}

    # --- inputs ---------------------------------------------------------------------------

    def observe(self, event_type: str | None, body: Mapping[str, Any]) -> None:
        """A watch event of an OrchestrationWorkflow (None: from a listing)."""
        meta = body.get("metadata", {})
        key: Key = (str(meta.get("namespace", "")), str(meta.get("name", "")))
        if meta.get("uid") in self._gone:
            return
        record = self.records.get(key)
        if event_type == "DELETED" or meta.get("deletionTimestamp"):
            # Being deleted counts as deleted: with a finalizer (or foreground deletion) the
            # object stays a while, and nothing more of it may run.
            if record is not None and record.uid == meta.get("uid"):
                self._forget(record)
            return
        if record is None or record.uid != meta.get("uid"):
            if record is not None:
                self._forget(record)
            self.records[key] = WorkflowRecord.from_body(body)
            self._wake()
            return
        changed = record.update_spec(body)
        rv = resource_version(body)
        if key not in self.runners and rv >= record.resource_version:
            # Events can arrive after our own newer write; an older status must not win.
            record.resource_version = rv
            finished = record.finished
            record.status = record.status_of(body)
            changed = changed or finished != record.finished  # a status reset by hand
        if changed:
            runner = self.runners.get(key)
            if runner is not None:
                runner.poke()
            self._wake()

    def engine_changed(self) -> None:
        """The engine's limits or halt may have changed."""
        halted = self.limits().halted
        if halted != self._halted:
            self._halted = halted
            for runner in self.runners.values():
                runner.poke()
        self._wake()

    def services_changed(self) -> None:
        """A service's health changed (success criteria are judged on it)."""
        for runner in self.runners.values():
            runner.poke()

    def _wake(self) -> None:
        self._wakeup.set()

    def _forget(self, record: WorkflowRecord) -> None:
        key = record.key
        if record.uid:
            self._gone[record.uid] = None
        while len(self._gone) > GONE_UIDS_KEPT:
            self._gone.popitem(last=False)
        self.records.pop(key, None)
        self._runner_failures.pop(key, None)
        self.statuses.forget(PLURAL, *key)
        task = self._runner_tasks.pop(key, None)
        runner = self.runners.pop(key, None)
        if runner is not None:
            runner.workflow_deleted()  # its steps end: what they started is stopped
        if task is not None:
            task.cancel()
        cleanup = asyncio.ensure_future(self._cleanup(record))
        self._cleanups.add(cleanup)
        cleanup.add_done_callback(self._cleanups.discard)
        self._wake()
        self.on_change()  # the engine's counts and facts no longer include it

    async def _cleanup(self, record: WorkflowRecord) -> int:
        """Delete what the workflow created: owner references would do it, but only where a
        garbage collector runs, and only for owners it sees deleted."""
        try:
            return await self.cleanup(record.key[0], record.uid)
        except Exception as error:
            log.warning("could not clean up after workflow %s/%s: %s", *record.key, error)
            return 0

    # --- the loop -------------------------------------------------------------------------

    async def start(self) -> None:
        self._halted = self.limits().halted
        self._task = supervise("workflow-controller", self._loop)

    async def stop(self) -> None:
        # The operator stops, the workflows do not: cancelled runners leave what their steps
        # started running, and the next leader adopts it.
        tasks = [t for t in (self._task, *self._runner_tasks.values()) if t is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._task = None
        self._runner_tasks.clear()
        self.runners.clear()

    async def _loop(self) -> None:
        while True:
            timeout = None
            if self._next_refresh is not None:
                timeout = max(0.0, self._next_refresh - self._monotonic())
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout):
                    await self._wakeup.wait()
            self._wakeup.clear()
            try:
                self.reconcile()
            except Exception:
                log.exception("workflow scheduling pass failed; the next event retries it")

    def reconcile(self) -> None:
        """One pass: resume, park, admit, and say to the rest why they wait."""
        now = self._now()
        self._next_refresh = None
        limits = self.limits()
        phases = {k: r.status.phase.value for k, r in self.records.items()}
        candidates = []
        for key, record in self.records.items():
            if key in self.runners:
                continue
            if not self._runner_due(key):
                continue  # its runner raised: started again after the backoff
            triage = passes.triage(
                record.status.phase,
                problems=record.problems is not None,
                has_spec=record.spec is not None,
                suspend=record.spec is not None and record.spec.suspend,
            )
            if triage is passes.Triage.COMPACT:
                record.compact()  # what a finished one needs, nothing more (record.py)
            elif triage is passes.Triage.STALLED:
                self._write_waiting(record, WorkflowPhase.PENDING, None, now, record.problems)
            elif triage is passes.Triage.RESUME:
                self._start_runner(record, record.status, written=True)
            elif triage is passes.Triage.SUSPEND:
                self._write_waiting(record, WorkflowPhase.SUSPENDED, passes.SUSPENDED, now)
            elif triage is passes.Triage.SCHEDULE:
                candidate = self._candidate(record, now)
                if candidate is not None:
                    candidates.append(candidate)

        running = {
            key: self._resources(record)
            for key, record in self.records.items()
            if key in self.runners and record.spec is not None
        }
        plan = schedule(candidates, running, limits, phases, now)
        for key, reason in plan.cancel.items():
            record = self.records[key]
            record.status.reason = workflow_run.Reason.DEPENDENCY_FAILED
            self._write_waiting(record, WorkflowPhase.CANCELLED, Wait("Cancelled", reason), now)
        for key in plan.admit:
            record = self.records[key]
            self.admissions += 1
            metrics.WORKFLOW_SCHEDULING_LATENCY.observe(
                max(0.0, (now - record.created).total_seconds())
            )
            self._start_runner(record, workflow_run.admit(record.spec, record.status, now))  # type: ignore[arg-type]
        graphs: dict[str, dict[str, list[str]]] | None = None
        for key, wait in plan.waiting.items():
            record = self.records[key]
            if wait.reason == passes.DEPENDENCIES:
                graphs = graphs if graphs is not None else _dependency_graphs(self.records)
                problem = passes.cycle_problem(graphs.get(key[0], {}), key[1])
                if problem is not None:
                    self._write_waiting(record, WorkflowPhase.PENDING, None, now, problem)
                    continue
            self._write_waiting(record, passes.waiting_phase(wait, record.status.phase), wait, now)
        metrics.WORKFLOW_QUEUE_LENGTH.set(
            sum(1 for w in plan.waiting.values() if w.position is not None)
        )

    # --- one object's problem stays that object's ---------------------------------------

    def _candidate(self, record: WorkflowRecord, now: datetime) -> Candidate | None:
        """The workflow as the scheduler reads it; one that cannot be read is shown Stalled
        (InvalidSpec) instead of failing the pass for every workflow."""
        try:
            return record.candidate()
        except Exception as error:
            metrics.OBJECT_ERRORS.labels("OrchestrationWorkflow", "schedule").inc()
            log.warning("workflow %s/%s cannot be scheduled: %s", *record.key, error)
            problem = f"the operator cannot schedule this spec: {_describe(error)}"
            self._write_waiting(record, WorkflowPhase.PENDING, None, now, problem)
            return None

    def _resources(self, record: WorkflowRecord) -> Resources:
        try:
            return record.candidate().resources
        except Exception:
            return Resources()

    def _runner_due(self, key: Key) -> bool:
        failed = self._runner_failures.get(key)
        if failed is None or self._monotonic() >= failed[1]:
            return True
        self._next_refresh = min(self._next_refresh or failed[1], failed[1])
        return False

    def _runner_failed(self, runner: WorkflowRunner, error: Exception) -> None:
        """Count it, say it on the object (message, Ready's message, a Warning Event), and
        start the runner again only after a backoff."""
        record = runner.record
        key = record.key
        count = self._runner_failures.get(key, (0, 0.0))[0] + 1
        delay = RUNNER_RETRY_SECONDS[min(count, len(RUNNER_RETRY_SECONDS)) - 1]
        self._runner_failures[key] = (count, self._monotonic() + delay)
        metrics.OBJECT_ERRORS.labels("OrchestrationWorkflow", "runner").inc()
        message = (
            f"the operator failed on this workflow ({_describe(error)}); retrying in {delay:g}s"
        )
        if count == 1:
            log.exception("workflow %s/%s: runner failed; retried in %gs", *key, delay)
        else:
            log.warning("workflow %s/%s: runner failed again (%d in a row): %s", *key, count, error)
        self.events.record(record.ref(), "Warning", "RunnerFailed", message)
        status = record.status.model_copy(deep=True)
        status.message = message
        status.conditions = as_conditions(
            workflow_conditions(status, record.generation, self._now())
        )
        record.status = status
        self.statuses.submit(PLURAL, *key, status_patch(status))

    # --- writes for workflows without a runner -------------------------------------------

    def _write_waiting(
        self,
        record: WorkflowRecord,
        phase: WorkflowPhase,
        wait: Wait | None,
        now: datetime,
        problems: str | None = None,
    ) -> None:
        old_phase = record.status.phase
        signature = (phase, wait, problems, record.generation)
        if signature == record.signature:
            return  # nothing new to say: the common case, kept cheap for long queues
        if (
            record.signature is not None
            and record.signature[0] == phase
            and wait is not None
            and isinstance(record.signature[1], Wait)
            and record.signature[1].reason == wait.reason
            and signature[2:] == record.signature[2:]
        ):
            due = record.written_at + POSITION_REFRESH_SECONDS
            if self._monotonic() < due:
                # Only the position moved, and it was written a moment ago.
                self._next_refresh = min(self._next_refresh or due, due)
                return
        announce_problem = problems is not None and (
            record.signature is None or record.signature[2] != problems
        )
        record.signature = signature
        status = record.status.model_copy(deep=True)
        status.phase = phase
        status.queue_position = wait.position if wait is not None else None
        if wait is not None:
            status.message = wait.message
        elif problems is not None:
            status.message = problems
        if phase == WorkflowPhase.CANCELLED:
            status.finished_at = now
        status.observed_generation = record.generation
        status.conditions = as_conditions(
            workflow_conditions(
                status,
                record.generation,
                now,
                wait_reason=wait.reason if wait is not None else None,
                problems=problems,
            )
        )
        body = status_patch(status)
        if body == record.written:
            return
        record.written, record.written_at = body, self._monotonic()
        record.status = status
        self.statuses.submit(PLURAL, *record.key, body)
        if announce_problem and problems is not None:
            # Stalled is a condition; the Event says it where `kubectl describe` looks.
            self.events.record(record.ref(), "Warning", "InvalidSpec", problems[:1024])
        if phase != old_phase:
            self._announce(record, old_phase, phase)

    # --- runners --------------------------------------------------------------------------

    def _start_runner(
        self, record: WorkflowRecord, status: WorkflowStatus, *, written: bool = False
    ) -> None:
        # A queued write of this workflow must not land after the runner's first one.
        self.statuses.forget(PLURAL, *record.key)
        record.written, record.signature = None, None
        runner = WorkflowRunner(
            record,
            status,
            plural=PLURAL,
            store=self.statuses,
            run_step=self.run_step,
            halted=self._holds,
            health=self.health,
            on_phase=self._announce,
            read=self.read,
            end_step=self.end_step,
        )
        self.runners[record.key] = runner
        task = asyncio.create_task(
            self._drive(runner, status if written else None),
            name=f"workflow-{record.key[0]}-{record.key[1]}",
        )
        self._runner_tasks[record.key] = task

    def _holds(self, record: WorkflowRecord) -> bool:
        """An emergency halt holds every workflow but the CRITICAL ones."""
        return (
            self._halted
            and record.spec is not None
            and record.spec.priority is not Priority.CRITICAL
        )

    async def _drive(self, runner: WorkflowRunner, written: WorkflowStatus | None) -> None:
        key = runner.record.key
        gone = False
        moved: dict[str, Any] | None = None
        try:
            final = await runner.run(written=written)
            runner.record.status = final
            self._runner_failures.pop(key, None)
        except WorkflowGone:
            gone = True
        except WorkflowMoved as error:
            moved = error.body
        except asyncio.CancelledError:
            raise
        except Exception as error:
            if self.runners.get(key) is runner:
                self._runner_failed(runner, error)
        finally:
            if self.runners.get(key) is runner:
                del self.runners[key]
                self._runner_tasks.pop(key, None)
                if self.records.get(key) is runner.record:
                    if gone:
                        # A 404 (or another uid) on its status write: the workflow is gone
                        # even if its DELETED event never comes. Resuming it from the stale
                        # status in memory would run its step again, without end.
                        self._forget(runner.record)
                    elif moved is not None:
                        self._reread(runner.record, moved)
                self._wake()

    def _reread(self, record: WorkflowRecord, body: Mapping[str, Any]) -> None:
        """Another writer moved the workflow: the next pass decides from what it holds."""
        record.update_spec(body)
        record.status = status_of(body)
        record.resource_version = resource_version(body)
        record.written, record.signature = None, None

    def _announce(self, record: WorkflowRecord, old: WorkflowPhase, new: WorkflowPhase) -> None:
        message = record.status.message or new.value
        type_ = "Warning" if new in WARNING_PHASES else "Normal"
        self.events.record(record.ref(), type_, new.value, f"{old.value} -> {new.value}: {message}")
        if new in TERMINAL_PHASES and record.status.started_at is not None:
            finished = record.status.finished_at or self._now()
            metrics.WORKFLOW_DURATION.labels(new.value).observe(
                max(0.0, (finished - record.status.started_at).total_seconds())
            )
        if self.rows is not None:
            self.rows.workflow(record)
        self.on_change()

    # --- for the engine and the report ---------------------------------------------------

    def facts(self, now: datetime) -> WorkflowFacts:
        """What runs now, and how the workflows of the halt's window ended."""
        running = maintenance = failovers = scaling = finished = failed = 0
        longest: float | None = None
        for key, record in self.records.items():
            status, spec = record.status, record.spec
            runner = self.runners.get(key)
            if runner is not None:
                running += 1
                if spec is not None and spec.workflow_type is WorkflowType.MAINTENANCE:
                    maintenance += 1
                for action in runner.executing_actions():
                    failovers += action in (StepAction.FAILOVER, StepAction.FAILBACK)
                    scaling += action is StepAction.SCALE
                if status.started_at is not None:
                    age = (now - status.started_at).total_seconds()
                    longest = age if longest is None else max(longest, age)
            elif status.phase in TERMINAL_PHASES and status.finished_at is not None:
                if status.phase == WorkflowPhase.CANCELLED:
                    continue
                if (now - status.finished_at).total_seconds() <= WORKFLOW_WINDOW_SECONDS:
                    finished += 1
                    failed += status.phase in (WorkflowPhase.FAILED, WorkflowPhase.ROLLED_BACK)
        return WorkflowFacts(running, maintenance, failovers, scaling, finished, failed, longest)

    def running_resources(self) -> Resources:
        return sum(
            (r.candidate().resources for k, r in self.records.items() if k in self.runners),
            Resources(),
        )


def _describe(error: BaseException) -> str:
    text = str(error)
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


def _dependency_graphs(records: Mapping[Key, WorkflowRecord]) -> dict[str, dict[str, list[str]]]:
    return passes.dependency_graphs(
        {key: r.spec.depends_on if r.spec is not None else () for key, r in records.items()}
    )
