"""plumbing/periodic.py: the rounds' timing (first wait, fixed and paced intervals, wake-ups),
supervision of a round that raises, and a stop that leaves nothing running."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from orchestration_engine.plumbing.periodic import MIN_PACED_WAIT_S, Periodic, every
from orchestration_engine.plumbing.supervision import LOOPS


async def until(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.005)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


async def test_a_fixed_interval_is_the_wait_after_each_round() -> None:
    clock = Clock()

    async def slow() -> None:
        clock.now += 7.0

    round = every(10.0, slow, clock=clock)
    assert await round() == 10.0


async def test_a_paced_interval_counts_from_the_rounds_start_and_never_reaches_zero() -> None:
    clock = Clock()
    took = 0.0

    async def action() -> None:
        clock.now += took

    round = every(10.0, action, paced=True, clock=clock)
    took = 7.0
    assert await round() == 3.0
    took = 12.0
    assert await round() == MIN_PACED_WAIT_S


async def test_the_interval_is_read_anew_each_round() -> None:
    interval = [1.0]

    async def nothing() -> None:
        return None

    round = every(lambda: interval[0], nothing)
    assert await round() == 1.0
    interval[0] = 4.0
    assert await round() == 4.0


async def test_a_wakeup_ends_the_wait_and_the_first_wait_delays_the_first_round() -> None:
    rounds = 0
    wakeup = asyncio.Event()

    async def count() -> float | None:
        nonlocal rounds
        rounds += 1
        return None  # until woken

    task = Periodic("test-periodic-wake", count, wakeup=wakeup, first_wait_s=3600.0)
    await task.start()
    try:
        await asyncio.sleep(0.05)
        assert rounds == 0  # still in its first wait
        wakeup.set()
        await until(lambda: rounds == 1)
        await asyncio.sleep(0.05)
        assert rounds == 1  # cleared before the round: waits again
        wakeup.set()
        await until(lambda: rounds == 2)
    finally:
        await task.stop()
    assert not task.running


async def test_a_round_that_raises_is_started_again_and_stop_ends_it() -> None:
    calls = 0

    async def flaky() -> float:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("first round fails")
        return 0.01

    task = Periodic("test-periodic-flaky", flaky)
    await task.start()
    assert task.running
    try:
        await until(lambda: calls >= 3)
    finally:
        await task.stop()
    stopped_at = calls
    await asyncio.sleep(0.05)
    assert calls == stopped_at
    assert "test-periodic-flaky" not in LOOPS.states


async def test_a_round_without_a_wakeup_must_say_when_next() -> None:
    async def unbounded() -> float | None:
        return None

    with pytest.raises(ValueError, match="must say when next"):
        await Periodic("test-periodic-unbounded", unbounded)._wait(None)
