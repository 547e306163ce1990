"""Every long-lived loop of the operator runs under one supervisor: a loop that raises is
logged, counted (``eoe_loop_restarts_total{loop}``) and started again after a capped,
jittered backoff, so one unforeseen error never silently turns a subsystem off (before this,
one ``ServerDisconnectedError`` ended the Event poster for good).

A loop that keeps failing (``max_consecutive`` failures in a row, each within
``stable_after_s`` of its start) makes the liveness probe fail (``/healthz`` 500, via the
``loops`` probe in app/handlers/engine.py) until it has run ``stable_after_s`` without failing:
the kubelet then restarts the pod, which is all that is left to try. A loop that returns has
finished its work and is not started again; cancelling the task stops the loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from orchestration_engine.core.api_retry import RetryPolicy, backoff_s
from orchestration_engine.plumbing import metrics

log = logging.getLogger(__name__)

MAX_CONSECUTIVE_FAILURES = 5
STABLE_AFTER_S = 60.0
BACKOFF = RetryPolicy(base_s=0.5, cap_s=30.0)


@dataclass(slots=True)
class LoopState:
    name: str
    started_at: float
    restarts: int = 0
    consecutive: int = 0  # failures in a row, each soon after its start
    last_error: str = ""
    running: bool = True


def failing(state: LoopState, now: float, max_consecutive: int, stable_after_s: float) -> bool:
    """A loop that cannot come back: it failed ``max_consecutive`` times in a row and has not
    run ``stable_after_s`` since (a loop waiting for its next start counts as failing)."""
    if state.consecutive < max_consecutive:
        return False
    return not state.running or now - state.started_at < stable_after_s


class Loops:
    def __init__(
        self,
        *,
        max_consecutive: int = MAX_CONSECUTIVE_FAILURES,
        stable_after_s: float = STABLE_AFTER_S,
        backoff: RetryPolicy = BACKOFF,
        clock: Callable[[], float] = time.monotonic,
        draw: Callable[[], float] = random.random,
    ) -> None:
        self.max_consecutive = max_consecutive
        self.stable_after_s = stable_after_s
        self.backoff = backoff
        self._clock = clock
        self._draw = draw
        self.states: dict[str, LoopState] = {}

    def spawn(self, name: str, run: Callable[[], Awaitable[None]]) -> asyncio.Task[None]:
        """Run ``run()`` as a task, started again whenever it raises."""
        state = LoopState(name, started_at=self._clock())
        self.states[name] = state
        return asyncio.create_task(self._supervise(state, run), name=name)

    def failing(self) -> list[LoopState]:
        now = self._clock()
        found = [
            s
            for s in self.states.values()
            if failing(s, now, self.max_consecutive, self.stable_after_s)
        ]
        metrics.LOOPS_FAILING.set(len(found))
        return found

    def probe(self) -> str:
        """For the liveness probe: a summary; raises RuntimeError while a loop keeps failing."""
        broken = self.failing()
        if broken:
            raise RuntimeError(
                "loops failing: "
                + "; ".join(f"{s.name} ({s.consecutive} in a row: {s.last_error})" for s in broken)
            )
        restarts = sum(s.restarts for s in self.states.values())
        return f"{len(self.states)} loops running, {restarts} restarts"

    async def _supervise(self, state: LoopState, run: Callable[[], Awaitable[None]]) -> None:
        try:
            while True:
                state.started_at = self._clock()
                state.running = True
                try:
                    await run()
                    return
                except Exception as error:
                    state.running = False
                    ran_s = self._clock() - state.started_at
                    state.consecutive = 1 if ran_s >= self.stable_after_s else state.consecutive + 1
                    state.restarts += 1
                    state.last_error = f"{type(error).__name__}: {error}"[:300]
                    metrics.LOOP_RESTARTS.labels(state.name).inc()
                    # Equal jitter: never a tight crash loop, never restarts in step.
                    ceiling = backoff_s(state.consecutive, self.backoff, 1.0)
                    delay = ceiling * (0.5 + 0.5 * self._draw())
                    log.error(
                        "loop %s failed (%d in a row), starting it again in %.1f s",
                        state.name,
                        state.consecutive,
                        delay,
                        exc_info=True,
                    )
                    await asyncio.sleep(delay)
        finally:
            # A finished or stopped loop says nothing about liveness any more.
            if self.states.get(state.name) is state:
                del self.states[state.name]


LOOPS = Loops()


def supervise(
    name: str, run: Callable[[], Awaitable[None]], *, loops: Loops = LOOPS
) -> asyncio.Task[None]:
    """``asyncio.create_task(run(), name=name)``, with the loop started again when it raises
    (the process-wide registry that the liveness probe reads, unless ``loops`` is given)."""
    return loops.spawn(name, run)


async def cancel_and_wait(task: asyncio.Task[None] | None) -> None:
    """Cancel ``task`` (None: nothing to stop) and wait until it has ended, so that a stopped
    component leaves nothing running; its cancellation is not raised to the caller."""
    if task is None:
        return
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
