"""Retention of the health-check series: raw checks for days, hourly roll-ups for months.

A fleet of a thousand services checked every ten seconds writes 8.6 million ``health_checks``
rows a day; kept forever they would fill any disk and slow every report. So raw rows are kept
for ``raw_retention`` (default 7 days), then folded into ``health_check_rollups``, one row per
(namespace, service, hour) with the counts a report needs (checks, passed, the sum, maximum
and number of latencies of passing checks, so a mean can still be computed), and the roll-ups
are kept for ``rollup_retention`` (default 90 days).

Whole hours are rolled up: the raw cutoff is ``now - raw_retention`` rounded down to the hour,
so raw rows live at least ``raw_retention`` and at most an hour longer. A check that arrives
late for an hour already rolled up (a spill file replayed after an outage) is simply merged
into that hour's roll-up on the next run: the upsert adds counts, it never replaces them.

Folding and deleting happen in one transaction, so a crash between the two cannot count a
check twice, and a re-run finds nothing left to fold. The backlog is worked through in chunks
of at most ``chunk_rows`` raw rows, one transaction each: after a long pause the first run
must not hold one giant transaction (on SQLite, the write lock the store writer is waiting
for).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import Table, bindparam, delete, select, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from orchestration_engine.plumbing.periodic import Periodic

from .budget import max_bytes_for, parse_max_size
from .engine import create_engine
from .errors import describe
from .metrics import RETENTION_ERRORS, SIZE_CUT_ROWS, STORE_DISK_BYTES, STORE_MAX_BYTES, STORE_SIZE
from .rows import iso
from .tables import (
    UtcDateTime,
    events,
    health_check_rollups,
    health_checks,
    optimization_runs,
    orchestration_metrics,
    scaling_samples,
    workflow_management,
)
from .url import redact

if TYPE_CHECKING:
    from .sizing import StoreSize

log = logging.getLogger(__name__)

DEFAULT_RAW_RETENTION = timedelta(days=7)
DEFAULT_ROLLUP_RETENTION = timedelta(days=90)
DEFAULT_HISTORY_RETENTION = timedelta(days=90)
DEFAULT_INTERVAL = timedelta(hours=1)
DEFAULT_SIZE_INTERVAL = timedelta(minutes=5)
# A few tenths of a second of work on SQLite: short enough that the store writer, waiting on
# the write lock with a 5 s busy timeout, never notices.
DEFAULT_CHUNK_ROWS = 20_000

_HOUR = timedelta(hours=1)
_MICROSECOND = timedelta(microseconds=1)

# The latency figures cover passing checks only, as the report's do: a failed check's latency
# is the time it took to fail (often a timeout) and would drown the service's real latency.
_SQLITE_ROLL_UP = text(
    "INSERT INTO health_check_rollups (row_id, namespace, service, hour, checks, passed,"
    " latency_sum_ms, latency_max_ms, latency_count)"
    " SELECT lower(hex(randomblob(16))), namespace, service,"
    # The stored text is 'YYYY-MM-DD HH:MM:SS.ffffff' (UTC); this is the same form, so the
    # roll-up's hour compares and reads back like any other timestamp.
    "  strftime('%Y-%m-%d %H:00:00.000000', timestamp) AS bucket,"
    "  count(*), sum(ok), total(CASE WHEN ok THEN latency_ms END),"
    "  max(CASE WHEN ok THEN latency_ms END), count(CASE WHEN ok THEN latency_ms END)"
    " FROM health_checks WHERE timestamp < :end"
    " GROUP BY namespace, service, bucket"
    " ON CONFLICT (namespace, service, hour) DO UPDATE SET"
    "  checks = health_check_rollups.checks + excluded.checks,"
    "  passed = health_check_rollups.passed + excluded.passed,"
    "  latency_sum_ms = health_check_rollups.latency_sum_ms + excluded.latency_sum_ms,"
    # SQLite's two-argument max() is NULL when either is; coalesce keeps the one that is not.
    "  latency_max_ms = coalesce(max(health_check_rollups.latency_max_ms,"
    "   excluded.latency_max_ms), health_check_rollups.latency_max_ms, excluded.latency_max_ms),"
    "  latency_count = health_check_rollups.latency_count + excluded.latency_count"
).bindparams(bindparam("end", type_=UtcDateTime()))

_SQLITE_DELETE_RAW = text("DELETE FROM health_checks WHERE timestamp < :end").bindparams(
    bindparam("end", type_=UtcDateTime())
)

# PostgreSQL under READ COMMITTED could see, in a separate DELETE, a row committed after the
# INSERT ... SELECT read the table, and delete it unfolded. One statement whose roll-up reads
# exactly what its DELETE removed cannot.
_POSTGRESQL_ROLL_UP = text(
    "WITH gone AS ("
    "  DELETE FROM health_checks WHERE timestamp < :end"
    "  RETURNING namespace, service, timestamp, ok, latency_ms"
    "), merged AS ("
    "  INSERT INTO health_check_rollups (row_id, namespace, service, hour, checks, passed,"
    "   latency_sum_ms, latency_max_ms, latency_count)"
    "  SELECT md5(random()::text || clock_timestamp()::text), namespace, service,"
    # date_trunc on a timestamptz truncates in the session's time zone; hours are UTC hours.
    "   date_trunc('hour', timestamp AT TIME ZONE 'UTC') AT TIME ZONE 'UTC',"
    "   count(*), count(*) FILTER (WHERE ok), coalesce(sum(latency_ms) FILTER (WHERE ok), 0),"
    "   max(latency_ms) FILTER (WHERE ok), count(latency_ms) FILTER (WHERE ok)"
    "  FROM gone GROUP BY 2, 3, 4"
    "  ON CONFLICT (namespace, service, hour) DO UPDATE SET"
    "   checks = health_check_rollups.checks + excluded.checks,"
    "   passed = health_check_rollups.passed + excluded.passed,"
    "   latency_sum_ms = health_check_rollups.latency_sum_ms + excluded.latency_sum_ms,"
    "   latency_max_ms = greatest(health_check_rollups.latency_max_ms, excluded.latency_max_ms),"
    "   latency_count = health_check_rollups.latency_count + excluded.latency_count"
    "  RETURNING 1"
    ")"
    " SELECT (SELECT count(*) FROM gone), (SELECT count(*) FROM merged)"
).bindparams(bindparam("end", type_=UtcDateTime()))


@dataclass(frozen=True)
class RetentionResult:
    """What one run did.

    ``rows_rolled_up`` and ``raw_deleted`` are equal by construction (the rows folded are the
    rows deleted, in the same transaction); both are given so a log line says it plainly.
    """

    rows_rolled_up: int = 0
    raw_deleted: int = 0
    rollups_deleted: int = 0
    rollups_written: int = 0  # roll-up rows created or merged into
    history_deleted: int = 0  # events, workflow rows and engine rounds past their retention

    def __add__(self, other: RetentionResult) -> RetentionResult:
        return RetentionResult(
            self.rows_rolled_up + other.rows_rolled_up,
            self.raw_deleted + other.raw_deleted,
            self.rollups_deleted + other.rollups_deleted,
            self.rollups_written + other.rollups_written,
            self.history_deleted + other.history_deleted,
        )


def hour_floor(moment: datetime) -> datetime:
    """The start of ``moment``'s UTC hour (naive means UTC)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def raw_cutoff(now: datetime, raw_retention: timedelta = DEFAULT_RAW_RETENTION) -> datetime:
    """Raw checks before this moment are rolled up: whole hours only."""
    return hour_floor(now - raw_retention)


def rollup_cutoff(
    now: datetime, rollup_retention: timedelta = DEFAULT_ROLLUP_RETENTION
) -> datetime:
    """Roll-ups for hours starting before this moment are deleted: all of their checks are
    older than ``now - rollup_retention``."""
    return hour_floor(now - rollup_retention)


async def _chunk_end(connection: AsyncConnection, cutoff: datetime, chunk_rows: int) -> datetime:
    """Where the next chunk ends: after at most ``chunk_rows`` of the oldest raw rows."""
    stamp = health_checks.c.timestamp
    older = select(stamp).where(stamp < cutoff).order_by(stamp)
    boundary: datetime | None = (
        await connection.execute(older.offset(chunk_rows).limit(1))
    ).scalar()
    if boundary is None:
        return cutoff
    oldest: datetime = (await connection.execute(older.limit(1))).scalar_one()
    # More than chunk_rows rows share the oldest timestamp: take them all, or never progress.
    return boundary if boundary > oldest else oldest + _MICROSECOND


async def _roll_up_chunk(connection: AsyncConnection, end: datetime) -> RetentionResult:
    if connection.dialect.name == "postgresql":
        deleted, written = (await connection.execute(_POSTGRESQL_ROLL_UP, {"end": end})).one()
        return RetentionResult(rows_rolled_up=deleted, raw_deleted=deleted, rollups_written=written)
    # SQLite: the INSERT takes the database's write lock and holds it until COMMIT, so no
    # writer can add a row between the two statements: the DELETE removes what was folded.
    written = (await connection.execute(_SQLITE_ROLL_UP, {"end": end})).rowcount
    deleted = (await connection.execute(_SQLITE_DELETE_RAW, {"end": end})).rowcount
    return RetentionResult(rows_rolled_up=deleted, raw_deleted=deleted, rollups_written=written)


async def _roll_up(engine: AsyncEngine, cutoff: datetime, chunk_rows: int) -> RetentionResult:
    total = RetentionResult()
    while True:
        async with engine.begin() as connection:
            end = await _chunk_end(connection, cutoff, chunk_rows)
            done = await _roll_up_chunk(connection, end)
        total += done
        if end >= cutoff or done.raw_deleted == 0:
            return total


async def _prune(
    engine: AsyncEngine, table: Table, column: str, cutoff: datetime | str, chunk_rows: int
) -> int:
    deleted = 0
    while True:
        doomed = select(table.c.id).where(table.c[column] < cutoff).limit(chunk_rows)
        async with engine.begin() as connection:
            count = (await connection.execute(delete(table).where(table.c.id.in_(doomed)))).rowcount
        deleted += count
        if count < chunk_rows:
            return deleted


async def roll_up_and_prune(
    engine: AsyncEngine,
    now: datetime,
    raw_retention: timedelta = DEFAULT_RAW_RETENTION,
    rollup_retention: timedelta = DEFAULT_ROLLUP_RETENTION,
    *,
    history_retention: timedelta = DEFAULT_HISTORY_RETENTION,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
) -> RetentionResult:
    """Fold raw checks older than the raw cutoff into hourly roll-ups, delete them, and delete
    roll-ups older than the roll-up cutoff, and events, workflow rows and engine rounds older
    than ``history_retention``. Safe to re-run and to interrupt at any point."""
    if min(raw_retention, rollup_retention, history_retention) <= timedelta(0):
        raise ValueError("raw_retention, rollup_retention and history_retention must be positive")
    if chunk_rows < 1:
        raise ValueError("chunk_rows must be at least 1")
    result = await _roll_up(engine, raw_cutoff(now, raw_retention), chunk_rows)
    pruned = await _prune(
        engine, health_check_rollups, "hour", rollup_cutoff(now, rollup_retention), chunk_rows
    )
    # The demand history is read for a week at most (core/forecast.py); it goes with the raw
    # checks it was computed from.
    await _prune(engine, scaling_samples, "timestamp", raw_cutoff(now, raw_retention), chunk_rows)
    # One small row per optimiser round (changes only): kept as long as the roll-ups.
    await _prune(
        engine, optimization_runs, "timestamp", rollup_cutoff(now, rollup_retention), chunk_rows
    )
    history = now - history_retention
    history_deleted = await _prune(engine, events, "timestamp", history, chunk_rows)
    # These two keep the original engine's ISO 8601 text (tables.py): written by rows.iso, which
    # sorts as the moments do, so the cutoff is compared as the same text.
    for table in (workflow_management, orchestration_metrics):
        history_deleted += await _prune(engine, table, "timestamp", iso(history), chunk_rows)
    return result + RetentionResult(rollups_deleted=pruned, history_deleted=history_deleted)


def _utc_now() -> datetime:
    return datetime.now(UTC)


class RetentionTask:
    """Runs :func:`roll_up_and_prune` every ``interval`` and retention by size every
    ``size_interval`` in the background (``max_size``: budget.parse_max_size; None: no budget,
    the size is still measured for the metrics).

    It never raises into its owner: a failed run (the database unreachable, the schema not yet
    created by the writer) is logged and tried again at the next interval; nothing is lost by
    waiting, the rows are simply kept a little longer.
    """

    def __init__(
        self,
        database: str | AsyncEngine,
        *,
        interval: timedelta = DEFAULT_INTERVAL,
        raw_retention: timedelta = DEFAULT_RAW_RETENTION,
        rollup_retention: timedelta = DEFAULT_ROLLUP_RETENTION,
        history_retention: timedelta = DEFAULT_HISTORY_RETENTION,
        max_size: str | int | None = None,
        size_interval: timedelta = DEFAULT_SIZE_INTERVAL,
        first_run_after: timedelta = timedelta(minutes=1),
        chunk_rows: int = DEFAULT_CHUNK_ROWS,
        clock: Callable[[], datetime] = _utc_now,
    ) -> None:
        if interval <= timedelta(0) or size_interval <= timedelta(0):
            raise ValueError("interval and size_interval must be positive")
        parse_max_size(max_size)  # a bad budget is refused here, not at the first run
        self._database = database
        # For messages: describe() reads the location from it, never the password.
        self._url = (
            database
            if isinstance(database, str)
            else database.url.render_as_string(hide_password=True)
        )
        self.url = redact(self._url)
        self.interval = interval
        self.raw_retention = raw_retention
        self.rollup_retention = rollup_retention
        self.history_retention = history_retention
        self.max_size = max_size
        self.size_interval = size_interval
        self.last_size: StoreSize | None = None
        # Not at once: the operator's start-up (and the writer's migration) comes first.
        self.first_run_after = first_run_after
        self.chunk_rows = chunk_rows
        self._clock = clock
        self._engine: AsyncEngine | None = None
        self._age_due: float | None = None
        self._task = Periodic("store-retention", self._round, first_wait_s=self._first_wait)
        self.last_result: RetentionResult | None = None
        self.last_error: str | None = None
        self.runs = 0

    def _get_engine(self) -> AsyncEngine:
        if self._engine is None:
            database = self._database
            self._engine = create_engine(database) if isinstance(database, str) else database
        return self._engine

    async def run_once(self) -> RetentionResult | None:
        """One run; None when it failed (the reason is in ``last_error`` and the log)."""
        self.runs += 1
        try:
            result = await roll_up_and_prune(
                self._get_engine(),
                self._clock(),
                self.raw_retention,
                self.rollup_retention,
                history_retention=self.history_retention,
                chunk_rows=self.chunk_rows,
            )
        except Exception as error:
            RETENTION_ERRORS.inc()
            self.last_error = describe(error, self._url)
            log.warning(
                "health-check retention on %s failed, retrying in %s: %s",
                self.url,
                self.interval,
                self.last_error,
                exc_info=log.isEnabledFor(logging.DEBUG),
            )
            return None
        self.last_result, self.last_error = result, None
        if result.raw_deleted or result.rollups_deleted or result.history_deleted:
            log.info(
                "health-check retention: %d checks rolled up into %d hourly rows,"
                " %d expired roll-ups and %d expired history rows deleted",
                result.rows_rolled_up,
                result.rollups_written,
                result.rollups_deleted,
                result.history_deleted,
            )
        return result

    async def enforce_size(self) -> StoreSize | None:
        """Measure the store, publish its size, and cut it back when over its budget; None when
        it failed (logged, counted in eoe_store_retention_errors_total, retried next pass)."""
        # sizing.py rolls raw checks up with this module's functions; imported here, not at
        # the top, so the two modules do not import each other while loading.
        from . import sizing

        try:
            max_bytes = max_bytes_for(self.max_size, sizing.filesystem_bytes(self._url))
            size, cut = await sizing.enforce_budget(
                self._get_engine(), max_bytes, chunk_rows=self.chunk_rows
            )
        except Exception as error:
            RETENTION_ERRORS.inc()
            self.last_error = describe(error, self._url)
            log.warning(
                "metrics store size check on %s failed, retrying in %s: %s",
                self.url,
                self.size_interval,
                self.last_error,
                exc_info=log.isEnabledFor(logging.DEBUG),
            )
            return None
        STORE_SIZE.set(size.used_bytes)
        STORE_DISK_BYTES.set(size.disk_bytes)
        STORE_MAX_BYTES.set(max_bytes or 0)
        for table, rows in cut.items():
            SIZE_CUT_ROWS.labels(table).inc(rows)
        self.last_size = size
        return size

    def _first_wait(self) -> float:
        self._age_due = None
        return self.first_run_after.total_seconds()

    async def _round(self) -> float:
        """The age-based run every ``interval`` (the first at once), the size every
        ``size_interval``; seconds until the next of the two is due."""
        loop = asyncio.get_running_loop()
        if self._age_due is None:
            self._age_due = loop.time()
        if loop.time() >= self._age_due:
            await self.run_once()
            self._age_due = loop.time() + self.interval.total_seconds()
        await self.enforce_size()
        wait = min(self.size_interval.total_seconds(), self._age_due - loop.time())
        return max(wait, 0.0)

    async def start(self) -> None:
        if self._task.running:
            raise RuntimeError("the retention task was already started")
        await self._task.start()

    async def stop(self) -> None:
        """Stop; a run in progress is abandoned, its open chunk rolled back whole."""
        await self._task.stop()
        if self._engine is not None and isinstance(self._database, str):
            await self._engine.dispose()
        self._engine = None

    @property
    def running(self) -> bool:
        return self._task.running
