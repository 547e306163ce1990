"""probes.scheduler with a fake check and real (short) asyncio time.

Bounds on timing are deliberately loose: they tell "every period" from "twice a period" or
"never", not 100 ms from 105 ms, so a busy machine does not make them fail.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import random
from collections import Counter, defaultdict

import pytest

from orchestration_engine.probes import CheckResult, ProbeScheduler


class FakeCheck:
    """Records every call; its result's message names the target so tests can tell them apart."""

    def __init__(self, delay_s: float = 0.0, *, failing: frozenset[str] = frozenset()) -> None:
        self.delay_s = delay_s
        self.failing = failing
        self.calls: list[tuple[str, str, float]] = []
        self.cancelled: list[str] = []
        self.active = 0
        self.max_active = 0
        self.active_by_key: Counter[str] = Counter()
        self.max_active_per_key = 0

    async def __call__(self, key: str, target: str) -> CheckResult:
        self.calls.append((key, target, asyncio.get_running_loop().time()))
        self.active += 1
        self.active_by_key[key] += 1
        self.max_active = max(self.max_active, self.active)
        self.max_active_per_key = max(self.max_active_per_key, self.active_by_key[key])
        try:
            await asyncio.sleep(self.delay_s)
        except asyncio.CancelledError:
            self.cancelled.append(key)
            raise
        finally:
            self.active -= 1
            self.active_by_key[key] -= 1
        if key in self.failing:
            raise RuntimeError(f"boom in {key}")
        return CheckResult.failure(f"checked {target}")

    def times(self, key: str) -> list[float]:
        return [at for k, _, at in self.calls if k == key]


class Results:
    def __init__(self) -> None:
        self.items: list[tuple[str, CheckResult]] = []

    def __call__(self, key: str, result: CheckResult) -> None:
        self.items.append((key, result))

    def messages(self, key: str) -> list[str]:
        return [r.message for k, r in self.items if k == key]


def make(
    check: FakeCheck,
    results: Results,
    *,
    max_concurrency: int = 128,
    first_check_spread_s: float = 10.0,
) -> ProbeScheduler[str, str]:
    return ProbeScheduler(
        check,
        results,
        max_concurrency=max_concurrency,
        first_check_spread_s=first_check_spread_s,
        rng=random.Random(7),  # noqa: S311 - a seeded spread, not a secret
    )


async def test_each_key_runs_about_one_period_apart() -> None:
    check, results = FakeCheck(), Results()
    async with make(check, results) as scheduler:
        scheduler.upsert("a", "a", 0.1)
        scheduler.upsert("b", "b", 0.1)
        await asyncio.sleep(0.65)
    for key in ("a", "b"):
        times = check.times(key)
        assert 5 <= len(times) <= 8
        gaps = [later - earlier for earlier, later in itertools.pairwise(times)]
        assert all(0.05 < gap < 0.2 for gap in gaps), gaps
        assert 0.08 < sum(gaps) / len(gaps) < 0.12
        assert len(results.messages(key)) >= len(times) - 1


async def test_cadence_follows_due_times_not_finish_times() -> None:
    # Each check takes half a period; if the next were planned from the finish, the gap would be
    # 1.5 periods.
    check, results = FakeCheck(delay_s=0.05), Results()
    async with make(check, results, first_check_spread_s=0) as scheduler:
        scheduler.upsert("a", "a", 0.1)
        await asyncio.sleep(0.65)
    times = check.times("a")
    average = (times[-1] - times[0]) / (len(times) - 1)
    assert 0.08 < average < 0.12
    assert scheduler.skipped == 0


async def test_first_checks_are_spread_over_the_period() -> None:
    check, results = FakeCheck(), Results()
    async with make(check, results) as scheduler:
        started = asyncio.get_running_loop().time()
        for i in range(200):
            scheduler.upsert(f"svc-{i}", "t", 0.2)
        await asyncio.sleep(0.3)
    firsts = [check.times(f"svc-{i}")[0] - started for i in range(200)]
    assert max(firsts) < 0.3
    # Spread out, not all at the same instant: most 20 ms slices of the period got some.
    assert len({int(at / 0.02) for at in firsts}) >= 7


async def test_first_check_spread_is_capped_for_long_periods() -> None:
    check, results = FakeCheck(), Results()
    async with make(check, results, first_check_spread_s=0.05) as scheduler:
        for i in range(20):
            scheduler.upsert(f"svc-{i}", "t", 3600)
        await asyncio.sleep(0.25)
    assert {key for key, _, _ in check.calls} == {f"svc-{i}" for i in range(20)}


async def test_new_period_replans_at_once() -> None:
    check, results = FakeCheck(), Results()
    async with make(check, results, first_check_spread_s=0) as scheduler:
        scheduler.upsert("a", "a", 60)
        await asyncio.sleep(0.05)
        assert len(check.times("a")) == 1
        scheduler.upsert("a", "a", 0.05)
        assert scheduler.period_of("a") == 0.05
        await asyncio.sleep(0.5)
    assert len(check.times("a")) >= 6


async def test_repeated_upsert_of_the_same_plan_keeps_the_cadence() -> None:
    # Handlers upsert on every reconcile; that must neither postpone nor hurry the checks.
    check, results = FakeCheck(), Results()
    async with make(check, results) as scheduler:
        for _ in range(60):
            scheduler.upsert("a", "a", 0.1)
            await asyncio.sleep(0.01)
    assert 4 <= len(check.times("a")) <= 8


async def test_changed_target_is_checked_at_once_and_old_result_dropped() -> None:
    check, results = FakeCheck(delay_s=0.2), Results()
    async with make(check, results, first_check_spread_s=0) as scheduler:
        scheduler.upsert("a", "old", 60)
        await asyncio.sleep(0.05)
        scheduler.upsert("a", "new", 60)
        await asyncio.sleep(0.35)
    assert [target for _, target, _ in check.calls] == ["old", "new"]
    assert check.cancelled == ["a"]
    assert results.messages("a") == ["checked new"]
    assert check.max_active_per_key == 1


async def test_remove_stops_checks_and_drops_the_running_one() -> None:
    check, results = FakeCheck(delay_s=0.1), Results()
    async with make(check, results, first_check_spread_s=0) as scheduler:
        scheduler.upsert("gone", "t", 0.05)
        scheduler.upsert("kept", "t", 0.05)
        await asyncio.sleep(0.03)
        scheduler.remove("gone")
        scheduler.remove("never-added")
        calls_at_removal = len(check.times("gone"))
        await asyncio.sleep(0.4)
        assert "gone" not in scheduler
        assert len(scheduler) == 1
        assert scheduler.period_of("gone") is None
    assert len(check.times("gone")) == calls_at_removal == 1
    assert check.cancelled.count("gone") == 1
    assert results.messages("gone") == []
    assert len(results.messages("kept")) >= 2


async def test_slow_check_skips_ticks_instead_of_overlapping() -> None:
    check, results = FakeCheck(delay_s=0.18), Results()
    async with make(check, results, first_check_spread_s=0) as scheduler:
        scheduler.upsert("a", "a", 0.05)
        await asyncio.sleep(0.7)
    assert check.max_active_per_key == 1
    assert 2 <= len(check.times("a")) <= 5
    assert scheduler.skipped >= 5


async def test_concurrency_never_exceeds_the_bound() -> None:
    check, results = FakeCheck(delay_s=0.03), Results()
    peak_running = 0
    async with make(check, results, max_concurrency=5) as scheduler:
        for i in range(50):
            scheduler.upsert(f"svc-{i}", "t", 0.1)
        for _ in range(40):
            await asyncio.sleep(0.01)
            peak_running = max(peak_running, scheduler.running)
            assert scheduler.in_flight <= 50
    assert check.max_active == 5
    assert peak_running <= 5
    # Still, everybody got a turn.
    assert len({key for key, _, _ in check.calls}) == 50


async def test_exception_in_check_becomes_a_failed_result(
    caplog: pytest.LogCaptureFixture,
) -> None:
    check, results = FakeCheck(failing=frozenset({"bad"})), Results()
    with caplog.at_level(logging.ERROR, logger="orchestration_engine.probes.scheduler"):
        async with make(check, results, first_check_spread_s=0) as scheduler:
            scheduler.upsert("bad", "t", 0.05)
            scheduler.upsert("good", "t", 0.05)
            await asyncio.sleep(0.3)
    bad = [result for key, result in results.items if key == "bad"]
    assert len(bad) >= 3
    assert all(not r.ok and r.message == "RuntimeError: boom in bad" for r in bad)
    assert all(r.latency_ms is None for r in bad)
    assert len(results.messages("good")) >= 3
    assert "health check of 'bad' raised" in caplog.text


async def test_failing_callback_does_not_stop_the_loop(caplog: pytest.LogCaptureFixture) -> None:
    check = FakeCheck()
    delivered: list[str] = []

    def explode(key: str, _: CheckResult) -> None:
        delivered.append(key)
        raise ValueError("callback broke")

    with caplog.at_level(logging.ERROR, logger="orchestration_engine.probes.scheduler"):
        async with ProbeScheduler(check, explode, first_check_spread_s=0) as scheduler:
            scheduler.upsert("a", "t", 0.05)
            await asyncio.sleep(0.3)
    assert len(delivered) >= 4
    assert "callback broke" in caplog.text


async def test_async_callback_is_awaited() -> None:
    check = FakeCheck()
    delivered: defaultdict[str, list[CheckResult]] = defaultdict(list)

    async def store(key: str, result: CheckResult) -> None:
        await asyncio.sleep(0)
        delivered[key].append(result)

    async with ProbeScheduler(check, store, first_check_spread_s=0) as scheduler:
        scheduler.upsert("a", "t", 0.05)
        await asyncio.sleep(0.2)
    assert len(delivered["a"]) >= 2


async def test_stop_leaves_no_task_behind() -> None:
    before = asyncio.all_tasks()
    check, results = FakeCheck(delay_s=5), Results()
    scheduler = make(check, results, first_check_spread_s=0)
    await scheduler.start()
    await scheduler.start()  # harmless
    for i in range(20):
        scheduler.upsert(f"svc-{i}", "t", 0.05)
    await asyncio.sleep(0.1)
    assert scheduler.in_flight == 20
    await scheduler.stop()
    assert asyncio.all_tasks() <= before
    assert scheduler.in_flight == 0
    assert sorted(check.cancelled) == sorted(f"svc-{i}" for i in range(20))
    assert results.items == []
    # Stopped is not forgotten: starting again picks the keys up.
    check.delay_s = 0
    await scheduler.start()
    await asyncio.sleep(0.15)
    await scheduler.stop()
    assert asyncio.all_tasks() <= before
    assert len(results.items) >= 20


async def test_a_thousand_keys_are_all_checked_within_the_period() -> None:
    check, results = FakeCheck(), Results()
    async with make(check, results) as scheduler:
        for i in range(1000):
            scheduler.upsert(f"svc-{i}", "t", 0.2)
        await asyncio.sleep(0.5)
        assert len(scheduler) == 1000
        # Each key has exactly one live entry; nothing was re-planned, so nothing is stale.
        assert len(scheduler._heap) == 1000
    assert len({key for key, _, _ in check.calls}) == 1000
    assert len(results.items) >= 1000


async def test_heap_stays_bounded_under_replanning() -> None:
    check, results = FakeCheck(), Results()
    scheduler = make(check, results)
    keys = [f"svc-{i}" for i in range(300)]
    for round_ in range(40):
        for key in keys:
            scheduler.upsert(key, f"target-{round_ % 3}", 1.0 + round_ % 2)
            assert len(scheduler._heap) <= 2 * len(scheduler) + 65
    for key in keys[::2]:
        scheduler.remove(key)
        assert len(scheduler._heap) <= 2 * len(scheduler) + 65
    assert len(scheduler) == 150
    # The live entries survived the rebuilds: every remaining key still gets checked.
    for key in keys[1::2]:
        scheduler.upsert(key, "final", 0.05)
    async with scheduler:
        await asyncio.sleep(0.2)
    assert {key for key, _, _ in check.calls} == set(keys[1::2])


@pytest.mark.parametrize("period", [0, -1, float("nan"), float("inf")])
def test_period_must_be_positive(period: float) -> None:
    scheduler = make(FakeCheck(), Results())
    with pytest.raises(ValueError, match="period_s"):
        scheduler.upsert("a", "t", period)


def test_concurrency_must_be_positive() -> None:
    with pytest.raises(ValueError, match="max_concurrency"):
        make(FakeCheck(), Results(), max_concurrency=0)
