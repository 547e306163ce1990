"""Long-lived loops under the supervisor (plumbing/supervision.py): restarted, counted, and liveness
red only for a loop that cannot come back."""

from __future__ import annotations

import asyncio

import pytest

from orchestration_engine.core.api_retry import RetryPolicy
from orchestration_engine.plumbing import metrics
from orchestration_engine.plumbing.supervision import Loops, LoopState, failing

FAST = RetryPolicy(base_s=0.001, cap_s=0.01)


def restarts(loop: str) -> float:
    return metrics.LOOP_RESTARTS.labels(loop)._value.get()


async def test_a_loop_that_raises_is_started_again_and_counted() -> None:
    loops = Loops(backoff=FAST)
    runs = 0
    done = asyncio.Event()

    async def flaky() -> None:
        nonlocal runs
        runs += 1
        if runs < 3:
            raise ConnectionResetError("reset by peer")
        done.set()
        await asyncio.Event().wait()  # then runs for good

    before = restarts("flaky-test")
    task = loops.spawn("flaky-test", flaky)
    await asyncio.wait_for(done.wait(), 5)
    assert restarts("flaky-test") - before == 2
    assert runs == 3
    assert "1 loops running, 2 restarts" in loops.probe()  # two in a row: not failing
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert "flaky-test" not in loops.states  # a stopped loop says nothing about liveness


async def test_liveness_goes_red_only_for_a_loop_that_keeps_failing() -> None:
    clock = [0.0]
    loops = Loops(max_consecutive=3, stable_after_s=60, backoff=FAST, clock=lambda: clock[0])
    healthy_started = asyncio.Event()

    async def broken() -> None:
        raise RuntimeError("cannot come back")

    async def healthy() -> None:
        healthy_started.set()
        await asyncio.Event().wait()

    tasks = [loops.spawn("broken-test", broken), loops.spawn("healthy-test", healthy)]
    await asyncio.wait_for(healthy_started.wait(), 5)
    for _ in range(200):
        if loops.states["broken-test"].consecutive >= 3:
            break
        await asyncio.sleep(0.005)
    with pytest.raises(RuntimeError, match=r"broken-test \(\d+ in a row: RuntimeError"):
        loops.probe()
    assert [s.name for s in loops.failing()] == ["broken-test"]
    assert metrics.LOOPS_FAILING._value.get() == 1
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    assert loops.probe() == "0 loops running, 0 restarts"


async def test_a_loop_that_returns_has_finished() -> None:
    loops = Loops(backoff=FAST)
    runs = 0

    async def once() -> None:
        nonlocal runs
        runs += 1

    await loops.spawn("once-test", once)
    assert runs == 1
    assert loops.states == {}


def test_failing_clears_once_a_loop_has_run_long_enough() -> None:
    state = LoopState("x", started_at=100.0, consecutive=5, running=True)
    assert failing(state, 130.0, max_consecutive=5, stable_after_s=60)
    assert not failing(state, 160.0, max_consecutive=5, stable_after_s=60)
    state.running = False  # waiting for its next start
    assert failing(state, 1000.0, max_consecutive=5, stable_after_s=60)
    assert not failing(LoopState("y", 0.0, consecutive=4), 1.0, 5, 60)


async def test_a_long_run_resets_the_count() -> None:
    clock = [0.0]
    loops = Loops(max_consecutive=2, stable_after_s=60, backoff=FAST, clock=lambda: clock[0])
    runs = 0
    third = asyncio.Event()

    async def rare() -> None:
        nonlocal runs
        runs += 1
        if runs >= 3:
            third.set()
            await asyncio.Event().wait()
        clock[0] += 120  # failed, but only after two minutes of work
        raise RuntimeError("rare")

    task = loops.spawn("rare-test", rare)
    await asyncio.wait_for(third.wait(), 5)
    assert loops.states["rare-test"].consecutive == 1
    assert not loops.failing()
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
