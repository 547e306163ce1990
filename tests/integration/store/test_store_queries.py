"""The report's queries on SQLite and a real PostgreSQL, against small series whose answers
are known exactly: counts, uptime, mean and nearest-rank p95 latency, roll-ups counted in,
the newest events, and the latest row of each service, workflow and engine snapshot."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncEngine
from store_servers import Backend

from orchestration_engine.store import create_engine, upgrade
from orchestration_engine.store.queries import (
    EventRecord,
    ServiceCheckStats,
    demand_history,
    latest_orchestration_metrics,
    latest_service_rows,
    nearest_rank,
    recent_events,
    service_check_stats,
    workflow_status_counts,
)
from orchestration_engine.store.rows import iso, new_row_id
from orchestration_engine.store.tables import (
    events,
    health_check_rollups,
    health_checks,
    orchestration_metrics,
    scaling_samples,
    service_registry,
    workflow_management,
)

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
SINCE = NOW - timedelta(hours=24)


@pytest.fixture
async def engine(backend: Backend) -> AsyncIterator[AsyncEngine]:
    await upgrade(backend.url)
    engine = create_engine(backend.url)
    try:
        yield engine
    finally:
        await engine.dispose()


async def add(engine: AsyncEngine, table: Any, rows: list[dict[str, Any]]) -> None:
    async with engine.begin() as connection:
        await connection.execute(insert(table), rows)


def check(
    service: str,
    minutes_ago: float,
    ok: bool = True,
    latency: float | None = 10.0,
    namespace: str = "shop",
) -> dict[str, Any]:
    return {
        "row_id": new_row_id(),
        "timestamp": NOW - timedelta(minutes=minutes_ago),
        "namespace": namespace,
        "service": service,
        "ok": ok,
        "latency_ms": latency,
        "health": "HEALTHY",
        "message": "",
    }


def test_nearest_rank() -> None:
    assert nearest_rank(1) == 1
    assert nearest_rank(20) == 19
    assert nearest_rank(100) == 95
    assert nearest_rank(101) == 96
    assert nearest_rank(19) == 19  # 18.05 rounds up


async def test_service_check_stats(engine: AsyncEngine) -> None:
    latencies = [(i * 37) % 100 + 1 for i in range(100)]  # 1..100, shuffled
    assert sorted(latencies) == list(range(1, 101))
    rows = [check("payments", i, latency=float(v)) for i, v in enumerate(latencies)]
    rows += [
        check("payments", 200, ok=False, latency=9000.0),  # failures: counted, not timed
        check("payments", 201, ok=False, latency=None),
        check("payments", 202, latency=None),  # passed, no latency
        check("payments", 25 * 60, latency=1.0),  # before `since`
    ]
    rows += [check("search", 3, latency=7.0), check("search", 2, ok=False)]
    rows += [check("search", 5, ok=False, latency=None, namespace="other")]
    rows += [check(f"tiny-{n}", 1, latency=float(n)) for n in range(1, 4)]
    await add(engine, health_checks, rows)

    stats = await service_check_stats(engine, SINCE)

    by_key = {(s.namespace, s.service): s for s in stats}
    assert [(s.namespace, s.service) for s in stats] == sorted(by_key)
    assert by_key[("shop", "payments")] == ServiceCheckStats(
        namespace="shop",
        service="payments",
        checks=103,
        passed=101,
        uptime_percent=pytest.approx(101 / 103 * 100),
        avg_latency_ms=pytest.approx(50.5),
        p95_latency_ms=95.0,
        last_check=NOW,
        rolled_up_checks=0,
    )
    search = by_key[("shop", "search")]
    assert (search.checks, search.passed, search.uptime_percent) == (2, 1, 50.0)
    assert (search.avg_latency_ms, search.p95_latency_ms) == (7.0, 7.0)
    assert search.last_check == NOW - timedelta(minutes=2)
    failing = by_key[("other", "search")]
    assert (failing.checks, failing.passed, failing.uptime_percent) == (1, 0, 0.0)
    assert failing.avg_latency_ms is None
    assert failing.p95_latency_ms is None
    assert by_key[("shop", "tiny-2")].p95_latency_ms == 2.0
    assert len(stats) == 6


async def test_p95_of_twenty_is_the_nineteenth(engine: AsyncEngine) -> None:
    await add(engine, health_checks, [check("api", i, latency=float(i + 1)) for i in range(20)])
    [stats] = await service_check_stats(engine, SINCE)
    assert stats.p95_latency_ms == 19.0
    assert stats.avg_latency_ms == pytest.approx(10.5)


async def test_p95_for_more_services_than_one_statement_takes(engine: AsyncEngine) -> None:
    rows = []
    for n in range(650):
        rows += [check(f"svc-{n:03d}", i, latency=float(n * 100 + i)) for i in range(3)]
    await add(engine, health_checks, rows)

    stats = await service_check_stats(engine, SINCE)

    assert len(stats) == 650
    # Three values n*100 + 0..2: the p95 is the largest.
    assert [s.p95_latency_ms for s in stats] == [float(n * 100 + 2) for n in range(650)]


async def test_rollups_add_counts_and_mean_but_not_p95(engine: AsyncEngine) -> None:
    since = NOW - timedelta(days=30)
    await add(
        engine, health_checks, [check("payments", i, latency=float(i + 1)) for i in range(20)]
    )

    def rollup(service: str, hour: datetime, checks: int, passed: int, total: float, count: int):
        return {
            "row_id": new_row_id(),
            "namespace": "shop",
            "service": service,
            "hour": hour,
            "checks": checks,
            "passed": passed,
            "latency_sum_ms": total,
            "latency_max_ms": total,
            "latency_count": count,
        }

    old_hour = datetime(2026, 11, 10, 8, 0, tzinfo=UTC)
    await add(
        engine,
        health_check_rollups,
        [
            rollup("payments", old_hour, 10, 5, 500.0, 5),
            rollup("payments", old_hour + timedelta(hours=1), 10, 10, 1000.0, 10),
            rollup("payments", since - timedelta(hours=1), 1000, 0, 0.0, 0),  # before `since`
            rollup("retired", old_hour, 4, 3, 30.0, 3),  # no raw checks left
        ],
    )

    stats = {s.service: s for s in await service_check_stats(engine, since)}

    payments = stats["payments"]
    assert (payments.checks, payments.passed, payments.rolled_up_checks) == (40, 35, 20)
    assert payments.uptime_percent == pytest.approx(35 / 40 * 100)
    assert payments.avg_latency_ms == pytest.approx((210.0 + 1500.0) / 35)
    assert payments.p95_latency_ms == 19.0  # the raw checks only
    assert payments.last_check == NOW
    retired = stats["retired"]
    assert (retired.checks, retired.passed, retired.rolled_up_checks) == (4, 3, 4)
    assert retired.avg_latency_ms == pytest.approx(10.0)
    assert retired.p95_latency_ms is None
    assert retired.last_check == old_hour

    # A day back reaches no roll-up: the raw checks alone.
    recent = {s.service: s for s in await service_check_stats(engine, SINCE)}
    assert set(recent) == {"payments"}
    assert (recent["payments"].checks, recent["payments"].rolled_up_checks) == (20, 0)


def sample(service: str, minutes_ago: float, demand: float) -> dict[str, Any]:
    return {
        "row_id": new_row_id(),
        "timestamp": NOW - timedelta(minutes=minutes_ago),
        "namespace": "shop",
        "service": service,
        "replicas": 3,
        "p95_latency_ms": 80.0,
        "demand": demand,
        "forecast": None,
    }


async def test_demand_history_is_one_service_since_a_moment_oldest_first(
    engine: AsyncEngine,
) -> None:
    await add(
        engine,
        scaling_samples,
        [
            sample("web", 5, 2.5),
            sample("web", 15, 1.5),
            sample("web", 60 * 24 * 8, 9.0),  # older than asked for
            sample("api", 10, 7.0),
        ],
    )
    history = await demand_history(engine, "shop", "web", NOW - timedelta(days=7))
    assert history == [
        (NOW - timedelta(minutes=15), 1.5),
        (NOW - timedelta(minutes=5), 2.5),
    ]
    assert await demand_history(engine, "shop", "nope", SINCE) == []


async def test_no_checks_no_stats(engine: AsyncEngine) -> None:
    assert await service_check_stats(engine, SINCE) == []


def event(minutes_ago: int, **overrides: Any) -> dict[str, Any]:
    row = {
        "row_id": new_row_id(),
        "timestamp": NOW - timedelta(minutes=minutes_ago),
        "kind": "OrchestratedService",
        "namespace": "shop",
        "name": "payments",
        "reason": "HealthChanged",
        "message": f"{minutes_ago} minutes ago",
        "data": f'{{"ago": {minutes_ago}}}',
    }
    row.update(overrides)
    return row


async def test_recent_events_newest_first(engine: AsyncEngine) -> None:
    await add(
        engine,
        events,
        [
            event(30),
            event(10, kind="OrchestrationEngine", namespace=None, name="engine", data="{}"),
            event(20),
            event(60 * 48),
        ],
    )

    latest = await recent_events(engine)
    assert [e.message for e in latest] == [
        "10 minutes ago",
        "20 minutes ago",
        "30 minutes ago",
        "2880 minutes ago",
    ]
    assert latest[0] == EventRecord(
        timestamp=NOW - timedelta(minutes=10),
        kind="OrchestrationEngine",
        namespace=None,
        name="engine",
        reason="HealthChanged",
        message="10 minutes ago",
        data={},
    )
    assert latest[1].data == {"ago": 20}
    assert [e.message for e in await recent_events(engine, limit=2)] == [
        "10 minutes ago",
        "20 minutes ago",
    ]
    assert len(await recent_events(engine, since=SINCE)) == 3
    assert await recent_events(engine, since=NOW + timedelta(seconds=1)) == []


def registry_row(name: str, minutes_ago: int, health: str, namespace: str | None = "shop"):
    return {
        "row_id": new_row_id(),
        "orchestration_id": "o-1",
        "namespace": namespace,
        "service_id": f"uid-{name}",
        "service_name": name,
        "service_type": "web",
        "priority": "NORMAL",
        "health_status": health,
        "resource_requirements": '{"cpu": "100m"}',
        "dependencies": '["db"]',
        "configuration": "{}",
        "metrics": '{"lastLatencyMs": 12.5}',
        "last_health_check": None,
        "uptime_percentage": 99.5,
        "timestamp": iso(NOW - timedelta(minutes=minutes_ago)),
    }


async def test_latest_service_rows(engine: AsyncEngine) -> None:
    await add(
        engine,
        service_registry,
        [
            registry_row("payments", 30, "HEALTHY"),
            registry_row("payments", 5, "CRITICAL"),
            registry_row("payments", 10, "WARNING"),
            registry_row("payments", 1, "FAILED", namespace="staging"),
            registry_row("legacy", 50, "WARNING", namespace=None),
            registry_row("legacy", 40, "HEALTHY", namespace=None),
            # Two rows at the same moment: the later written (higher id) wins.
            registry_row("search", 3, "WARNING"),
            registry_row("search", 3, "HEALTHY"),
        ],
    )

    rows = await latest_service_rows(engine)

    # The cluster-scoped (no namespace) first, on both backends.
    assert [(r["namespace"], r["service_name"], r["health_status"]) for r in rows] == [
        (None, "legacy", "HEALTHY"),
        ("shop", "payments", "CRITICAL"),
        ("shop", "search", "HEALTHY"),
        ("staging", "payments", "FAILED"),
    ]
    payments = next(r for r in rows if r["service_name"] == "payments")
    assert payments["resource_requirements"] == {"cpu": "100m"}
    assert payments["dependencies"] == ["db"]
    assert payments["configuration"] == {}
    assert payments["metrics"] == {"lastLatencyMs": 12.5}
    assert payments["uptime_percentage"] == 99.5
    assert payments["timestamp"] == iso(NOW - timedelta(minutes=5))


async def test_latest_service_rows_empty(engine: AsyncEngine) -> None:
    assert await latest_service_rows(engine) == []


def metrics_row(minutes_ago: int, total: int) -> dict[str, Any]:
    return {
        "row_id": new_row_id(),
        "orchestration_id": "o-1",
        "total_services": total,
        "active_services": total,
        "failed_services": 0,
        "healthy_services": total,
        "warning_services": 0,
        "critical_services": 0,
        "total_workflows": 1,
        "completed_workflows": 1,
        "failed_workflows": 0,
        "average_response_time": 12.5,
        "resource_utilization": '{"operator_cpu_percent": 3.5}',
        "optimization_score": 0.9,
        "reliability_score": 0.95,
        "performance_score": 0.8,
        "cost_efficiency": 0.7,
        "quantum_enhancement_active": False,
        "ai_optimization_score": 0.9,
        "timestamp": iso(NOW - timedelta(minutes=minutes_ago)),
    }


async def test_latest_orchestration_metrics(engine: AsyncEngine) -> None:
    assert await latest_orchestration_metrics(engine) is None
    await add(
        engine, orchestration_metrics, [metrics_row(3, 7), metrics_row(1, 9), metrics_row(2, 8)]
    )

    latest = await latest_orchestration_metrics(engine)

    assert latest is not None
    assert latest["total_services"] == 9
    assert latest["resource_utilization"] == {"operator_cpu_percent": 3.5}
    assert latest["quantum_enhancement_active"] is False
    assert latest["timestamp"] == iso(NOW - timedelta(minutes=1))


def workflow_row(name: str, minutes_ago: int, status: str, namespace: str = "shop"):
    return {
        "row_id": new_row_id(),
        "orchestration_id": "o-1",
        "namespace": namespace,
        "workflow_id": f"uid-{name}",
        "workflow_name": name,
        "workflow_type": "deployment",
        "priority": "NORMAL",
        "execution_plan": "[]",
        "dependencies": "[]",
        "estimated_duration": 60,
        "resource_allocation": "{}",
        "success_criteria": "{}",
        "rollback_plan": "{}",
        "status": status,
        "progress": 0.0,
        "timestamp": iso(NOW - timedelta(minutes=minutes_ago)),
    }


async def test_workflow_status_counts(engine: AsyncEngine) -> None:
    assert await workflow_status_counts(engine) == {}
    await add(
        engine,
        workflow_management,
        [
            workflow_row("deploy", 30, "PENDING"),
            workflow_row("deploy", 20, "RUNNING"),
            workflow_row("deploy", 10, "SUCCEEDED"),
            workflow_row("deploy", 5, "RUNNING", namespace="staging"),
            workflow_row("migrate", 15, "RUNNING"),
            workflow_row("migrate", 12, "FAILED"),
            workflow_row("backup", 60 * 30, "RUNNING"),  # its last word, long ago
        ],
    )

    assert await workflow_status_counts(engine) == {"SUCCEEDED": 1, "RUNNING": 2, "FAILED": 1}
    assert await workflow_status_counts(engine, since=SINCE) == {
        "SUCCEEDED": 1,
        "RUNNING": 1,
        "FAILED": 1,
    }
    assert await workflow_status_counts(engine, since=NOW - timedelta(minutes=11)) == {
        "SUCCEEDED": 1,
        "RUNNING": 1,
    }
