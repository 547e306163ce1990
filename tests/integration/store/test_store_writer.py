"""The store writer on SQLite and a real PostgreSQL: every row exactly once, in order, through
replays, overflow, restarts, a minute-long outage, a corrupt file and an unusable path."""

from __future__ import annotations

import asyncio
import logging
import socket
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import REGISTRY
from sqlalchemy import func, select
from store_servers import Backend, PostgresServer

from orchestration_engine.store import RowError, StoreWriter, create_engine, default_spill_path
from orchestration_engine.store import tables as store_tables
from waiting import wait_for_async

FAST_RETRY: dict[str, Any] = {"retry_initial": 0.05, "retry_max": 0.5}


def check(i: int) -> dict[str, Any]:
    return {
        "namespace": "shop",
        "service": f"svc-{i % 20}",
        "ok": i % 7 != 0,
        "latency_ms": 1.0 + i % 100,
        "health": "HEALTHY",
        "message": str(i),
    }


def service(i: int) -> dict[str, Any]:
    return {
        "orchestration_id": "o-1",
        "namespace": "shop",
        "service_id": f"uid-{i}",
        "service_name": f"svc-{i % 20}",
        "service_type": "web",
        "priority": "NORMAL",
        "health_status": "HEALTHY",
        "resource_requirements": {"cpu": "100m"},
        "dependencies": [],
        "configuration": {},
        "metrics": {"i": i},
        "uptime_percentage": 99.5,
    }


def event(i: int) -> dict[str, Any]:
    return {
        "kind": "OrchestratedService",
        "namespace": "shop",
        "name": f"svc-{i % 20}",
        "reason": "HealthChanged",
        "message": str(i),
        "data": {"i": i},
    }


def sample(name: str, labels: dict[str, str] | None = None) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def counts(url: str, table: str) -> tuple[int, int]:
    """(rows, distinct row_ids) in ``table``."""
    target = store_tables.TABLES[table]
    engine = create_engine(url)
    try:
        async with engine.connect() as connection:
            query = select(func.count(), func.count(target.c.row_id.distinct()))
            total, distinct = (await connection.execute(query.select_from(target))).one()
    finally:
        await engine.dispose()
    return int(total), int(distinct)


async def messages_in_id_order(url: str) -> list[str]:
    checks = store_tables.health_checks
    engine = create_engine(url)
    try:
        async with engine.connect() as connection:
            result = await connection.execute(select(checks.c.message).order_by(checks.c.id))
            return [str(message) for message in result.scalars()]
    finally:
        await engine.dispose()


def spill_lines(path: Path) -> int:
    return path.read_bytes().count(b"\n") if path.exists() else 0


async def test_ten_thousand_rows_exactly_once_and_replays_add_nothing(
    backend: Backend, tmp_path: Path
) -> None:
    one_in_ten = {0: ("service_registry", service), 1: ("events", event)}
    rows: list[tuple[str, dict[str, Any]]] = []
    for i in range(10_000):
        table, make = one_in_ten.get(i % 10, ("health_checks", check))
        rows.append((table, {**make(i), "row_id": uuid.uuid4().hex}))
    expected = {"service_registry": 1000, "events": 1000, "health_checks": 8000}
    written_before = sample("eoe_store_rows_written_total", {"table": "health_checks"})

    async with StoreWriter(backend.url, spill_path=tmp_path / "spill.jsonl") as writer:
        for table, row in rows:
            writer.submit(table, row)
        await writer.flush(timeout=60)
        for table, number in expected.items():
            assert await counts(backend.url, table) == (number, number)
        assert writer.buffered_rows == 0
        assert sample("eoe_store_buffered_rows") == 0

        for table, row in rows:  # the same rows again, as after an unknown commit outcome
            writer.submit(table, row)
        await writer.flush(timeout=60)

    for table, number in expected.items():
        assert await counts(backend.url, table) == (number, number)
    assert not writer.degraded
    assert not (tmp_path / "spill.jsonl").exists()
    written = sample("eoe_store_rows_written_total", {"table": "health_checks"}) - written_before
    assert written == 2 * 8000  # replays count: the writer cannot tell them apart cheaply


OUTAGE_SECONDS = 60


async def test_postgres_down_for_a_minute_loses_nothing(
    postgres: PostgresServer, postgres_url: str, tmp_path: Path
) -> None:
    changes: list[tuple[float, bool, str]] = []
    writer = StoreWriter(
        postgres_url,
        spill_path=tmp_path / "spill.jsonl",
        on_degraded_change=lambda degraded, why: changes.append((time.monotonic(), degraded, why)),
    )
    produced = 0
    peak = 0.0
    producing = True
    slowest = 0.0  # seconds for 50 submits

    async def produce() -> None:
        # Reconciliation's pace: 50 rows every 100 ms, whatever the database does.
        nonlocal produced, peak, slowest
        while producing:
            started = time.monotonic()
            for _ in range(50):
                writer.submit("health_checks", check(produced))
                produced += 1
            slowest = max(slowest, time.monotonic() - started)
            peak = max(peak, sample("eoe_store_buffered_rows"))
            await asyncio.sleep(0.1)

    errors_before = sample("eoe_store_write_errors_total")
    async with writer:
        producer = asyncio.create_task(produce())
        await asyncio.sleep(2)
        await writer.flush(timeout=10)
        assert not writer.degraded

        stopping = time.monotonic()
        await asyncio.to_thread(postgres.stop)
        stopped = time.monotonic()
        at_stop = produced  # from here on nothing can be committed
        await wait_for_async(lambda: writer.degraded, 10, "the writer to report degraded")
        await asyncio.sleep(OUTAGE_SECONDS - (time.monotonic() - stopped))
        assert writer.degraded
        during_outage = produced - at_stop
        buffered_at_end = writer.buffered_rows

        await asyncio.to_thread(postgres.start)
        started = time.monotonic()
        await wait_for_async(lambda: not writer.degraded, 30, "the writer to recover")
        recovered = time.monotonic()
        await wait_for_async(lambda: writer.buffered_rows < 100, 60, "the backlog to drain")
        drained = time.monotonic()
        await asyncio.sleep(1)
        producing = False
        await producer
        await writer.flush(timeout=30)

    assert await counts(postgres_url, "health_checks") == (produced, produced)
    assert await messages_in_id_order(postgres_url) == [str(i) for i in range(produced)]
    assert sample("eoe_store_buffered_rows") == 0
    # Waiting for the database would take seconds (the connect timeout); a garbage collection
    # pass or a busy machine takes milliseconds.
    assert slowest < 0.5, f"50 submits took {slowest:.3f} s"
    assert buffered_at_end >= during_outage
    assert peak >= buffered_at_end
    assert sample("eoe_store_write_errors_total") > errors_before
    assert changes[0][1] is True
    assert any("connection refused" in why for _, degraded, why in changes if degraded)
    assert changes[-1][1] is False
    # The writer may notice while pg_ctl is still waiting for the server to exit.
    assert all(stopping <= when <= started for when, degraded, _ in changes if degraded)
    print(
        f"\noutage {OUTAGE_SECONDS} s: {produced} rows written, {during_outage} during the "
        f"outage, buffered peak {peak:.0f}, degraded reported "
        f"{changes[0][0] - stopping:.2f} s after the stop began (pg_ctl took "
        f"{stopped - stopping:.2f} s), recovered {recovered - started:.2f} s after the "
        f"restart, backlog drained {drained - started:.2f} s after it; degraded messages: "
        f"{[why for _, degraded, why in changes if degraded]}; slowest 50 submits "
        f"{slowest * 1000:.1f} ms"
    )


async def test_overflow_spills_to_a_file_that_is_replayed_in_order(
    backend: Backend, tmp_path: Path
) -> None:
    spill = tmp_path / "spill.jsonl"
    backend.down()
    writer = StoreWriter(backend.url, max_buffered_rows=1000, spill_path=spill, **FAST_RETRY)
    async with writer:
        for i in range(5000):
            writer.submit("health_checks", check(i))
        assert writer.buffered_rows == 5000
        await wait_for_async(lambda: writer.degraded, 10, "degraded")
        await wait_for_async(lambda: spill_lines(spill) == 4000, 10, "4000 rows in the spill file")
        assert sample("eoe_store_buffered_rows") == 5000

        await asyncio.to_thread(backend.up)
        await writer.flush(timeout=60)
        assert not writer.degraded

    assert await messages_in_id_order(backend.url) == [str(i) for i in range(5000)]
    assert await counts(backend.url, "health_checks") == (5000, 5000)
    assert not spill.exists()


async def test_a_spill_file_left_by_a_previous_process_is_replayed(
    backend: Backend, tmp_path: Path
) -> None:
    spill = tmp_path / "spill.jsonl"
    backend.down()
    async with StoreWriter(backend.url, spill_path=spill, **FAST_RETRY) as first:
        for i in range(3000):
            first.submit("health_checks", check(i))
        await wait_for_async(lambda: first.degraded, 10, "degraded")
    assert spill_lines(spill) == 3000  # stop() kept what it could not write
    assert first.buffered_rows == 3000
    first.submit("health_checks", check(3000))  # after stop: straight into the file
    assert spill_lines(spill) == 3001

    await asyncio.to_thread(backend.up)
    second = StoreWriter(backend.url, spill_path=spill)
    second.submit("health_checks", check(3001))  # before start: queued behind the file
    async with second:
        second.submit("health_checks", check(3002))
        await second.flush(timeout=60)

    assert await messages_in_id_order(backend.url) == [str(i) for i in range(3003)]
    assert not spill.exists()


async def test_rows_the_database_refuses_are_set_aside(backend: Backend, tmp_path: Path) -> None:
    hour = datetime(2026, 11, 23, 10, tzinfo=UTC)
    rollup = {"namespace": "shop", "service": "payments", "hour": hour, "checks": 360}
    errors_before = sample("eoe_store_write_errors_total")
    async with StoreWriter(backend.url, spill_path=tmp_path / "spill.jsonl") as writer:
        for i in range(200):
            writer.submit("health_checks", check(i))
        writer.submit(
            "health_check_rollups",
            {**rollup, "passed": 360, "latency_sum_ms": 1, "latency_count": 1},
        )
        # Another roll-up for the same service and hour: the unique constraint refuses it.
        writer.submit(
            "health_check_rollups", {**rollup, "passed": 1, "latency_sum_ms": 1, "latency_count": 1}
        )
        for i in range(200, 400):
            writer.submit("health_checks", check(i))
        await writer.flush(timeout=30)
        assert not writer.degraded

    assert await counts(backend.url, "health_checks") == (400, 400)
    assert await counts(backend.url, "health_check_rollups") == (1, 1)
    rejected = writer.rejected_path.read_text().splitlines()
    assert len(rejected) == 1
    assert '"passed":1' in rejected[0]
    assert "unique" in rejected[0].lower()
    assert sample("eoe_store_write_errors_total") == errors_before + 1


async def test_a_corrupt_sqlite_file_is_reported_and_nothing_raises(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    database = tmp_path / "store.db"
    database.write_bytes(b"this is not a database, it is garbage\n" * 200)
    changes: list[tuple[bool, str]] = []
    writer = StoreWriter(
        f"sqlite:///{database}",
        on_degraded_change=lambda degraded, why: changes.append((degraded, why)),
        retry_initial=0.02,
        retry_max=0.05,
    )
    assert writer.spill_path == tmp_path / "store.db.spill.jsonl"
    with caplog.at_level(logging.WARNING, logger="orchestration_engine.store"):
        async with writer:
            for i in range(100):
                writer.submit("health_checks", check(i))
            await wait_for_async(lambda: writer.degraded, 10, "degraded")
            await asyncio.sleep(0.5)  # many retries
            writer.submit("health_checks", check(100))
            with pytest.raises(TimeoutError, match="file is not a database"):
                await writer.flush(timeout=0.2)
    assert changes == [(True, f"SQLite database {database}: file is not a database")]
    assert writer.reason == changes[0][1]
    degraded_logs = [r for r in caplog.records if "degraded" in r.getMessage()]
    assert len(degraded_logs) == 1  # once per state change, not per retry
    assert spill_lines(writer.spill_path) == 101


async def test_an_unusable_sqlite_location_is_reported_and_nothing_raises(tmp_path: Path) -> None:
    # Root ignores directory permissions, but nobody can create a file under a regular file.
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    url = f"sqlite:///{blocker / 'store.db'}"
    assert default_spill_path(url).parent == Path(tempfile.gettempdir())
    writer = StoreWriter(url, spill_path=tmp_path / "spill.jsonl", **FAST_RETRY)
    async with writer:
        writer.submit("events", event(1))
        await wait_for_async(lambda: writer.degraded, 10, "degraded")
        assert writer.reason == (
            f"cannot open SQLite database {blocker / 'store.db'}: {blocker} is not a directory"
        )
        writer.submit("events", event(2))
    assert spill_lines(tmp_path / "spill.jsonl") == 2


async def test_bad_rows_fail_in_the_callers_hands(sqlite_url: str, tmp_path: Path) -> None:
    async with StoreWriter(sqlite_url, spill_path=tmp_path / "spill.jsonl") as writer:
        with pytest.raises(RowError, match=r"health_checks\.ok is required"):
            writer.submit("health_checks", {"namespace": "n", "service": "s"})
        with pytest.raises(RowError, match="unknown table"):
            writer.submit("health_check", check(0))
        writer.submit("health_checks", check(0))
        await writer.flush(timeout=10)
    assert await counts(sqlite_url, "health_checks") == (1, 1)


async def test_submit_from_other_threads(sqlite_url: str, tmp_path: Path) -> None:
    async with StoreWriter(sqlite_url, spill_path=tmp_path / "spill.jsonl") as writer:

        def submit_many(start: int) -> None:
            for i in range(start, start + 500):
                writer.submit("health_checks", check(i))

        threads = [threading.Thread(target=submit_many, args=(n * 500,)) for n in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            await asyncio.to_thread(thread.join)
        await writer.flush(timeout=30)
    assert await counts(sqlite_url, "health_checks") == (2000, 2000)


async def test_logs_and_messages_never_show_the_password(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"postgresql://eoe:s3cret@127.0.0.1:{port}/eoe"
    messages: list[str] = []
    writer = StoreWriter(
        url,
        spill_path=tmp_path / "spill.jsonl",
        on_degraded_change=lambda _degraded, why: messages.append(why),
        **FAST_RETRY,
    )
    assert "s3cret" not in writer.url
    with caplog.at_level(logging.DEBUG, logger="orchestration_engine.store"):
        async with writer:
            writer.submit("events", event(1))
            await wait_for_async(lambda: writer.degraded, 10, "degraded")
    assert messages == ["database unreachable: connection refused"]
    assert "eoe:***@127.0.0.1" in caplog.text
    assert "s3cret" not in caplog.text
