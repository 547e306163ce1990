"""Measuring the store's size, and cutting it back to its budget (budget.py decides what goes).

Two figures, because a database does not give back the space its deleted rows took:

- ``disk_bytes``: what the store takes on its volume. SQLite: the file plus its write-ahead
  log; PostgreSQL: ``pg_database_size``. A SQLite file keeps its high-water size after a
  delete (freed pages are reused by new rows, not returned), and so do PostgreSQL's tables.
- ``used_bytes``: what the rows take, the figure the budget counts, so a store at its budget
  is one whose rows fill it, not one whose file once did. First the cheap bound: SQLite's
  pages in use (``page_count - freelist_count``, times ``page_size``), PostgreSQL's database
  size. Only when that passes the budget are the rows counted: SQLite's live bytes per table
  from ``dbstat`` (rows and index entries without the free space in their pages),
  PostgreSQL's rows times their mean size (``pg_column_size`` of the newest rows plus the
  tuple header, scaled up by the table's index share).

Cuts run in chunks of at most ``chunk_rows`` rows, one short transaction each, as age
retention does: on SQLite the writer waits on the same write lock.
"""

from __future__ import annotations

import contextlib
import logging
import os
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from sqlalchemy import Table, cast, delete, func, literal_column, select, text
from sqlalchemy.dialects.postgresql import REGCLASS
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from .budget import PRUNE_ORDER, Cut, TableUsage, plan_cuts
from .retention import DEFAULT_CHUNK_ROWS, _roll_up
from .tables import TABLES, health_checks
from .url import sqlite_path

log = logging.getLogger(__name__)

_MICROSECOND = timedelta(microseconds=1)

# Bytes a row takes in SQLite, indexes included. The first four are measured with SQLite's
# `dbstat` table on rows as the operator writes them (tests/bench/bench_store_size.py, figures
# in docs/report.md "Store sizing"); the others are estimates from their columns. Only their
# ratios matter: they split the exactly measured bytes in use between the tables, which the
# portable pragmas cannot do (not every SQLite build has `dbstat`).
SQLITE_ROW_BYTES: dict[str, int] = {
    "health_checks": 277,
    "health_check_rollups": 271,
    "events": 325,
    "workflow_management": 589,
    "scaling_samples": 250,
    "optimization_runs": 800,
    "orchestration_metrics": 450,
    "service_registry": 700,
}
_DEFAULT_ROW_BYTES = 300

# PostgreSQL's per-row overhead beside the data pg_column_size counts: the 23-byte tuple
# header padded to 24, and the 4-byte line pointer.
_POSTGRESQL_ROW_OVERHEAD = 28
_SAMPLE_ROWS = 200


@dataclass(frozen=True)
class StoreSize:
    used_bytes: int
    disk_bytes: int
    tables: dict[str, TableUsage] | None = None  # filled in only when a cut is planned


def filesystem_bytes(url: str) -> int | None:
    """The size of the filesystem holding a SQLite store (None for PostgreSQL or in memory)."""
    path = sqlite_path(url)
    if path is None:
        return None
    try:
        stats = os.statvfs(path.absolute().parent)
    except OSError:
        return None
    return stats.f_blocks * stats.f_frsize


async def _count(engine: AsyncEngine, table: Table) -> int:
    async with engine.connect() as connection:
        return int((await connection.execute(select(func.count()).select_from(table))).scalar_one())


async def _sqlite_size(engine: AsyncEngine) -> tuple[int, int]:
    async with engine.connect() as connection:
        page_size = (await connection.exec_driver_sql("PRAGMA page_size")).scalar_one()
        pages = (await connection.exec_driver_sql("PRAGMA page_count")).scalar_one()
        free = (await connection.exec_driver_sql("PRAGMA freelist_count")).scalar_one()
    return (pages - free) * page_size, pages * page_size + _wal_bytes(engine.url.database)


def _wal_bytes(database: str | None) -> int:
    """The write-ahead log's size: one stat, a few microseconds."""
    if not database or database == ":memory:":
        return 0
    with contextlib.suppress(OSError):
        return Path(database + "-wal").stat().st_size
    return 0


_DBSTAT = text(
    "SELECT m.tbl_name, sum(d.pgsize - d.unused) FROM dbstat AS d"
    " JOIN sqlite_master AS m ON m.name = d.name GROUP BY m.tbl_name"
)


async def _sqlite_tables(engine: AsyncEngine) -> dict[str, TableUsage]:
    """Each table's rows and live bytes (its rows and index entries, not the free space in its
    pages: a page half emptied by a cut still counts whole in ``page_count``, and counting it
    would cut again and again). From ``dbstat`` when SQLite has it, else rows times the
    measured per-row costs."""
    rows = {name: await _count(engine, table) for name, table in TABLES.items()}
    try:
        async with engine.connect() as connection:
            live = {str(name): int(size) for name, size in await connection.execute(_DBSTAT)}
    except DBAPIError:
        log.debug("no dbstat in this SQLite: the store's size is estimated from its rows")
        live = {
            name: count * SQLITE_ROW_BYTES.get(name, _DEFAULT_ROW_BYTES)
            for name, count in rows.items()
        }
    return {name: TableUsage(rows[name], live.get(name, 0)) for name in rows}


async def _postgresql_tables(engine: AsyncEngine) -> dict[str, TableUsage]:
    usage: dict[str, TableUsage] = {}
    async with engine.connect() as connection:
        for name, table in TABLES.items():
            rows = int(
                (await connection.execute(select(func.count()).select_from(table))).scalar_one()
            )
            if rows == 0:
                usage[name] = TableUsage(0, 0)
                continue
            newest = select(table).order_by(table.c.id.desc()).limit(_SAMPLE_ROWS).subquery("s")
            relation = cast(name, REGCLASS)
            sample = (
                await connection.execute(
                    select(
                        func.avg(func.pg_column_size(literal_column("s.*"))),
                        func.pg_indexes_size(relation),
                        func.greatest(func.pg_table_size(relation), 1),
                    ).select_from(newest)
                )
            ).one()
            mean, indexes, heap = sample
            per_row = (float(mean or 0) + _POSTGRESQL_ROW_OVERHEAD) * (1 + indexes / heap)
            usage[name] = TableUsage(rows, int(rows * per_row))
    return usage


async def measure(engine: AsyncEngine, *, with_tables: bool = False) -> StoreSize:
    """The store's size; with ``with_tables``, each table's rows and share too."""
    if engine.dialect.name == "sqlite":
        used, disk = await _sqlite_size(engine)
        if not with_tables:
            return StoreSize(used, disk)
        tables = await _sqlite_tables(engine)
        return StoreSize(sum(t.bytes for t in tables.values()), disk, tables)
    async with engine.connect() as connection:
        disk = int(
            (
                await connection.exec_driver_sql("SELECT pg_database_size(current_database())")
            ).scalar_one()
        )
    if not with_tables:
        return StoreSize(disk, disk)
    tables = await _postgresql_tables(engine)
    return StoreSize(sum(t.bytes for t in tables.values()), disk, tables)


async def _roll_up_oldest(engine: AsyncEngine, rows: int, chunk_rows: int) -> int:
    """Fold the ``rows`` oldest raw checks into the hourly roll-ups and delete them, as age
    retention would (their counts stay in the report), whole timestamps at a time."""
    stamp = health_checks.c.timestamp
    async with engine.connect() as connection:
        boundary = (
            await connection.execute(select(stamp).order_by(stamp).offset(rows).limit(1))
        ).scalar()
        if boundary is None:
            newest = (await connection.execute(select(func.max(stamp)))).scalar()
            if newest is None:
                return 0
            boundary = newest + _MICROSECOND
    return (await _roll_up(engine, boundary, chunk_rows)).raw_deleted


async def _delete_oldest(engine: AsyncEngine, table: Table, rows: int, chunk_rows: int) -> int:
    """Delete the ``rows`` oldest rows (lowest ids: ids only grow) of ``table`` in chunks."""
    deleted = 0
    while deleted < rows:
        size = min(chunk_rows, rows - deleted)
        doomed = select(table.c.id).order_by(table.c.id).limit(size)
        async with engine.begin() as connection:
            count = (await connection.execute(delete(table).where(table.c.id.in_(doomed)))).rowcount
        deleted += count
        if count < size:
            break
    return deleted


async def apply_cuts(
    engine: AsyncEngine, cuts: list[Cut], *, chunk_rows: int = DEFAULT_CHUNK_ROWS
) -> dict[str, int]:
    """Carry out ``cuts``; the rows each table lost."""
    done: dict[str, int] = {}
    for cut in cuts:
        if cut.table == health_checks.name:
            done[cut.table] = await _roll_up_oldest(engine, cut.rows, chunk_rows)
        else:
            done[cut.table] = await _delete_oldest(engine, TABLES[cut.table], cut.rows, chunk_rows)
    return done


async def enforce_budget(
    engine: AsyncEngine, max_bytes: int | None, *, chunk_rows: int = DEFAULT_CHUNK_ROWS
) -> tuple[StoreSize, dict[str, int]]:
    """Measure; when over ``max_bytes``, cut the oldest rows (budget.py) and measure again.

    Returns the size after any cut and the rows cut per table.
    """
    size = await measure(engine)
    # Without the tables, PostgreSQL's figure is the database's size on disk, which bounds
    # its rows' bytes from above: below the budget, there is nothing to count.
    if max_bytes is None or size.used_bytes <= max_bytes:
        return size, {}
    size = await measure(engine, with_tables=True)
    assert size.tables is not None
    cuts = plan_cuts(size.tables, size.used_bytes, max_bytes, order=PRUNE_ORDER)
    if not cuts:
        return size, {}
    done = await apply_cuts(engine, cuts, chunk_rows=chunk_rows)
    log.warning(
        "the metrics store is over its size budget (%d bytes in use, budget %d): cut the"
        " oldest rows %s; raise the budget and the volume to keep more history",
        size.used_bytes,
        max_bytes,
        ", ".join(f"{table} {rows}" for table, rows in done.items()),
    )
    # The pages a cut half empties still count in the cheap figure: only the live bytes show
    # the cut.
    return await measure(engine, with_tables=True), done
