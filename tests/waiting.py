"""Waiting in tests: poll a predicate until it is truthy or the time is up, for every tier
(``waiting`` is importable from any of them: tests/ is on sys.path, see tests/conftest.py).
``wait_for`` sleeps between calls; ``wait_for_async`` yields to the event loop instead, for a
predicate over objects a task in the same loop changes."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")


def _timed_out(timeout: float, what: str, last: Any) -> TimeoutError:
    return TimeoutError(f"timed out after {timeout:g} s waiting for {what}; last: {last!r}")


def wait_for(
    predicate: Callable[[], T],
    timeout: float = 20,
    what: str = "condition",
    interval: float = 0.1,
    *,
    tolerate: tuple[type[BaseException], ...] = (),
) -> T:
    """The predicate's first truthy value, or TimeoutError naming ``what`` and the last value.
    Exceptions of a type in ``tolerate`` count as "not yet" (the last value names them)."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = predicate()
        except tolerate as error:
            last = f"{type(error).__name__}: {error}"
        else:
            if last:
                return last
        time.sleep(interval)
    raise _timed_out(timeout, what, last)


async def wait_for_async(
    predicate: Callable[[], T],
    timeout: float = 20,
    what: str = "condition",
    interval: float = 0.02,
    *,
    stable: int = 1,
) -> T:
    """``wait_for`` inside an event loop: asyncio.sleep between calls. ``stable``: the
    predicate must hold at that many looks in a row (``interval`` apart)."""
    deadline = time.monotonic() + timeout
    last: Any = None
    held = 0
    while time.monotonic() < deadline:
        last = predicate()
        held = held + 1 if last else 0
        if held >= stable:
            return last
        await asyncio.sleep(interval)
    raise _timed_out(timeout, what, last)
