"""One background task that runs a round, waits, and runs it again, under the supervisor
(plumbing/supervision.py: a round that raises is logged, counted and started again).

``Periodic(name, round)``: ``round()`` returns how long to wait before the next round (None:
until woken). With a ``wakeup`` event, ``set()`` ends the wait early; the event is cleared
just before each round, so a wake-up during a round runs the next one at once.
``first_wait_s`` (read when the task starts, when a callable) delays the first round, woken
early too. ``start`` spawns the task, ``stop`` cancels it and waits for it to end.

``every(interval_s, action)`` is the round of a fixed interval: the wait after each round is
``interval_s`` (read anew each time when it is a callable); ``paced=True`` counts the interval
from the round's start instead, never less than ``MIN_PACED_WAIT_S``.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable

from orchestration_engine.plumbing.lifecycle import Lifecycle
from orchestration_engine.plumbing.supervision import cancel_and_wait, supervise

Round = Callable[[], Awaitable[float | None]]
MIN_PACED_WAIT_S = 0.1


class Periodic(Lifecycle):
    def __init__(
        self,
        name: str,
        round: Round,
        *,
        wakeup: asyncio.Event | None = None,
        first_wait_s: float | Callable[[], float] = 0.0,
    ) -> None:
        self.name = name
        self._round = round
        self.wakeup = wakeup
        self._first_wait_s = first_wait_s
        self._task: asyncio.Task[None] | None = None

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def start(self) -> None:
        if self._task is None:
            self._task = supervise(self.name, self._loop)

    async def stop(self) -> None:
        await cancel_and_wait(self._task)
        self._task = None

    async def _loop(self) -> None:
        first = self._first_wait_s() if callable(self._first_wait_s) else self._first_wait_s
        if first > 0:
            await self._wait(first)
        while True:
            if self.wakeup is not None:
                self.wakeup.clear()
            await self._wait(await self._round())

    async def _wait(self, seconds: float | None) -> None:
        if self.wakeup is None:
            if seconds is None:
                raise ValueError(f"{self.name}: a round without a wakeup must say when next")
            await asyncio.sleep(seconds)
            return
        # asyncio.timeout, not wait_for: on Python 3.11 wait_for wraps the wait in a task of
        # its own, which kopf's shutdown then waits 5 s for and cancels, killing the loop.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await self.wakeup.wait()


def every(
    interval_s: float | Callable[[], float],
    action: Callable[[], Awaitable[object]],
    *,
    paced: bool = False,
    clock: Callable[[], float] = time.monotonic,
) -> Round:
    """The round of a task that runs ``action`` every ``interval_s``."""
    interval = interval_s if callable(interval_s) else (lambda: interval_s)

    async def round() -> float:
        started = clock()
        await action()
        if not paced:
            return interval()
        return max(MIN_PACED_WAIT_S, interval() - (clock() - started))

    return round
