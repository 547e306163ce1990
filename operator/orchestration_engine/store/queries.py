"""The read side of the metrics store: what the ``report`` and ``status`` commands show.

Every function takes an :class:`AsyncEngine` and answers with a few statements whose cost is
bounded by an index, because the report runs against a store that the operator is writing to
all the time, with a million or more check rows. The expensive question is the per-service
check summary over a day; its design:

- Counts, uptime and mean latency come from one pass over the covering index
  ``(namespace, service, ok, latency_ms, timestamp)``: grouped by its leading columns, the
  rows arrive in group order, so SQLite aggregates without sorting and without reading the
  table; PostgreSQL is free to choose a parallel scan with hash aggregation instead.
- The 95th percentile is exact, by nearest rank: the smallest latency that at least 95 % of
  the passing checks did not exceed. Knowing each service's count ``n`` from the first pass,
  it is the value ``n - ceil(0.95 n)`` places from the top, read by walking the same index
  backwards from the service's largest latency: about 5 % of the service's entries, no sort.
  PostgreSQL does all services in one lateral join; SQLite, which allows no correlated
  OFFSET, in a UNION ALL of one scalar subquery per service. (``ROW_NUMBER()`` over a
  million rows takes seconds on SQLite; ``percentile_disc`` on PostgreSQL is 8 times slower.)
- Hours already folded into ``health_check_rollups`` by retention add their counts and
  latency sums, so the uptime and mean stay right however far back ``since`` reaches; a
  roll-up keeps no distribution, so the p95 covers the raw checks only
  (``ServiceCheckStats.rolled_up_checks`` says how many checks it does not cover).

Measured (tests/bench/bench_store.py): about 0.3 s for a million rows on either backend. The
first pass reads every raw row kept, not only those since ``since`` (on SQLite; PostgreSQL
may range-scan by time), and the p95 walk skips the older ones: the cost follows the rows
kept, i.e. the raw retention, more than the window asked for.
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    Float,
    Integer,
    Select,
    Table,
    Text,
    TextClause,
    and_,
    bindparam,
    column,
    func,
    select,
    text,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from .rows import iso
from .tables import (
    UtcDateTime,
    events,
    health_check_rollups,
    orchestration_metrics,
    scaling_samples,
    service_registry,
    workflow_management,
)

P95 = 95  # percent

# Columns holding JSON text, decoded on the way out.
_JSON_COLUMNS: dict[str, frozenset[str]] = {
    "service_registry": frozenset(
        {"resource_requirements", "dependencies", "configuration", "metrics"}
    ),
    "workflow_management": frozenset(
        {
            "execution_plan",
            "dependencies",
            "resource_allocation",
            "success_criteria",
            "rollback_plan",
        }
    ),
    "orchestration_metrics": frozenset({"resource_utilization"}),
    "events": frozenset({"data"}),
}

# Within SQLite's limits: 500 parts to a compound SELECT, 999 parameters before 3.32.
_SQLITE_P95_SERVICES_PER_STATEMENT = 300


@dataclass(frozen=True)
class ServiceCheckStats:
    """One service's health checks since a moment."""

    namespace: str
    service: str
    checks: int
    passed: int
    uptime_percent: float  # passed / checks * 100
    avg_latency_ms: float | None  # passing checks with a latency; None when there are none
    p95_latency_ms: float | None  # nearest rank over the raw passing checks; None without any
    last_check: datetime | None  # to the hour when only roll-ups remain
    rolled_up_checks: int = 0  # of ``checks``, those known only from hourly roll-ups


@dataclass(frozen=True)
class EventRecord:
    timestamp: datetime
    kind: str
    namespace: str | None
    name: str
    reason: str
    message: str
    data: dict[str, Any] = field(default_factory=dict)


@dataclass
class _Tally:
    checks: int = 0
    passed: int = 0
    latency_sum: float = 0.0
    latency_count: int = 0
    raw_latency_count: int = 0
    rolled_up: int = 0
    last_check: datetime | None = None

    def seen(self, moment: datetime | None) -> None:
        if moment is not None and (self.last_check is None or moment > self.last_check):
            self.last_check = moment


# Grouped by ok rather than summing CASE expressions: fewer operations per row on the scan
# that dominates the report, and the same group order as the index.
_RAW_TOTALS = text(
    "SELECT namespace, service, ok, count(*) AS checks, sum(latency_ms) AS latency_sum,"
    " count(latency_ms) AS latency_count, max(timestamp) AS last_check"
    " FROM health_checks WHERE timestamp >= :since"
    " GROUP BY namespace, service, ok"
).bindparams(bindparam("since", type_=UtcDateTime()))
_RAW_TOTALS_COLUMNS = (
    column("namespace", Text()),
    column("service", Text()),
    column("ok", Boolean()),
    column("checks", Integer()),
    column("latency_sum", Float()),
    column("latency_count", Integer()),
    column("last_check", UtcDateTime()),
)


def _rollup_totals(since: datetime) -> Select[Any]:
    # An hour counts when it starts at or after ``since``: no check before ``since`` is
    # counted, at the price of leaving out the part of an hour that straddles it.
    table = health_check_rollups
    return (
        select(
            table.c.namespace,
            table.c.service,
            func.sum(table.c.checks),
            func.sum(table.c.passed),
            func.sum(table.c.latency_sum_ms),
            func.sum(table.c.latency_count),
            func.max(table.c.hour),
        )
        .where(table.c.hour >= since)
        .group_by(table.c.namespace, table.c.service)
    )


def nearest_rank(count: int, percent: int = P95) -> int:
    """The 1-based ascending rank of the ``percent``-th percentile of ``count`` values:
    ``ceil(count * percent / 100)``, in integers so 95 % of 20 is exactly 19."""
    return max(1, (count * percent + 99) // 100)


# PostgreSQL: one lateral join, each service's walk offset by its own count.
_POSTGRESQL_P95 = text(
    "SELECT wanted.namespace, wanted.service, p95.latency_ms"
    " FROM unnest(:namespaces, :services, :skips) AS wanted(namespace, service, skip)"
    " CROSS JOIN LATERAL ("
    "  SELECT latency_ms FROM health_checks"
    "  WHERE namespace = wanted.namespace AND service = wanted.service AND ok"
    "   AND latency_ms IS NOT NULL AND timestamp >= :since"
    "  ORDER BY latency_ms DESC LIMIT 1 OFFSET wanted.skip"
    " ) AS p95"
).bindparams(
    bindparam("namespaces", type_=postgresql.ARRAY(Text())),
    bindparam("services", type_=postgresql.ARRAY(Text())),
    bindparam("skips", type_=postgresql.ARRAY(Integer())),
    bindparam("since", type_=UtcDateTime()),
)


_SQLITE_P95_PART = (
    "SELECT {i}, (SELECT latency_ms FROM health_checks"
    " WHERE namespace = :n{i} AND service = :s{i} AND ok = 1"
    " AND latency_ms IS NOT NULL AND timestamp >= :since"
    " ORDER BY latency_ms DESC LIMIT 1 OFFSET :k{i})"
)


@functools.lru_cache(maxsize=8)
def _sqlite_p95(services: int) -> TextClause:
    """SQLite allows no correlated OFFSET: a scalar subquery per service, glued together."""
    # Only the part's number is formatted in; every value is a bound parameter.
    parts = [_SQLITE_P95_PART.format(i=i) for i in range(services)]
    return text(" UNION ALL ".join(parts)).bindparams(bindparam("since", type_=UtcDateTime()))


async def _p95s(
    connection: AsyncConnection, since: datetime, wanted: Sequence[tuple[str, str, int]]
) -> dict[tuple[str, str], float]:
    """The p95 latency of each (namespace, service, count of raw passing latencies)."""
    found: dict[tuple[str, str], float] = {}
    if not wanted:
        return found
    # The number of values above the p95 in the service's descending walk.
    skips = [count - nearest_rank(count) for _, _, count in wanted]
    if connection.dialect.name == "postgresql":
        result = await connection.execute(
            _POSTGRESQL_P95,
            {
                "namespaces": [namespace for namespace, _, _ in wanted],
                "services": [service for _, service, _ in wanted],
                "skips": skips,
                "since": since,
            },
        )
        for namespace, service, value in result:
            found[(namespace, service)] = float(value)
        return found
    for start in range(0, len(wanted), _SQLITE_P95_SERVICES_PER_STATEMENT):
        chunk = wanted[start : start + _SQLITE_P95_SERVICES_PER_STATEMENT]
        params: dict[str, Any] = {"since": since}
        for i, (namespace, service, _) in enumerate(chunk):
            params[f"n{i}"], params[f"s{i}"], params[f"k{i}"] = namespace, service, skips[start + i]
        result = await connection.execute(_sqlite_p95(len(chunk)), params)
        for i, value in result:
            if value is not None:
                namespace, service, _ = chunk[i]
                found[(namespace, service)] = float(value)
    return found


async def service_check_stats(engine: AsyncEngine, since: datetime) -> list[ServiceCheckStats]:
    """Per (namespace, service), sorted: the checks since ``since``, raw and rolled up."""
    tallies: dict[tuple[str, str], _Tally] = {}
    async with engine.connect() as connection:
        if connection.dialect.name == "postgresql":
            # One snapshot for the counts and the p95 walks that are offset by them. (SQLite
            # reads each statement afresh: a check written in between moves the p95 by a rank.)
            await connection.execution_options(isolation_level="REPEATABLE READ")
        raw = await connection.execute(_RAW_TOTALS.columns(*_RAW_TOTALS_COLUMNS), {"since": since})
        for namespace, service, ok, checks, latency_sum, latency_count, last in raw:
            tally = tallies.setdefault((namespace, service), _Tally())
            tally.checks += checks
            tally.seen(last)
            if ok:
                tally.passed += checks
                tally.latency_sum += latency_sum or 0.0
                tally.latency_count += latency_count
                tally.raw_latency_count += latency_count
        wanted = [(ns, svc, t.raw_latency_count) for (ns, svc), t in tallies.items()]
        p95s = await _p95s(connection, since, [w for w in wanted if w[2] > 0])
        rolled = await connection.execute(_rollup_totals(since))
        for namespace, service, checks, passed, latency_sum, latency_count, hour in rolled:
            tally = tallies.setdefault((namespace, service), _Tally())
            tally.checks += checks
            tally.passed += passed
            tally.rolled_up += checks
            tally.latency_sum += latency_sum or 0.0
            tally.latency_count += latency_count
            tally.seen(hour)
    return [
        ServiceCheckStats(
            namespace=namespace,
            service=service,
            checks=t.checks,
            passed=t.passed,
            uptime_percent=t.passed / t.checks * 100 if t.checks else math.nan,
            avg_latency_ms=t.latency_sum / t.latency_count if t.latency_count else None,
            p95_latency_ms=p95s.get((namespace, service)),
            last_check=t.last_check,
            rolled_up_checks=t.rolled_up,
        )
        for (namespace, service), t in sorted(tallies.items())
    ]


def _decode_json(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except ValueError:
        return value  # written by something else: shown as it is rather than not at all


def _decoded(table: Table, row: Any) -> dict[str, Any]:
    json_columns = _JSON_COLUMNS.get(table.name, frozenset())
    mapping: dict[str, Any] = dict(row._mapping)
    return {
        name: _decode_json(value) if name in json_columns else value
        for name, value in mapping.items()
    }


async def recent_events(
    engine: AsyncEngine, limit: int = 20, since: datetime | None = None
) -> list[EventRecord]:
    """The newest events first, at most ``limit``, none before ``since``."""
    query = select(events).order_by(events.c.timestamp.desc(), events.c.id.desc()).limit(limit)
    if since is not None:
        query = query.where(events.c.timestamp >= since)
    async with engine.connect() as connection:
        rows = (await connection.execute(query)).all()
    records = []
    for row in rows:
        data = _decode_json(row.data)
        records.append(
            EventRecord(
                timestamp=row.timestamp,
                kind=row.kind,
                namespace=row.namespace,
                name=row.name,
                reason=row.reason,
                message=row.message,
                data=data if isinstance(data, dict) else {"value": data},
            )
        )
    return records


def _latest_ids(dialect: str, table: Table, name: str, since: datetime | None) -> Select[Any]:
    """The id of the latest row (by timestamp, then id) per (namespace, ``name``)."""
    namespace, key, stamp, row_id = table.c.namespace, table.c[name], table.c.timestamp, table.c.id
    # These tables keep the original engine's ISO 8601 UTC text, which sorts as time does.
    since_text = iso(since) if since is not None else None
    if dialect == "postgresql":
        ranked = select(
            row_id,
            func.row_number()
            .over(partition_by=(namespace, key), order_by=(stamp.desc(), row_id.desc()))
            .label("rank"),
        )
        if since_text is not None:
            ranked = ranked.where(stamp >= since_text)
        numbered = ranked.subquery()
        return select(numbered.c.id).where(numbered.c.rank == 1)
    # SQLite: the latest timestamp per key straight from the (namespace, name, timestamp)
    # index, no sort, then the highest id among the rows that have it. (PostgreSQL would join
    # on IS NOT DISTINCT FROM, which it can neither hash nor merge.)
    latest = select(namespace, key, func.max(stamp).label("latest")).group_by(namespace, key)
    if since_text is not None:
        latest = latest.where(stamp >= since_text)
    newest = latest.subquery()
    rows = table.alias()
    return (
        select(func.max(rows.c.id))
        .join_from(
            rows,
            newest,
            and_(
                rows.c.namespace.is_not_distinct_from(newest.c.namespace),
                rows.c[name] == newest.c[name],
                rows.c.timestamp == newest.c.latest,
            ),
        )
        .group_by(rows.c.namespace, rows.c[name])
    )


async def latest_service_rows(engine: AsyncEngine) -> list[dict[str, Any]]:
    """The latest ``service_registry`` row of each (namespace, service_name), JSON decoded."""
    table = service_registry
    async with engine.connect() as connection:
        ids = _latest_ids(connection.dialect.name, table, "service_name", None)
        query = (
            select(table)
            .where(table.c.id.in_(ids))
            # NULLS FIRST: the same order on both backends, which sort NULL differently.
            .order_by(table.c.namespace.asc().nulls_first(), table.c.service_name)
        )
        rows = (await connection.execute(query)).all()
    return [_decoded(table, row) for row in rows]


async def latest_orchestration_metrics(engine: AsyncEngine) -> dict[str, Any] | None:
    """The latest ``orchestration_metrics`` row, JSON decoded; None when there is none."""
    table = orchestration_metrics
    query = select(table).order_by(table.c.timestamp.desc(), table.c.id.desc()).limit(1)
    async with engine.connect() as connection:
        row = (await connection.execute(query)).first()
    return _decoded(table, row) if row is not None else None


async def workflow_status_counts(
    engine: AsyncEngine, since: datetime | None = None
) -> dict[str, int]:
    """How many workflows are in each status, by the latest row of each workflow; with
    ``since``, only workflows with a row since then."""
    table = workflow_management
    async with engine.connect() as connection:
        ids = _latest_ids(connection.dialect.name, table, "workflow_name", since)
        query = (
            select(table.c.status, func.count())
            .where(table.c.id.in_(ids))
            .group_by(table.c.status)
            .order_by(table.c.status)
        )
        rows = (await connection.execute(query)).all()
    return {status: count for status, count in rows}


async def demand_history(
    engine: AsyncEngine, namespace: str, service: str, since: datetime
) -> list[tuple[datetime, float]]:
    """A service's demand samples since ``since``, oldest first (the forecast's history)."""
    table = scaling_samples
    query = (
        select(table.c.timestamp, table.c.demand)
        .where(
            table.c.namespace == namespace,
            table.c.service == service,
            table.c.timestamp >= since,
        )
        .order_by(table.c.timestamp)
    )
    async with engine.connect() as connection:
        rows = (await connection.execute(query)).all()
    return [(row[0], float(row[1])) for row in rows]
