"""Runs every service's health check on its own period, thousands of them, in one loop.

A task per service sleeping in ``while True`` is simple but gives no bound on concurrent checks,
no single place to stop them, and a thundering herd when the operator starts. Here one loop
task keeps a heap of due times and starts each check as its own short task; a semaphore bounds
how many run at once.

Timing rules:

* A new key's first check is due after a random delay in ``[0, min(period, first_check_spread_s))``
  so that services found together at start-up are spread out.
* Later checks keep a fixed cadence: the n-th check is due ``n`` periods after the first, plus an
  independent jitter of up to ``±jitter_fraction`` (5 %) of the period. The jitter is not carried
  forward, so the cadence neither drifts with slow checks nor wanders as a random walk.
* A key never has two checks running. If its previous check is still running when the next one
  is due, that tick is skipped and counted in ``skipped``. Ticks that went by while the loop
  itself was held up (or not yet started) are dropped, so they never fire in a burst.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import inspect
import itertools
import logging
import math
import random
import time
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass
from typing import Generic, TypeVar

from orchestration_engine.plumbing.lifecycle import Lifecycle
from orchestration_engine.plumbing.supervision import supervise
from orchestration_engine.probes.result import CheckResult

logger = logging.getLogger(__name__)

Key = TypeVar("Key", bound=Hashable)
Target = TypeVar("Target")

# Stale heap entries (left by re-plans and removals) are tolerated up to the number of live ones
# plus this, then the heap is rebuilt; so it never holds more than about twice the keys.
_COMPACT_SLACK = 64


@dataclass(slots=True)
class _Plan(Generic[Target]):
    target: Target
    period_s: float
    # Where the cadence says the current tick belongs; ``due`` is that plus this tick's jitter.
    anchor: float
    due: float
    # The sequence number of this key's live heap entry. Entries with another number are stale:
    # the key was re-planned or removed (and maybe added again) since they were pushed.
    seq: int
    # The check whose result is still wanted; None when idle or when it was cancelled.
    task: asyncio.Task[None] | None = None


class ProbeScheduler(Lifecycle, Generic[Key, Target]):
    """Calls ``run_check(key, target)`` every ``period_s`` per key and hands each result to
    ``on_result(key, result)``, which may be a plain function or a coroutine function.

    An exception from ``run_check`` becomes a failed result carrying its text; one from
    ``on_result`` is logged. Neither stops the scheduler.

    ``monotonic`` is the clock due times are kept on and ``rng`` draws the jitter; both are
    seams for tests.
    """

    def __init__(
        self,
        run_check: Callable[[Key, Target], Awaitable[CheckResult]],
        on_result: Callable[[Key, CheckResult], Awaitable[None] | None],
        *,
        max_concurrency: int = 128,
        first_check_spread_s: float = 10.0,
        jitter_fraction: float = 0.05,
        monotonic: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
    ) -> None:
        if max_concurrency < 1:
            raise ValueError("max_concurrency must be at least 1")
        if first_check_spread_s < 0:
            raise ValueError("first_check_spread_s must not be negative")
        if not 0 <= jitter_fraction < 0.5:
            raise ValueError("jitter_fraction must be in [0, 0.5)")
        self._run_check = run_check
        self._on_result = on_result
        self._max_concurrency = max_concurrency
        self._first_check_spread_s = first_check_spread_s
        self._jitter_fraction = jitter_fraction
        self._monotonic = monotonic
        # Jitter only spreads load; it needs no unpredictability.
        self._rng = rng if rng is not None else random.Random()  # noqa: S311
        self._plans: dict[Key, _Plan[Target]] = {}
        self._heap: list[tuple[float, int, Key]] = []
        self._seq = itertools.count()
        self._slots = asyncio.Semaphore(max_concurrency)
        self._wake = asyncio.Event()
        self._loop_task: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        # The newest check task of each key, even one no longer wanted, so that a replacement
        # waits for a cancelled check to unwind instead of overlapping it.
        self._latest: dict[Key, asyncio.Task[None]] = {}
        self._running = 0
        self._skipped = 0

    # -- introspection -------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._plans)

    def __contains__(self, key: object) -> bool:
        return key in self._plans

    def period_of(self, key: Key) -> float | None:
        plan = self._plans.get(key)
        return plan.period_s if plan is not None else None

    @property
    def in_flight(self) -> int:
        """Checks started and not finished, including those waiting for a concurrency slot."""
        return len(self._tasks)

    @property
    def running(self) -> int:
        """Checks holding a concurrency slot; never more than ``max_concurrency``."""
        return self._running

    @property
    def skipped(self) -> int:
        """Ticks not run because the key's previous check was still running."""
        return self._skipped

    # -- planning ------------------------------------------------------------------------------

    def upsert(self, key: Key, target: Target, period_s: float) -> None:
        """Adds ``key`` or re-plans it; calling it again with the same target and period is free.

        A changed target cancels a running check of the old one (its result is not delivered)
        and is checked at once. A changed period keeps a running check and starts a new cadence
        from now, with the first check after a spread as for a new key.
        """
        if not (math.isfinite(period_s) and period_s > 0):
            raise ValueError(f"period_s must be a positive number of seconds, not {period_s!r}")
        now = self._monotonic()
        plan = self._plans.get(key)
        if plan is None:
            due = now + self._first_delay(period_s)
            self._plans[key] = _Plan(target, period_s, anchor=due, due=due, seq=-1)
            self._push(key, due)
            return
        if plan.target != target:
            plan.target = target
            plan.period_s = period_s
            if plan.task is not None:
                plan.task.cancel()
                plan.task = None
            plan.anchor = now
            self._push(key, now)
        elif plan.period_s != period_s:
            plan.period_s = period_s
            plan.anchor = now + self._first_delay(period_s)
            self._push(key, plan.anchor)
        else:
            return
        self._compact_if_stale()

    def remove(self, key: Key) -> None:
        """Stops checking ``key`` at once; a running check is cancelled and its result is not
        delivered (a delivery already under way, in an async ``on_result``, is cancelled too)."""
        plan = self._plans.pop(key, None)
        if plan is None:
            return
        if plan.task is not None:
            plan.task.cancel()
        # The heap entry stays behind as a stale one; the loop drops it when it surfaces.
        self._compact_if_stale()

    def _first_delay(self, period_s: float) -> float:
        return self._rng.uniform(0, min(period_s, self._first_check_spread_s))

    def _push(self, key: Key, due: float) -> None:
        plan = self._plans[key]
        plan.due = due
        plan.seq = next(self._seq)
        heapq.heappush(self._heap, (due, plan.seq, key))
        if self._heap[0][1] == plan.seq:
            # The loop may be sleeping until a later time.
            self._wake.set()

    def _compact_if_stale(self) -> None:
        if len(self._heap) > 2 * len(self._plans) + _COMPACT_SLACK:
            self._heap = [(plan.due, plan.seq, key) for key, plan in self._plans.items()]
            heapq.heapify(self._heap)

    # -- running -------------------------------------------------------------------------------

    async def start(self) -> None:
        """Starts the loop; keys added before are kept. Starting twice is harmless."""
        if self._loop_task is None or self._loop_task.done():
            self._loop_task = supervise("probe scheduler", self._loop)
            self._loop_task.add_done_callback(_log_loop_exit)

    async def stop(self) -> None:
        """Cancels the loop and every running check, and returns once all of them have ended.

        Keys stay planned, so ``start()`` resumes them.
        """
        tasks = list(self._tasks)
        if self._loop_task is not None:
            tasks.append(self._loop_task)
            self._loop_task = None
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _loop(self) -> None:
        while True:
            # Cleared before looking at the heap, so an upsert made while we sleep is not missed.
            self._wake.clear()
            now = self._monotonic()
            self._start_due(now)
            if not self._heap:
                await self._wake.wait()
                continue
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._heap[0][0] - now):
                    await self._wake.wait()

    def _start_due(self, now: float) -> None:
        while self._heap and self._heap[0][0] <= now:
            _, seq, key = heapq.heappop(self._heap)
            plan = self._plans.get(key)
            if plan is None or plan.seq != seq:
                continue
            if plan.task is not None:
                self._skipped += 1
            else:
                plan.task = self._spawn(key, plan.target)
            self._plan_next(key, plan, now)

    def _plan_next(self, key: Key, plan: _Plan[Target], now: float) -> None:
        period = plan.period_s
        jitter = self._rng.uniform(-1, 1) * self._jitter_fraction * period
        plan.anchor += period
        if plan.anchor + jitter <= now:
            # The loop was held up (or started late) past whole ticks: they are dropped rather
            # than run in a burst, and not counted as skips, which measure slow checks.
            plan.anchor += (math.floor((now - plan.anchor - jitter) / period) + 1) * period
        self._push(key, plan.anchor + jitter)

    def _spawn(self, key: Key, target: Target) -> asyncio.Task[None]:
        previous = self._latest.get(key)
        task = asyncio.create_task(self._check(key, target, previous), name=f"probe {key!r}")
        self._tasks.add(task)
        self._latest[key] = task
        task.add_done_callback(lambda done: self._forget(key, done))
        return task

    def _forget(self, key: Key, task: asyncio.Task[None]) -> None:
        # A done callback rather than a ``finally``: a task cancelled before its first step
        # never runs its body.
        self._tasks.discard(task)
        if self._latest.get(key) is task:
            del self._latest[key]
        plan = self._plans.get(key)
        if plan is not None and plan.task is task:
            plan.task = None
        if not task.cancelled() and task.exception() is not None:
            logger.error("probe task for %r failed", key, exc_info=task.exception())

    async def _check(self, key: Key, target: Target, previous: asyncio.Task[None] | None) -> None:
        if previous is not None and not previous.done():
            await asyncio.wait([previous])
        async with self._slots:
            self._running += 1
            try:
                result = await self._run_check(key, target)
            except Exception as error:
                logger.exception("health check of %r raised", key)
                result = CheckResult.failure(f"{type(error).__name__}: {error}")
            finally:
                self._running -= 1
        plan = self._plans.get(key)
        if plan is None or plan.task is not asyncio.current_task():
            # Removed, or re-targeted, after this check began: the result answers a question
            # nobody is asking any more.
            return
        try:
            outcome = self._on_result(key, result)
            if inspect.isawaitable(outcome):
                await outcome
        except Exception:
            logger.exception("on_result for %r raised", key)


def _log_loop_exit(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        logger.error("probe scheduler loop stopped", exc_info=task.exception())
