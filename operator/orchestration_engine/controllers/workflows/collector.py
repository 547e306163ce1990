"""Deletes finished OrchestrationWorkflows as core/workflow_retention.py decides.

The controller's records are the state in (finished ones are compact, see record.py); the
engine's ``spec.workflowRetention`` gives the limits. A pass runs when a workflow finishes,
when the engine changes, when the next TTL runs out, and once a minute regardless (level-
triggered: a missed wake-up costs a minute, never a workflow kept for good).

Each deletion names the uid it decided on (kube/delete.py) with background propagation, so
the workflow's Jobs and their pods go with it where a garbage collector runs; the
controller's own clean-up on the DELETED event deletes them by label where none does. The
store already holds the workflow's history (controllers/workflows/store_rows.py), so nothing is lost
that the cluster drops.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable
from datetime import UTC, datetime

from orchestration_engine.api.workflow import WorkflowPhase
from orchestration_engine.controllers.workflows.record import WorkflowRecord
from orchestration_engine.core.scheduler import Key
from orchestration_engine.core.workflow_retention import (
    Collection,
    Deletion,
    Finished,
    Retention,
    collect,
)
from orchestration_engine.plumbing import metrics
from orchestration_engine.plumbing.lifecycle import Lifecycle
from orchestration_engine.plumbing.periodic import Periodic

log = logging.getLogger(__name__)

PERIOD_SECONDS = 60.0
# Passes are batched: a thousand workflows finishing in a second cost one pass, not 1,000.
MIN_PASS_INTERVAL_SECONDS = 1.0
# A TTL's pass is scheduled a little after it runs out, never a moment before.
REQUEUE_MARGIN_SECONDS = 0.25
# Deletions share the loop and the API server with up to maxConcurrentWorkflows runners;
# fewer slots let a backlog of finished workflows build faster than it is deleted (measured:
# 8 slots deleted 10/s while 20/s finished, on a loaded 2-core machine).
DELETE_CONCURRENCY = 32
BATCH = 500  # deletions per pass; the next pass follows at once
UNKNOWN_RETENTION_SECONDS = 5.0
ERROR_BACKOFF_SECONDS = (1.0, 2.0, 5.0, 10.0, 30.0, 60.0)

Delete = Callable[[str, str, str], Awaitable[bool]]  # (namespace, name, uid) -> deleted


def finished_of(records: Iterable[WorkflowRecord]) -> tuple[list[Finished], frozenset[Key]]:
    """The decision's input: the finished workflows, and those a waiting one depends on."""
    finished: list[Finished] = []
    needed: set[Key] = set()
    for record in records:
        if record.finished:
            status = record.status
            finished.append(
                Finished(
                    key=record.key,
                    uid=record.uid,
                    succeeded=status.phase is WorkflowPhase.SUCCEEDED,
                    finished_at=status.finished_at or record.created,
                    ttl_seconds=record.ttl_seconds_after_finished,
                )
            )
        elif record.spec is not None:
            namespace = record.key[0]
            needed.update((namespace, name) for name in record.spec.depends_on)
    return finished, frozenset(needed)


class WorkflowCollector(Lifecycle):
    def __init__(
        self,
        *,
        records: Callable[[], Iterable[WorkflowRecord]],
        retention: Callable[[], Retention | None],
        delete: Delete,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        monotonic: Callable[[], float] = time.monotonic,
        min_interval: float = MIN_PASS_INTERVAL_SECONDS,
    ) -> None:
        self.records = records
        self.retention = retention
        self.delete = delete
        self._now = now
        self._monotonic = monotonic
        self._min_interval = min_interval
        self._wakeup = asyncio.Event()
        self._last_pass = -min_interval
        # A first pass at start: what a restart finds.
        self._task = Periodic("workflow-collector", self._round, wakeup=self._wakeup)
        # uids this operator deleted, until their records are gone (the DELETED event).
        self._deleted: set[str] = set()
        self._errors = 0
        self.passes = 0

    def wake(self) -> None:
        self._wakeup.set()

    async def start(self) -> None:
        await self._task.start()

    async def stop(self) -> None:
        await self._task.stop()

    async def _round(self) -> float:
        """A pass when woken or due, never sooner than ``min_interval`` after the last; the
        wake-ups meanwhile are taken by this pass."""
        await asyncio.sleep(max(0.0, self._last_pass + self._min_interval - self._monotonic()))
        self._wakeup.clear()
        self._last_pass = self._monotonic()
        try:
            return await self.collect_once()
        except Exception:
            metrics.WORKFLOW_COLLECTION_ERRORS.inc()
            log.exception("collecting finished workflows failed; retrying")
            return self._backoff()

    def _backoff(self) -> float:
        delay = ERROR_BACKOFF_SECONDS[min(self._errors, len(ERROR_BACKOFF_SECONDS) - 1)]
        self._errors += 1
        return delay

    async def collect_once(self) -> float:
        """One pass; seconds until the next one is due."""
        self.passes += 1
        records = list(self.records())
        present = {r.uid for r in records}
        self._deleted &= present
        retention = self.retention()
        if retention is None:
            # The engine's spec is not known (not read yet, unreadable, deleted): deleting on
            # the defaults could delete what a raised limit keeps.
            return UNKNOWN_RETENTION_SECONDS
        finished, needed = finished_of(records)
        decision: Collection = collect(finished, retention, self._now(), needed=needed)
        todo = [d for d in decision.delete if d.uid not in self._deleted]
        failures = await self._delete_all(todo[:BATCH])
        if failures:
            return self._backoff()
        self._errors = 0
        if len(todo) > BATCH:
            return 0.0
        if decision.requeue_after is None:
            return PERIOD_SECONDS
        return min(PERIOD_SECONDS, decision.requeue_after + REQUEUE_MARGIN_SECONDS)

    async def _delete_all(self, deletions: list[Deletion]) -> int:
        if not deletions:
            return 0
        slots = asyncio.Semaphore(DELETE_CONCURRENCY)
        outcomes: Counter[str] = Counter()

        async def one(deletion: Deletion) -> None:
            namespace, name = deletion.key
            async with slots:
                try:
                    deleted = await self.delete(namespace, name, deletion.uid)
                except Exception as error:
                    metrics.WORKFLOW_COLLECTION_ERRORS.inc()
                    outcomes["failed"] += 1
                    log.debug("could not delete workflow %s/%s: %s", namespace, name, error)
                    return
            # Gone already or replaced by a new object of that name: not ours to count.
            self._deleted.add(deletion.uid)
            if deleted:
                metrics.WORKFLOWS_COLLECTED.labels(deletion.reason).inc()
                outcomes[deletion.reason] += 1

        await asyncio.gather(*(one(d) for d in deletions))
        summary = ", ".join(f"{n} {reason}" for reason, n in sorted(outcomes.items()))
        if outcomes["failed"]:
            log.warning("finished workflows deleted: %s (failed ones are retried)", summary)
        elif outcomes:
            log.info("finished workflows deleted: %s", summary)
        return outcomes["failed"]
