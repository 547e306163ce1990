"""Retention on SQLite and a real PostgreSQL: old raw checks become hourly roll-ups with the
right counts, exactly once however often it runs and however it is chunked, and expired
roll-ups go; the background task keeps going through an unreachable database."""

from __future__ import annotations

import logging
import random
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncEngine
from store_servers import Backend

from orchestration_engine.store import create_engine, upgrade
from orchestration_engine.store.retention import (
    RetentionResult,
    RetentionTask,
    raw_cutoff,
    roll_up_and_prune,
)
from orchestration_engine.store.rows import new_row_id
from orchestration_engine.store.tables import health_check_rollups, health_checks, scaling_samples
from waiting import wait_for_async

NOW = datetime(2026, 11, 20, 12, 30, tzinfo=UTC)
WEEK = timedelta(days=7)
QUARTER = timedelta(days=90)
CUTOFF = datetime(2026, 11, 13, 12, 0, tzinfo=UTC)  # NOW - WEEK, down to the hour


@pytest.fixture
async def engine(backend: Backend) -> AsyncIterator[AsyncEngine]:
    await upgrade(backend.url)
    engine = create_engine(backend.url)
    try:
        yield engine
    finally:
        await engine.dispose()


def check(
    moment: datetime,
    ok: bool = True,
    latency: float | None = 10.0,
    service: str = "payments",
    namespace: str = "shop",
) -> dict[str, Any]:
    return {
        "row_id": new_row_id(),
        "timestamp": moment,
        "namespace": namespace,
        "service": service,
        "ok": ok,
        "latency_ms": latency,
        "health": "HEALTHY",
        "message": "",
    }


def rollup(
    hour: datetime,
    checks: int,
    passed: int,
    latency_sum: float,
    latency_max: float | None,
    latency_count: int,
    service: str = "payments",
) -> dict[str, Any]:
    return {
        "row_id": new_row_id(),
        "namespace": "shop",
        "service": service,
        "hour": hour,
        "checks": checks,
        "passed": passed,
        "latency_sum_ms": latency_sum,
        "latency_max_ms": latency_max,
        "latency_count": latency_count,
    }


async def add(engine: AsyncEngine, table: Any, rows: list[dict[str, Any]]) -> None:
    async with engine.begin() as connection:
        await connection.execute(insert(table), rows)


async def rollups(engine: AsyncEngine) -> dict[tuple[str, datetime], tuple[Any, ...]]:
    table = health_check_rollups
    query = select(
        table.c.service,
        table.c.hour,
        table.c.checks,
        table.c.passed,
        table.c.latency_sum_ms,
        table.c.latency_max_ms,
        table.c.latency_count,
    )
    async with engine.connect() as connection:
        return {(row[0], row[1]): tuple(row[2:]) for row in await connection.execute(query)}


async def raw_times(engine: AsyncEngine) -> list[datetime]:
    query = select(health_checks.c.timestamp).order_by(health_checks.c.timestamp)
    async with engine.connect() as connection:
        return list((await connection.execute(query)).scalars())


def at(day: int, hour: int, minute: int = 0, second: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, minute, second, tzinfo=UTC)


def test_cutoff_is_whole_hours() -> None:
    assert raw_cutoff(NOW, WEEK) == CUTOFF
    assert raw_cutoff(NOW.replace(tzinfo=None), WEEK) == CUTOFF  # naive means UTC


@pytest.mark.parametrize("chunk_rows", [1, 2, 20_000])
async def test_old_checks_become_hourly_rollups_and_new_ones_stay(
    engine: AsyncEngine, chunk_rows: int
) -> None:
    old = [
        check(at(13, 10, 5), latency=10.0),
        check(at(13, 10, 20), latency=30.0),
        check(at(13, 10, 40), ok=False, latency=5000.0),  # a failure's latency is not counted
        check(at(13, 10, 59, 59), latency=None),  # passed, no latency
        check(at(13, 11, 10), latency=5.0),
        check(at(13, 10, 30), ok=False, latency=None, service="search"),
        check(at(1, 0, 0), latency=2.0),  # weeks old: its own hour
    ]
    kept = [
        check(at(13, 12, 0)),  # the cutoff itself is kept
        check(at(13, 12, 10)),
        check(at(19, 9, 0)),
    ]
    await add(engine, health_checks, old + kept)

    result = await roll_up_and_prune(engine, NOW, WEEK, QUARTER, chunk_rows=chunk_rows)

    assert result.rows_rolled_up == result.raw_deleted == len(old)
    assert result.rollups_deleted == 0
    assert await rollups(engine) == {
        ("payments", at(13, 10)): (4, 3, 40.0, 30.0, 2),
        ("payments", at(13, 11)): (1, 1, 5.0, 5.0, 1),
        ("search", at(13, 10)): (1, 0, 0.0, None, 0),
        ("payments", at(1, 0)): (1, 1, 2.0, 2.0, 1),
    }
    if chunk_rows == 20_000:
        assert result.rollups_written == 4
    assert await raw_times(engine) == [at(13, 12, 0), at(13, 12, 10), at(19, 9, 0)]


async def test_running_again_adds_nothing(engine: AsyncEngine) -> None:
    await add(engine, health_checks, [check(at(13, 10, 5)), check(at(13, 11, 5)), check(at(19, 1))])
    first = await roll_up_and_prune(engine, NOW, WEEK, QUARTER)
    assert first.rows_rolled_up == 2
    before = await rollups(engine)

    again = await roll_up_and_prune(engine, NOW, WEEK, QUARTER)

    assert again == RetentionResult()
    assert await rollups(engine) == before
    assert await raw_times(engine) == [at(19, 1)]


async def test_an_hour_already_rolled_up_is_merged(engine: AsyncEngine) -> None:
    await add(
        engine,
        health_check_rollups,
        [
            rollup(at(13, 10), 5, 4, 100.0, 50.0, 4),
            rollup(at(13, 11), 2, 0, 0.0, None, 0),
            rollup(at(13, 9), 1, 1, 1.0, 1.0, 1),  # untouched
        ],
    )
    # Late arrivals for hours rolled up before, as after a spill file was replayed.
    await add(
        engine,
        health_checks,
        [
            check(at(13, 10, 1), latency=20.0),
            check(at(13, 10, 2), latency=60.0),
            check(at(13, 10, 3), ok=False, latency=None),
            check(at(13, 11, 1), latency=7.0),
        ],
    )

    result = await roll_up_and_prune(engine, NOW, WEEK, QUARTER)

    assert result.rows_rolled_up == 4
    assert result.rollups_written == 2
    assert await rollups(engine) == {
        ("payments", at(13, 10)): (8, 6, 180.0, 60.0, 6),
        ("payments", at(13, 11)): (3, 1, 7.0, 7.0, 1),  # a max where there was none
        ("payments", at(13, 9)): (1, 1, 1.0, 1.0, 1),
    }
    async with engine.connect() as connection:
        count = (await connection.execute(select(func.count(health_check_rollups.c.id)))).scalar()
    assert count == 3  # merged into, not added beside


async def test_old_rollups_are_deleted(engine: AsyncEngine) -> None:
    ninety_days_before = NOW - QUARTER  # 2026-08-22 12:30
    await add(
        engine,
        health_check_rollups,
        [
            rollup(ninety_days_before.replace(minute=0) - timedelta(hours=1), 1, 1, 1.0, 1.0, 1),
            rollup(ninety_days_before.replace(minute=0) - timedelta(days=30), 1, 1, 1.0, 1.0, 1),
            rollup(ninety_days_before.replace(minute=0), 1, 1, 1.0, 1.0, 1, service="kept"),
            rollup(at(1, 0), 1, 1, 1.0, 1.0, 1, service="kept"),
        ],
    )

    result = await roll_up_and_prune(engine, NOW, WEEK, QUARTER, chunk_rows=1)

    assert result.rollups_deleted == 2
    assert {service for service, _ in await rollups(engine)} == {"kept"}


async def test_demand_samples_go_with_the_raw_checks(engine: AsyncEngine) -> None:
    def sample(moment: datetime) -> dict[str, Any]:
        return {
            "row_id": new_row_id(),
            "timestamp": moment,
            "namespace": "shop",
            "service": "payments",
            "replicas": 2,
            "p95_latency_ms": None,
            "demand": 1.0,
            "forecast": None,
        }

    kept = CUTOFF + timedelta(minutes=5)
    await add(
        engine,
        scaling_samples,
        [sample(CUTOFF - timedelta(minutes=5)), sample(CUTOFF - timedelta(days=3)), sample(kept)],
    )

    await roll_up_and_prune(engine, NOW, WEEK, QUARTER, chunk_rows=1)

    async with engine.connect() as connection:
        left = (await connection.execute(select(scaling_samples.c.timestamp))).scalars().all()
    assert left == [kept]


async def test_many_checks_at_one_moment_do_not_stall_a_small_chunk(engine: AsyncEngine) -> None:
    moment = at(10, 3, 0)
    await add(engine, health_checks, [check(moment, latency=float(i)) for i in range(5)])

    result = await roll_up_and_prune(engine, NOW, WEEK, QUARTER, chunk_rows=2)

    assert result.rows_rolled_up == 5
    assert await rollups(engine) == {("payments", at(10, 3)): (5, 5, 10.0, 4.0, 5)}


async def test_random_series_any_chunking_loses_and_doubles_nothing(engine: AsyncEngine) -> None:
    chance = random.Random(20261124)  # noqa: S311 (test data, not secrets)
    rows = []
    for _ in range(600):
        moment = NOW - timedelta(seconds=chance.uniform(0, 10 * 86_400))
        ok = chance.random() < 0.8
        latency = None if chance.random() < 0.1 else float(chance.randint(1, 500))
        service = chance.choice(["a", "b", "c"])
        rows.append(check(moment, ok=ok, latency=latency, service=service))
    await add(engine, health_checks, rows)

    expected: dict[tuple[str, datetime], list[Any]] = {}
    for row in rows:
        moment = row["timestamp"]
        if moment >= CUTOFF:
            continue
        key = (row["service"], moment.replace(minute=0, second=0, microsecond=0))
        totals = expected.setdefault(key, [0, 0, 0.0, None, 0])
        totals[0] += 1
        if row["ok"]:
            totals[1] += 1
            if row["latency_ms"] is not None:
                totals[2] += row["latency_ms"]
                totals[3] = max(totals[3] or 0.0, row["latency_ms"])
                totals[4] += 1

    # Two runs, the first interrupted half way by a smaller cutoff, chunks of odd sizes.
    await roll_up_and_prune(engine, NOW - timedelta(days=1, hours=5), WEEK, QUARTER, chunk_rows=7)
    await roll_up_and_prune(engine, NOW, WEEK, QUARTER, chunk_rows=13)

    assert await rollups(engine) == {key: tuple(value) for key, value in expected.items()}
    remaining = await raw_times(engine)
    assert len(remaining) == sum(1 for row in rows if row["timestamp"] >= CUTOFF)
    assert all(moment >= CUTOFF for moment in remaining)


async def test_arguments_are_checked(engine: AsyncEngine) -> None:
    with pytest.raises(ValueError, match="positive"):
        await roll_up_and_prune(engine, NOW, timedelta(0), QUARTER)
    with pytest.raises(ValueError, match="chunk_rows"):
        await roll_up_and_prune(engine, NOW, WEEK, QUARTER, chunk_rows=0)


async def test_task_runs_every_interval_and_survives_an_unreachable_database(
    backend: Backend, caplog: pytest.LogCaptureFixture
) -> None:
    await upgrade(backend.url)
    engine = create_engine(backend.url)
    try:
        await add(engine, health_checks, [check(at(13, 10, 5)), check(at(19, 1))])
    finally:
        await engine.dispose()
    backend.down()
    task = RetentionTask(
        backend.url,
        interval=timedelta(seconds=0.05),
        first_run_after=timedelta(0),
        clock=lambda: NOW,
    )
    caplog.set_level(logging.WARNING, logger="orchestration_engine.store.retention")
    await task.start()
    try:
        await wait_for_async(lambda: task.runs >= 2, 30, "two failed runs")
        assert task.running
        assert task.last_result is None
        assert task.last_error
        assert "retention" in caplog.text

        backend.up()
        await wait_for_async(lambda: task.last_result is not None, 30, "a run after recovery")
        assert task.last_error is None
        await wait_for_async(lambda: task.runs >= 6, 30, "more runs")
    finally:
        await task.stop()
    assert not task.running

    engine = create_engine(backend.url)
    try:
        assert await raw_times(engine) == [at(19, 1)]
        assert await rollups(engine) == {("payments", at(13, 10)): (1, 1, 10.0, 10.0, 1)}
    finally:
        await engine.dispose()


async def test_task_with_a_shared_engine_leaves_it_open(engine: AsyncEngine) -> None:
    await add(engine, health_checks, [check(at(13, 10, 5))])
    task = RetentionTask(engine, interval=timedelta(hours=1), first_run_after=timedelta(hours=1))
    await task.start()
    result = await task.run_once()
    await task.stop()
    assert result is not None
    assert result.rows_rolled_up == 1
    async with engine.connect() as connection:  # still usable
        assert (await connection.execute(select(func.count(health_checks.c.id)))).scalar() == 0
