"""Benchmark: the metrics store (issue: Metrics store), on SQLite and on PostgreSQL.

(a) Write rate: 100,000 health_checks rows through StoreWriter into a fresh, migrated database,
    timed from the writer's start to the flush that confirms the last commit (the rows are
    submitted beforehand, so this is the writer's capacity, not the producer's pace); median
    of 5 runs, with the per-batch transaction time (begin to commit) at p50 / p99.
(b) Event-loop responsiveness while writing: a 10 ms asyncio ticker runs in the writer's loop
    during (a); its p99 lag is the stand-in for "reconcile latency unchanged while writing",
    next to the same ticker's p99 with nothing else running (the floor).
(c) The report's queries (store/queries.py) over 1,000 services and 1,000,000 check rows
    spread over 24 h, bulk-loaded (not through the writer): service_check_stats for 24 h,
    recent_events, latest_service_rows and latest_orchestration_metrics, each run as the
    report runs them (a fresh engine, connect included); median of 5 runs.
(d) Retention (store/retention.py) on the same rows, once the older half is past the raw
    retention: the rate at which checks are rolled up and deleted, and how long each chunk's
    transaction holds (on SQLite, the write lock the store writer waits for).

PostgreSQL is a throwaway server (tests/integration/store/store_servers.py) in a temporary
directory; it is stopped and removed at the end, as are the SQLite files.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "integration" / "store"))

import asyncpg  # noqa: E402
from sqlalchemy import event, insert  # noqa: E402
from sqlalchemy.dialects import postgresql, sqlite  # noqa: E402
from sqlalchemy.engine import Engine  # noqa: E402
from sqlalchemy.schema import CreateIndex  # noqa: E402
from store_servers import PostgresServer, find_postgres_bindir  # noqa: E402
from support import met, percentile  # noqa: E402

from orchestration_engine.store import (  # noqa: E402
    StoreWriter,
    create_engine,
    queries,
    upgrade,
)
from orchestration_engine.store.retention import (  # noqa: E402
    DEFAULT_CHUNK_ROWS,
    DEFAULT_RAW_RETENTION,
    DEFAULT_ROLLUP_RETENTION,
    roll_up_and_prune,
)
from orchestration_engine.store.rows import iso  # noqa: E402
from orchestration_engine.store.tables import (  # noqa: E402
    events,
    health_checks,
    orchestration_metrics,
    service_registry,
    workflow_management,
)

WRITE_ROWS = 100_000
WRITE_RUNS = 5
WRITE_TARGET_ROWS_PER_SECOND = 5_000
TICK_SECONDS = 0.010
FLOOR_SECONDS = 5.0

QUERY_SERVICES = 1_000
QUERY_ROWS = 1_000_000
QUERY_RUNS = 5
QUERY_TARGET_SECONDS = 1.0
QUERY_NAMES = (
    "service_check_stats",
    "recent_events",
    "latest_service_rows",
    "latest_orchestration_metrics",
)

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
CHECK_COLUMNS = (
    "row_id",
    "timestamp",
    "namespace",
    "service",
    "ok",
    "latency_ms",
    "health",
    "message",
)


@dataclass
class WriteRun:
    rows_per_second: float
    submit_us_per_row: float
    batch_ms: list[float]
    tick_lags_ms: list[float]


@dataclass
class WriteResult:
    backend: str
    rows_per_second: float  # median of the runs
    runs: list[float]
    batch_p50_ms: float
    batch_p99_ms: float
    batches: int
    submit_us_per_row: float
    tick_p50_ms: float
    tick_p99_ms: float


@dataclass
class QueryResult:
    backend: str
    total_seconds: float  # median over the runs of the four queries together
    each_seconds: dict[str, float]  # median of each
    workflow_status_counts_seconds: float
    load_seconds: float
    services: int
    checks: int


@dataclass
class RetentionMeasurement:
    backend: str
    rows: int
    seconds: float
    chunk_p50_ms: float
    chunk_max_ms: float
    chunks: int

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds


@dataclass
class StoreResults:
    floor_tick_p50_ms: float
    floor_tick_p99_ms: float
    writes: list[WriteResult] = field(default_factory=list)
    queries: list[QueryResult] = field(default_factory=list)
    retention: list[RetentionMeasurement] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


# -- (b) the ticker ---------------------------------------------------------------------------


class Ticker:
    """Wakes every 10 ms and records how late each wake-up was."""

    def __init__(self) -> None:
        self.lags_ms: list[float] = []
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            due = loop.time() + TICK_SECONDS
            await asyncio.sleep(TICK_SECONDS)
            self.lags_ms.append((loop.time() - due) * 1000)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


async def ticker_floor(seconds: float) -> list[float]:
    ticker = Ticker()
    ticker.start()
    await asyncio.sleep(seconds)
    await ticker.stop()
    return ticker.lags_ms


# -- (a) writes ---------------------------------------------------------------------------------


@contextlib.contextmanager
def batch_timer() -> Iterator[list[float]]:
    """Time every transaction, begin to commit: the writer sends one per batch."""
    durations: list[float] = []
    began: dict[int, float] = {}

    def on_begin(connection: Any) -> None:
        began[id(connection)] = time.perf_counter()

    def on_commit(connection: Any) -> None:
        started = began.pop(id(connection), None)
        if started is not None:
            durations.append((time.perf_counter() - started) * 1000)

    event.listen(Engine, "begin", on_begin)
    event.listen(Engine, "commit", on_commit)
    try:
        yield durations
    finally:
        event.remove(Engine, "begin", on_begin)
        event.remove(Engine, "commit", on_commit)


def check_rows(count: int, services: int = QUERY_SERVICES) -> list[dict[str, Any]]:
    chance = random.Random(1)  # noqa: S311
    start = NOW - timedelta(hours=1)
    rows = []
    for i in range(count):
        ok = chance.random() > 0.02
        rows.append(
            {
                "timestamp": start + timedelta(milliseconds=i * 10),
                "namespace": f"ns-{i % 10}",
                "service": f"svc-{i % services:04d}",
                "ok": ok,
                "latency_ms": round(chance.lognormvariate(3, 0.5), 3) if ok else None,
                "health": "HEALTHY",
                "message": "" if ok else "connection refused",
            }
        )
    return rows


async def write_once(url: str, spill: Path, rows: list[dict[str, Any]]) -> WriteRun:
    """One fresh database: the rows submitted, then written with the ticker running."""
    await upgrade(url)
    writer = StoreWriter(url, spill_path=spill, ensure_schema=False, max_buffered_rows=len(rows))
    started = time.perf_counter()
    for row in rows:
        writer.submit("health_checks", row)
    submit_us = (time.perf_counter() - started) / len(rows) * 1e6
    ticker = Ticker()
    ticker.start()
    with batch_timer() as batches:
        started = time.perf_counter()
        await writer.start()
        await writer.flush(timeout=600)
        elapsed = time.perf_counter() - started
    await ticker.stop()
    await writer.stop()
    return WriteRun(len(rows) / elapsed, submit_us, batches, ticker.lags_ms)


async def measure_writes(
    backend: str, new_database: Callable[[int], Awaitable[str]], workdir: Path
) -> WriteResult:
    rows = check_rows(WRITE_ROWS)
    runs = [
        await write_once(await new_database(run), workdir / f"{backend}-{run}.jsonl", rows)
        for run in range(WRITE_RUNS)
    ]
    batches = [ms for run in runs for ms in run.batch_ms]
    lags = [ms for run in runs for ms in run.tick_lags_ms]
    return WriteResult(
        backend=backend,
        rows_per_second=statistics.median(run.rows_per_second for run in runs),
        runs=[run.rows_per_second for run in runs],
        batch_p50_ms=percentile(batches, 50),
        batch_p99_ms=percentile(batches, 99),
        batches=len(batches),
        submit_us_per_row=statistics.median(run.submit_us_per_row for run in runs),
        tick_p50_ms=percentile(lags, 50),
        tick_p99_ms=percentile(lags, 99),
    )


# -- (c) the report's queries -------------------------------------------------------------------


def bulk_checks() -> Iterator[tuple[Any, ...]]:
    """1,000,000 checks of 1,000 services, evenly over the 24 h before NOW, oldest first."""
    chance = random.Random(2)  # noqa: S311
    start = NOW - timedelta(hours=24)
    step = timedelta(hours=24) / QUERY_ROWS
    lognormal = chance.lognormvariate
    for i in range(QUERY_ROWS):
        service = i % QUERY_SERVICES
        ok = chance.random() > 0.02
        yield (
            f"{i:032x}",
            start + step * (i + 1),
            f"ns-{service % 10}",
            f"svc-{service:04d}",
            ok,
            lognormal(3, 0.5) if ok else None,
            "HEALTHY",
            "" if ok else "timeout",
        )


def side_tables() -> dict[Any, list[dict[str, Any]]]:
    """What else the report reads: registry rows, events, engine snapshots, workflows."""
    registry = [
        {
            "row_id": f"sr-{i}",
            "orchestration_id": "o-1",
            "namespace": f"ns-{(i % QUERY_SERVICES) % 10}",
            "service_id": f"uid-{i % QUERY_SERVICES}",
            "service_name": f"svc-{i % QUERY_SERVICES:04d}",
            "service_type": "web",
            "priority": "NORMAL",
            "health_status": ("HEALTHY", "WARNING", "HEALTHY")[i // QUERY_SERVICES],
            "resource_requirements": '{"cpu": "100m", "memory": "128Mi"}',
            "dependencies": '["db"]',
            "configuration": '{"healthCheck": {"periodSeconds": 10}}',
            "metrics": '{"lastLatencyMs": 20.1, "consecutiveFailures": 0}',
            "last_health_check": iso(NOW),
            "uptime_percentage": 99.9,
            "timestamp": iso(NOW - timedelta(hours=3) + timedelta(seconds=i)),
        }
        for i in range(3 * QUERY_SERVICES)
    ]
    audit = [
        {
            "row_id": f"ev-{i}",
            "timestamp": NOW - timedelta(seconds=8.64 * (10_000 - i)),
            "kind": "OrchestratedService",
            "namespace": f"ns-{i % 10}",
            "name": f"svc-{i % QUERY_SERVICES:04d}",
            "reason": "HealthChanged",
            "message": "HEALTHY -> WARNING: 1 consecutive failure",
            "data": '{"from": "HEALTHY", "to": "WARNING"}',
        }
        for i in range(10_000)
    ]
    snapshots = [
        {
            "row_id": f"om-{i}",
            "orchestration_id": "o-1",
            "total_services": QUERY_SERVICES,
            "active_services": QUERY_SERVICES,
            "failed_services": 0,
            "healthy_services": QUERY_SERVICES,
            "warning_services": 0,
            "critical_services": 0,
            "total_workflows": 200,
            "completed_workflows": 150,
            "failed_workflows": 10,
            "average_response_time": 20.0,
            "resource_utilization": '{"operator_cpu_percent": 12.5}',
            "optimization_score": 0.9,
            "reliability_score": 0.99,
            "performance_score": 0.95,
            "cost_efficiency": 0.8,
            "quantum_enhancement_active": False,
            "ai_optimization_score": 0.9,
            "timestamp": iso(NOW - timedelta(minutes=1440 - i)),
        }
        for i in range(1440)
    ]
    workflows = [
        {
            "row_id": f"wf-{i}",
            "orchestration_id": "o-1",
            "namespace": f"ns-{i % 10}",
            "workflow_id": f"wf-uid-{i % 200}",
            "workflow_name": f"wf-{i % 200:03d}",
            "workflow_type": "deployment",
            "priority": "NORMAL",
            "execution_plan": "[]",
            "dependencies": "[]",
            "estimated_duration": 600,
            "resource_allocation": "{}",
            "success_criteria": "{}",
            "rollback_plan": "{}",
            "status": ("PENDING", "RUNNING", "SUCCEEDED")[i // 200],
            "progress": 0.0,
            "timestamp": iso(NOW - timedelta(hours=2) + timedelta(seconds=i)),
        }
        for i in range(600)
    ]
    return {
        service_registry: registry,
        events: audit,
        orchestration_metrics: snapshots,
        workflow_management: workflows,
    }


def index_ddl(dialect: Any) -> list[tuple[str, str]]:
    """(name, CREATE INDEX) for each plain index of health_checks, as the schema has it."""
    return [
        (str(index.name), str(CreateIndex(index).compile(dialect=dialect)))
        for index in health_checks.indexes
    ]


async def load_side_tables(url: str) -> None:
    engine = create_engine(url)
    try:
        async with engine.begin() as connection:
            for table, rows in side_tables().items():
                await connection.execute(insert(table), rows)
    finally:
        await engine.dispose()


def load_sqlite_checks(path: Path) -> None:
    # The plain indexes are built after the rows, as any bulk load does: the same end state,
    # several times faster than maintaining them row by row.
    ddl = index_ddl(sqlite.dialect())
    stamp = "%Y-%m-%d %H:%M:%S.%f"  # SQLAlchemy's storage format for DateTime on SQLite
    connection = sqlite3.connect(path)
    try:
        for name, _ in ddl:
            connection.execute(f"DROP INDEX {name}")
        connection.executemany(
            f"INSERT INTO health_checks ({', '.join(CHECK_COLUMNS)}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",  # noqa: S608
            ((r[0], r[1].strftime(stamp), *r[2:]) for r in bulk_checks()),
        )
        for _, create in ddl:
            connection.execute(create)
        connection.commit()
    finally:
        connection.close()


async def load_postgres_checks(dsn: str) -> None:
    ddl = index_ddl(postgresql.dialect())
    connection = await asyncpg.connect(dsn)
    try:
        for name, _ in ddl:
            await connection.execute(f"DROP INDEX {name}")
        await connection.copy_records_to_table(
            "health_checks", records=bulk_checks(), columns=list(CHECK_COLUMNS)
        )
        for _, create in ddl:
            await connection.execute(create)
        # What autovacuum does soon after a load; without it the planner has no statistics and
        # index-only scans visit the table.
        await connection.execute("VACUUM ANALYZE")
    finally:
        await connection.close()


async def report_once(url: str) -> tuple[dict[str, float], float, int, int]:
    engine = create_engine(url)
    timings: dict[str, float] = {}
    try:
        started = time.perf_counter()
        stats = await queries.service_check_stats(engine, NOW - timedelta(hours=24))
        timings["service_check_stats"] = time.perf_counter() - started
        started = time.perf_counter()
        await queries.recent_events(engine, limit=20)
        timings["recent_events"] = time.perf_counter() - started
        started = time.perf_counter()
        await queries.latest_service_rows(engine)
        timings["latest_service_rows"] = time.perf_counter() - started
        started = time.perf_counter()
        await queries.latest_orchestration_metrics(engine)
        timings["latest_orchestration_metrics"] = time.perf_counter() - started
        started = time.perf_counter()
        await queries.workflow_status_counts(engine)
        workflows = time.perf_counter() - started
    finally:
        await engine.dispose()
    return timings, workflows, len(stats), sum(s.checks for s in stats)


async def measure_queries(
    backend: str, url: str, load: Callable[[], Awaitable[None]]
) -> QueryResult:
    await upgrade(url)
    started = time.perf_counter()
    await load()
    await load_side_tables(url)
    load_seconds = time.perf_counter() - started
    runs, workflow_runs = [], []
    services = checks = 0
    for _ in range(QUERY_RUNS):
        timings, workflows, services, checks = await report_once(url)
        runs.append(timings)
        workflow_runs.append(workflows)
    if (services, checks) != (QUERY_SERVICES, QUERY_ROWS):
        raise AssertionError(f"{backend}: the report saw {services} services, {checks} checks")
    return QueryResult(
        backend=backend,
        total_seconds=statistics.median(sum(run.values()) for run in runs),
        each_seconds={name: statistics.median(run[name] for run in runs) for name in QUERY_NAMES},
        workflow_status_counts_seconds=statistics.median(workflow_runs),
        load_seconds=load_seconds,
        services=services,
        checks=checks,
    )


# -- (d) retention ------------------------------------------------------------------------------


async def measure_retention(backend: str, url: str) -> RetentionMeasurement:
    # Seven days and twelve hours on: the older half of the 24 h is past the raw retention.
    now = NOW + DEFAULT_RAW_RETENTION - timedelta(hours=12)
    engine = create_engine(url)
    try:
        with batch_timer() as transactions:
            started = time.perf_counter()
            result = await roll_up_and_prune(
                engine, now, DEFAULT_RAW_RETENTION, DEFAULT_ROLLUP_RETENTION
            )
            seconds = time.perf_counter() - started
            durations = list(transactions)
    finally:
        await engine.dispose()
    if result.rows_rolled_up < QUERY_ROWS // 2 - 1:
        raise AssertionError(f"{backend}: retention rolled up only {result}")
    return RetentionMeasurement(
        backend=backend,
        rows=result.rows_rolled_up,
        seconds=seconds,
        chunk_p50_ms=percentile(durations, 50),
        chunk_max_ms=max(durations),
        chunks=len(durations),
    )


# -- the whole run ------------------------------------------------------------------------------


async def run_sqlite(workdir: Path, results: StoreResults) -> None:
    async def new_database(run: int) -> str:
        return f"sqlite:///{workdir / f'write-{run}.db'}"

    results.writes.append(await measure_writes("SQLite", new_database, workdir))
    path = workdir / "report.db"

    async def load() -> None:
        await asyncio.to_thread(load_sqlite_checks, path)

    results.queries.append(await measure_queries("SQLite", f"sqlite:///{path}", load))
    results.retention.append(await measure_retention("SQLite", f"sqlite:///{path}"))


async def run_postgres(server: PostgresServer, workdir: Path, results: StoreResults) -> None:
    async def new_database(run: int) -> str:
        name = f"bench_write_{run}"
        await asyncio.to_thread(server.sql, f'CREATE DATABASE "{name}"')
        return server.url(name)

    results.writes.append(await measure_writes("PostgreSQL", new_database, workdir))
    await asyncio.to_thread(server.sql, 'CREATE DATABASE "bench_report"')
    url = server.url("bench_report")

    async def load() -> None:
        await load_postgres_checks(url)

    results.queries.append(await measure_queries("PostgreSQL", url, load))
    results.retention.append(await measure_retention("PostgreSQL", url))


async def run_all(postgres_available: bool, workdir: Path) -> StoreResults:
    floor = await ticker_floor(FLOOR_SECONDS)
    results = StoreResults(percentile(floor, 50), percentile(floor, 99))
    await run_sqlite(workdir, results)
    bindir = find_postgres_bindir() if postgres_available else None
    if bindir is None:
        results.skipped.append(
            "PostgreSQL: not measured"
            + (" (server binaries not found; `make postgres`)" if postgres_available else "")
        )
        return results
    server = PostgresServer(bindir)
    try:
        await asyncio.to_thread(server.init)
        await asyncio.to_thread(server.start)
        await run_postgres(server, workdir, results)
    finally:
        await asyncio.to_thread(server.destroy)
    return results


def run(postgres_available: bool = True) -> StoreResults:
    workdir = Path(tempfile.mkdtemp(prefix="eoe-bench-store-"))
    try:
        return asyncio.run(run_all(postgres_available, workdir))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def markdown(results: StoreResults) -> str:
    lines = [
        "## Metrics store",
        "",
        f"(a) {WRITE_ROWS:,} health_checks rows through `StoreWriter` into a fresh, migrated"
        " database, submitted first, then timed from the writer's start to the flush that"
        f" confirms the last commit; median of {WRITE_RUNS} runs (all runs in brackets). Batch"
        " time is one transaction of up to 500 rows, begin to commit. (b) A 10 ms asyncio ticker"
        " runs in the writer's event loop during (a); its lag is the stand-in for reconcile"
        f" latency while writing, beside the same ticker alone for {FLOOR_SECONDS:g} s (the floor).",
        "",
        "| backend | rows/s (target ≥ 5,000) | met? | runs | batch p50 / p99 ms | submit µs/row | ticker lag p50 / p99 ms while writing | ticker floor p50 / p99 ms |",
        "|---|---:|---|---|---:|---:|---:|---:|",
    ]
    for w in results.writes:
        runs = ", ".join(f"{rate:,.0f}" for rate in w.runs)
        lines.append(
            f"| {w.backend} | {w.rows_per_second:,.0f} | {met(w.rows_per_second >= 5000)} | {runs} | {w.batch_p50_ms:.1f} / {w.batch_p99_ms:.1f}"
            f" | {w.submit_us_per_row:.1f} | {w.tick_p50_ms:.2f} / {w.tick_p99_ms:.2f}"
            f" | {results.floor_tick_p50_ms:.2f} / {results.floor_tick_p99_ms:.2f} |"
        )
    lines += [
        "",
        f"(c) The report's queries over {QUERY_SERVICES:,} services and {QUERY_ROWS:,} check rows"
        " spread over 24 h (bulk-loaded; PostgreSQL then vacuumed and analysed, as autovacuum"
        " would), plus 3,000 registry rows, 10,000 events, 1,440 engine snapshots and 600"
        f" workflow rows. Each run is what the report does: a fresh engine (connect included),"
        f" then the queries; median of {QUERY_RUNS} runs.",
        "",
        "| backend | total (target < 1 s) | met? | service_check_stats 24 h | recent_events | latest_service_rows | latest_orchestration_metrics | workflow_status_counts (not in total) | bulk load s |",
        "|---|---:|---|---:|---:|---:|---:|---:|---:|",
    ]
    for q in results.queries:
        each = q.each_seconds
        lines.append(
            f"| {q.backend} | {q.total_seconds * 1000:.0f} ms | {met(q.total_seconds < 1)}"
            + "".join(f" | {each[name] * 1000:.0f} ms" for name in QUERY_NAMES)
            + f" | {q.workflow_status_counts_seconds * 1000:.0f} ms | {q.load_seconds:.0f} |"
        )
    lines += [
        "",
        "(d) Retention on the rows of (c), seven and a half days on: the older 12 h (500,000"
        " checks) rolled up into hourly rows and deleted, in chunks of at most"
        f" {DEFAULT_CHUNK_ROWS:,} rows, one transaction each (the time a chunk holds SQLite's"
        " write lock, which the writer waits for with a 5 s busy timeout).",
        "",
        "| backend | checks rolled up | rows/s | chunks | chunk transaction p50 / max ms |",
        "|---|---:|---:|---:|---:|",
    ]
    for r in results.retention:
        lines.append(
            f"| {r.backend} | {r.rows:,} | {r.rows_per_second:,.0f} | {r.chunks}"
            f" | {r.chunk_p50_ms:.0f} / {r.chunk_max_ms:.0f} |"
        )
    lines += ["", *results.skipped, ""] if results.skipped else [""]
    return "\n".join(lines)


if __name__ == "__main__":
    print(markdown(run()))
