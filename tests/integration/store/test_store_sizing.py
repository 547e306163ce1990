"""Retention by size and the history's retention by age, on SQLite and a real PostgreSQL.

Over its budget the store cuts its oldest raw checks (rolled up first, so the report keeps
their counts) until its rows fit again, in short chunks, and measures the cut; within its
budget nothing goes. Events, workflow rows and engine rounds older than their retention go,
newer ones and the service registry stay. The size is published as metrics."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from prometheus_client import REGISTRY
from sqlalchemy import Table, func, insert, select
from sqlalchemy.ext.asyncio import AsyncEngine
from store_servers import Backend

from orchestration_engine.store import create_engine, upgrade
from orchestration_engine.store.retention import RetentionTask, roll_up_and_prune
from orchestration_engine.store.rows import iso, new_row_id
from orchestration_engine.store.sizing import enforce_budget, measure
from orchestration_engine.store.tables import (
    events,
    health_check_rollups,
    health_checks,
    orchestration_metrics,
    service_registry,
    workflow_management,
)

NOW = datetime(2026, 11, 20, 12, 30, tzinfo=UTC)
CHECKS = 20_000


@pytest.fixture
async def engine(backend: Backend) -> AsyncIterator[AsyncEngine]:
    await upgrade(backend.url)
    engine = create_engine(backend.url)
    try:
        yield engine
    finally:
        await engine.dispose()


async def insert_rows(engine: AsyncEngine, table: Table, rows: list[dict[str, Any]]) -> None:
    async with engine.begin() as connection:
        for start in range(0, len(rows), 5000):
            await connection.execute(insert(table), rows[start : start + 5000])


async def count(engine: AsyncEngine, table: Table) -> int:
    async with engine.connect() as connection:
        return int((await connection.execute(select(func.count()).select_from(table))).scalar_one())


def checks(n: int, start: datetime) -> list[dict[str, Any]]:
    # One check a second over 50 services, the oldest first.
    return [
        {
            "row_id": new_row_id(),
            "timestamp": start + timedelta(seconds=i),
            "namespace": "shop",
            "service": f"svc-{i % 50:02d}",
            "ok": i % 7 != 0,
            "latency_ms": 12.5,
            "health": "HEALTHY",
            "message": "" if i % 7 else "connect timeout after 1.0 s",
        }
        for i in range(n)
    ]


def event(moment: datetime) -> dict[str, Any]:
    return {
        "row_id": new_row_id(),
        "timestamp": moment,
        "kind": "OrchestratedService",
        "namespace": "shop",
        "name": "payments",
        "reason": "HealthChanged",
        "message": "HEALTHY -> WARNING",
        "data": "{}",
    }


def workflow_row(moment: datetime) -> dict[str, Any]:
    return {
        "row_id": new_row_id(),
        "orchestration_id": "o",
        "namespace": "shop",
        "workflow_id": "uid",
        "workflow_name": "deploy",
        "workflow_type": "DEPLOYMENT",
        "priority": "HIGH",
        "execution_plan": "[]",
        "dependencies": "[]",
        "estimated_duration": 60,
        "resource_allocation": "{}",
        "success_criteria": "{}",
        "rollback_plan": "[]",
        "status": "COMPLETED",
        "progress": 100.0,
        "timestamp": iso(moment),
    }


def engine_round(moment: datetime) -> dict[str, Any]:
    numbers = dict.fromkeys(
        (
            "total_services", "active_services", "failed_services", "healthy_services",
            "warning_services", "critical_services", "total_workflows", "completed_workflows",
            "failed_workflows",
        ),
        1,
    )  # fmt: skip
    scores = dict.fromkeys(
        (
            "average_response_time", "optimization_score", "reliability_score",
            "performance_score", "cost_efficiency", "ai_optimization_score",
        ),
        1.0,
    )  # fmt: skip
    return {
        "row_id": new_row_id(),
        "orchestration_id": "o",
        **numbers,
        **scores,
        "resource_utilization": "{}",
        "quantum_enhancement_active": False,
        "timestamp": iso(moment),
    }


def registry_row(moment: datetime) -> dict[str, Any]:
    return {
        "row_id": new_row_id(),
        "orchestration_id": "o",
        "namespace": "shop",
        "service_id": "uid",
        "service_name": "payments",
        "service_type": "API",
        "priority": "HIGH",
        "health_status": "HEALTHY",
        "resource_requirements": "{}",
        "dependencies": "[]",
        "configuration": "{}",
        "metrics": "{}",
        "uptime_percentage": 100.0,
        "timestamp": iso(moment),
    }


async def test_over_its_budget_the_oldest_checks_are_rolled_up_until_the_rows_fit(
    engine: AsyncEngine,
) -> None:
    start = NOW - timedelta(days=1)
    await insert_rows(engine, health_checks, checks(CHECKS, start))
    await insert_rows(engine, events, [event(start) for _ in range(100)])
    before = await measure(engine, with_tables=True)
    budget = before.used_bytes // 2

    after, cut = await enforce_budget(engine, budget, chunk_rows=1000)

    assert after.used_bytes <= budget
    assert set(cut) == {"health_checks"}  # raw checks alone were enough
    left = await count(engine, health_checks)
    assert left == CHECKS - cut["health_checks"]
    assert CHECKS * 0.3 < left < CHECKS * 0.7
    async with engine.connect() as connection:
        oldest_left = (
            await connection.execute(select(func.min(health_checks.c.timestamp)))
        ).scalar()
        folded = (
            await connection.execute(select(func.sum(health_check_rollups.c.checks)))
        ).scalar()
    # The oldest went, the newest stayed, and every check cut is counted in a roll-up.
    assert oldest_left == start + timedelta(seconds=cut["health_checks"])
    assert folded == cut["health_checks"]
    assert await count(engine, events) == 100

    # Measured again: within the budget now, so nothing more goes.
    again, nothing = await enforce_budget(engine, budget, chunk_rows=1000)
    assert nothing == {}
    assert await count(engine, health_checks) == left
    assert again.used_bytes <= budget


async def test_within_its_budget_or_without_one_nothing_is_cut(engine: AsyncEngine) -> None:
    await insert_rows(engine, health_checks, checks(2000, NOW - timedelta(hours=1)))
    size = await measure(engine)
    assert size.used_bytes > 0
    assert size.disk_bytes >= size.used_bytes
    for budget in (None, size.disk_bytes * 2):
        _after, cut = await enforce_budget(engine, budget)
        assert cut == {}
    assert await count(engine, health_checks) == 2000


async def test_when_checks_are_not_enough_history_goes_next_oldest_first(
    engine: AsyncEngine,
) -> None:
    old = NOW - timedelta(days=3)
    await insert_rows(engine, health_checks, checks(200, old))
    await insert_rows(engine, events, [event(old + timedelta(minutes=i)) for i in range(3000)])
    await insert_rows(engine, service_registry, [registry_row(old) for _ in range(500)])
    before = await measure(engine, with_tables=True)
    assert before.tables is not None
    registry = before.tables["service_registry"].bytes
    budget = registry + (before.used_bytes - registry) // 3

    after, cut = await enforce_budget(engine, budget, chunk_rows=500)

    assert cut["health_checks"] == 200
    assert 0 < cut["events"] < 3000
    assert after.used_bytes <= budget
    assert await count(engine, service_registry) == 500  # never cut for size
    async with engine.connect() as connection:
        oldest = (await connection.execute(select(func.min(events.c.timestamp)))).scalar()
    assert oldest == old + timedelta(minutes=cut["events"])


async def test_events_workflow_rows_and_engine_rounds_expire_by_age(engine: AsyncEngine) -> None:
    old, recent = NOW - timedelta(days=91), NOW - timedelta(days=89)
    await insert_rows(engine, events, [event(old), event(recent)])
    await insert_rows(engine, workflow_management, [workflow_row(old), workflow_row(recent)])
    await insert_rows(engine, orchestration_metrics, [engine_round(old), engine_round(recent)])
    await insert_rows(engine, service_registry, [registry_row(old)])

    result = await roll_up_and_prune(engine, NOW, history_retention=timedelta(days=90))

    assert result.history_deleted == 3
    for table in (events, workflow_management, orchestration_metrics):
        assert await count(engine, table) == 1, table.name
    assert await count(engine, service_registry) == 1


def sample(name: str) -> float | None:
    return REGISTRY.get_sample_value(name)


async def test_the_task_publishes_the_size_and_the_budget(backend: Backend) -> None:
    await upgrade(backend.url)
    task = RetentionTask(backend.url, max_size="1Gi", first_run_after=timedelta(0))
    try:
        size = await task.enforce_size()
        assert size is not None
        assert sample("eoe_store_size_bytes") == size.used_bytes > 0
        assert sample("eoe_store_disk_bytes") == size.disk_bytes >= size.used_bytes
        assert sample("eoe_store_max_bytes") == 2**30
    finally:
        await task.stop()


async def test_a_failed_size_check_is_counted_and_the_task_goes_on(tmp_path: Any) -> None:
    # A directory where the database file should be: every connection fails.
    (tmp_path / "store.db").mkdir()
    task = RetentionTask(f"sqlite:///{tmp_path / 'store.db'}", max_size="1Gi")
    before = sample("eoe_store_retention_errors_total") or 0
    try:
        assert await task.enforce_size() is None
        assert task.last_error
        assert sample("eoe_store_retention_errors_total") == before + 1
    finally:
        await task.stop()
