"""The store writer: reconciliation hands it rows and moves on; the rows reach the database
later, in order, exactly once, whatever the database is doing meanwhile.

``submit`` only checks the row and queues it. A background task writes batches, one
transaction each, with inserts that ignore a ``row_id`` already present, so a batch can always
be sent again: after a timeout, a dropped connection, a restart. While the database is
unreachable, rows wait in memory up to ``max_buffered_rows``, then in the spill file; the
writer retries with capped exponential backoff, reports itself degraded (once, with the
reason), and catches up when the database is back. ``stop`` writes what it can in its time
and leaves the rest in the spill file, which the next writer replays.

Rows stay in submission order: once anything is in the spill file, new rows queue behind it
there until it has been read back.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import itertools
import json
import logging
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Insert
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncEngine

from orchestration_engine.plumbing.lifecycle import Lifecycle
from orchestration_engine.plumbing.supervision import supervise

from . import metrics
from .engine import create_engine
from .errors import describe, is_row_error
from .migrate import upgrade_connection
from .rows import Row, RowError, decode, encode, prepare, to_json
from .spill import SpillFile
from .tables import TABLES
from .url import normalize, redact, sqlite_path

log = logging.getLogger(__name__)

DegradedCallback = Callable[[bool, str], None]

# Rows read back from the spill file at a time: enough for many batches, little memory.
_REFILL_ROWS = 10_000


class _SpillUnreadable(OSError):
    pass


@dataclass(slots=True)
class _Pending:
    table: str
    row: Row | None  # None: a spill line that could not be read back
    problem: str | None = None
    raw: bytes = b""


def default_spill_path(url: str) -> Path:
    """Next to the SQLite file when its directory exists, else in the temporary directory."""
    database = sqlite_path(url)
    if database is not None and database.absolute().parent.is_dir():
        return database.with_name(database.name + ".spill.jsonl")
    # One file per database, so two operators on one machine do not share a spill file.
    digest = hashlib.sha256(redact(normalize(url)).encode()).hexdigest()[:12]
    return Path(tempfile.gettempdir()) / f"orchestration-engine-store-{digest}.spill.jsonl"


class StoreWriter(Lifecycle):
    """Buffered, idempotent, outage-proof writes to the metrics store.

    Use as ``async with StoreWriter(url) as writer: writer.submit("events", {...})``.
    """

    def __init__(
        self,
        url: str,
        *,
        batch_size: int = 500,
        flush_interval: float = 0.2,
        max_buffered_rows: int = 100_000,
        spill_path: str | Path | None = None,
        ensure_schema: bool = True,
        retry_initial: float = 0.5,
        retry_max: float = 10.0,
        on_degraded_change: DegradedCallback | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if batch_size < 1 or max_buffered_rows < 1:
            raise ValueError("batch_size and max_buffered_rows must be at least 1")
        self._url = normalize(url)
        self.url = redact(self._url)
        self.batch_size = batch_size
        self.flush_interval = flush_interval
        self.max_buffered_rows = max_buffered_rows
        self.spill_path = Path(spill_path) if spill_path is not None else default_spill_path(url)
        self.rejected_path = self.spill_path.with_name(self.spill_path.name + ".rejected")
        self._ensure_schema = ensure_schema
        self._retry_initial = retry_initial
        self._retry_max = retry_max
        self._on_degraded_change = on_degraded_change
        self._monotonic = monotonic

        self._lock = threading.Lock()  # submit may be called from other threads
        self._memory: deque[_Pending] = deque()
        self._spill = SpillFile(self.spill_path)
        # Rows left by an earlier process come first; until they are counted (in start), every
        # new row queues behind them in the file.
        self._spill_uncounted = self._spill.existing_bytes > 0
        self._spill_broken = False
        # Positions in the one queue (memory, then the spill file) of every row ever submitted:
        # rows are written from the front, so "committed >= n" means rows 1..n are done.
        self._enqueued = 0
        self._committed = 0
        self._spill_loaded_upto = 0  # position of the last row read back from the spill file

        self._degraded = False
        self._reason = ""
        self._degraded_since = 0.0
        self._schema_ready = not ensure_schema
        self._engine: AsyncEngine | None = None
        self._inserts: dict[tuple[str, str], Insert] = {}
        self._task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread: int | None = None
        self._wakeup = asyncio.Event()
        self._stopping = asyncio.Event()
        self._waiters: list[tuple[int, asyncio.Future[None]]] = []
        self._closed = False

    # -- the caller's side -------------------------------------------------------------------

    def submit(self, table: str, row: Mapping[str, Any]) -> None:
        """Queue one row for ``table``; returns at once.

        Raises RowError (a ValueError) for a row no database would accept: an unknown table or
        column, a missing required value, a value of the wrong type. Never raises because of
        the database.
        """
        prepared = prepare(table, row)
        with self._lock:
            self._enqueued += 1
            behind_spill = self._closed or self._spill_uncounted or self._spill.unread > 0
            full = len(self._memory) >= self.max_buffered_rows
            if not ((behind_spill or full) and self._to_spill(table, prepared)):
                self._memory.append(_Pending(table, prepared))
            pending = len(self._memory) + self._spill.unread
        metrics.ROWS_SUBMITTED.labels(table=table).inc()
        metrics.BUFFERED_ROWS.set(pending)
        if pending == 1 or pending >= self.batch_size:
            self._wake()

    def _to_spill(self, table: str, row: Row) -> bool:
        try:
            self._spill.append(encode(table, row))
            if self._closed or self._task is None:
                self._spill.flush()  # no background task to do it
        except OSError as error:
            # Nothing is dropped: the row stays in memory, beyond the bound.
            if not self._spill_broken:
                log.error("cannot write the spill file %s: %s", self.spill_path, error)
                self._spill_broken = True
            return False
        self._spill_broken = False
        return True

    def _wake(self) -> None:
        if self._loop is not None and threading.get_ident() != self._loop_thread:
            with contextlib.suppress(RuntimeError):  # the loop is closed
                self._loop.call_soon_threadsafe(self._wakeup.set)
        else:
            self._wakeup.set()

    @property
    def degraded(self) -> bool:
        """True while the database cannot be written to; ``reason`` says why."""
        return self._degraded

    @property
    def reason(self) -> str:
        return self._reason

    @property
    def buffered_rows(self) -> int:
        """Rows submitted and not yet committed, in memory and in the spill file."""
        return len(self._memory) + self._spill.unread

    async def flush(self, timeout: float | None = None) -> None:
        """Wait until every row submitted so far is committed; TimeoutError after ``timeout``."""
        if self._task is None or self._task.done():
            raise RuntimeError("the store writer is not running")
        target = self._enqueued
        if self._committed >= target:
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        entry = (target, future)
        self._waiters.append(entry)
        self._wakeup.set()
        try:
            async with asyncio.timeout(timeout):
                await future
        except TimeoutError:
            raise TimeoutError(
                f"{self.buffered_rows} rows not yet written to {self.url} after {timeout} s"
                + (f" ({self._reason})" if self._degraded else "")
            ) from None
        finally:
            with contextlib.suppress(ValueError):
                self._waiters.remove(entry)

    # -- life cycle --------------------------------------------------------------------------

    async def start(self) -> None:
        if self._task is not None:
            raise RuntimeError("the store writer was already started")
        self._loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()
        if self._spill_uncounted:
            left = await asyncio.to_thread(self._spill.count_existing)
            with self._lock:
                self._spill.unread += left
                self._enqueued += left
                self._spill_uncounted = False
            log.info("replaying %d rows from the spill file %s", left, self.spill_path)
        metrics.BUFFERED_ROWS.set(self.buffered_rows)
        self._task = supervise("store-writer", self._run)

    async def stop(self, drain_timeout: float = 10.0) -> None:
        """Write what can be written within ``drain_timeout``, spill the rest, close."""
        if self._closed:
            return
        if self._task is not None:
            self._stopping.set()
            self._wakeup.set()
            try:
                async with asyncio.timeout(drain_timeout):
                    await asyncio.shield(self._task)
            except TimeoutError:
                self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        with self._lock:
            self._closed = True
            head = [encode(p.table, p.row) if p.row is not None else p.raw for p in self._memory]
            self._memory.clear()
        try:
            if head:
                await asyncio.to_thread(self._spill.rewrite, head)
            else:
                await asyncio.to_thread(self._spill.sync)
        except OSError as error:
            log.error("cannot save %d unwritten rows to %s: %s", len(head), self.spill_path, error)
        if self.buffered_rows:
            log.warning(
                "store writer stopped with %d rows unwritten; they are in %s and will be "
                "written by the next writer",
                self.buffered_rows,
                self.spill_path,
            )
        self._spill.close()
        if self._engine is not None:
            await self._engine.dispose()
            self._engine = None

    # -- the background task -----------------------------------------------------------------

    async def _run(self) -> None:
        failures = 0
        while True:
            # Spilled rows reach the operating system promptly: a crash then loses none of them.
            with self._lock, contextlib.suppress(OSError):
                self._spill.flush()
            try:
                progressed = await self._step()
            except Exception as error:
                failures += 1
                metrics.WRITE_ERRORS.inc()
                reason = (
                    str(error)
                    if isinstance(error, _SpillUnreadable)
                    else describe(error, self._url)
                )
                self._set_degraded(reason, error)
                if self._stopping.is_set():
                    return  # do not sleep through a shutdown: stop() spills what is left
                delay = min(self._retry_max, self._retry_initial * 2 ** (failures - 1))
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(delay):
                        await self._stopping.wait()
                continue
            if failures:
                failures = 0
                self._set_recovered()
            if not progressed:
                if self._stopping.is_set():
                    return
                self._wakeup.clear()
                if not self._memory and not self._spill.unread and not self._stopping.is_set():
                    await self._wakeup.wait()

    async def _step(self) -> bool:
        """One unit of work; False when there was nothing to do."""
        if self._engine is None:
            self._engine = create_engine(self._url)
        if not self._schema_ready:
            async with self._engine.begin() as connection:
                await upgrade_connection(connection)
            self._schema_ready = True
            return True
        await self._refill()
        if not self._memory:
            self._remove_spent_spill()
            return False
        await self._gather()
        with self._lock:
            batch = list(itertools.islice(self._memory, self.batch_size))
        rejected = await self._write_resilient(
            [p for p in batch if p.row is not None], self._engine
        )
        self._done(batch, rejected)
        return True

    async def _gather(self) -> None:
        """Give a small batch up to ``flush_interval`` to grow; fewer, larger transactions."""
        deadline = self._monotonic() + self.flush_interval
        while (
            len(self._memory) + self._spill.unread < self.batch_size
            and not self._waiters
            and not self._stopping.is_set()
        ):
            remaining = deadline - self._monotonic()
            if remaining <= 0:
                return
            self._wakeup.clear()
            try:
                async with asyncio.timeout(remaining):
                    await self._wakeup.wait()
            except TimeoutError:
                return

    async def _refill(self) -> None:
        """Read rows back from the spill file while memory has room."""
        room = self.max_buffered_rows - len(self._memory)
        if self._spill.unread == 0 or room < min(self.batch_size, self.max_buffered_rows):
            return
        with self._lock:
            self._spill.flush()
        try:
            lines, offset = await asyncio.to_thread(
                self._spill.read, self._spill.offset, min(room, _REFILL_ROWS)
            )
        except OSError as error:
            raise _SpillUnreadable(
                f"cannot read the spill file {self.spill_path}: {error.strerror or error}"
            ) from error
        loaded = []
        for line in lines:
            try:
                table, row = decode(line)
                loaded.append(_Pending(table, row))
            except RowError as error:
                loaded.append(_Pending("", None, str(error), line))
        with self._lock:
            if not lines:
                # The file is shorter than what was appended: changed behind our back.
                log.error(
                    "the spill file %s lost %d rows (truncated by something else?)",
                    self.spill_path,
                    self._spill.unread,
                )
                self._committed += self._spill.unread
                self._spill.unread = 0
            self._spill.unread -= len(lines)
            self._spill.offset = offset
            self._memory.extend(loaded)
            self._spill_loaded_upto = self._committed + len(self._memory)

    def _remove_spent_spill(self) -> None:
        with self._lock:
            if (
                self._spill.unread == 0
                and self._committed >= self._spill_loaded_upto
                and self._spill.exists()
            ):
                self._spill.remove()

    def _insert(self, table: str, dialect: str) -> Insert:
        statement = self._inserts.get((table, dialect))
        if statement is None:
            target = TABLES[table]
            if dialect == "postgresql":
                statement = postgresql.insert(target).on_conflict_do_nothing(
                    index_elements=["row_id"]
                )
            else:
                statement = sqlite.insert(target).on_conflict_do_nothing(index_elements=["row_id"])
            self._inserts[(table, dialect)] = statement
        return statement

    async def _write(self, batch: list[_Pending], engine: AsyncEngine) -> None:
        by_table: dict[str, list[Row]] = {}
        for pending in batch:
            assert pending.row is not None
            by_table.setdefault(pending.table, []).append(pending.row)
        async with engine.begin() as connection:
            for table, rows in by_table.items():
                await connection.execute(self._insert(table, connection.dialect.name), rows)

    async def _write_resilient(
        self, batch: list[_Pending], engine: AsyncEngine
    ) -> list[tuple[_Pending, str]]:
        """Write ``batch``; rows the database refuses are returned, not retried forever.

        A refused batch is halved until the culprits are alone; the halves that pass are
        committed on the way. Any other error propagates: the whole batch is retried later.
        """
        if not batch:
            return []
        try:
            await self._write(batch, engine)
        except Exception as error:
            if not is_row_error(error):
                raise
            if len(batch) == 1:
                return [(batch[0], describe(error, self._url))]
            middle = len(batch) // 2
            first = await self._write_resilient(batch[:middle], engine)
            return first + await self._write_resilient(batch[middle:], engine)
        return []

    def _done(self, batch: list[_Pending], rejected: list[tuple[_Pending, str]]) -> None:
        refused = {id(pending) for pending, _ in rejected}
        written: dict[str, int] = {}
        for pending in batch:
            if pending.row is None:
                rejected.append((pending, pending.problem or "unreadable"))
            elif id(pending) not in refused:
                written[pending.table] = written.get(pending.table, 0) + 1
        if rejected:
            self._reject(rejected)
        with self._lock:
            for _ in batch:
                self._memory.popleft()
            self._committed += len(batch)
        for table, count in written.items():
            metrics.ROWS_WRITTEN.labels(table=table).inc(count)
        metrics.BUFFERED_ROWS.set(self.buffered_rows)
        self._remove_spent_spill()
        for target, future in self._waiters:
            if target <= self._committed and not future.done():
                future.set_result(None)

    def _reject(self, rejected: list[tuple[_Pending, str]]) -> None:
        metrics.WRITE_ERRORS.inc(len(rejected))
        log.error(
            "the database refused %d row(s), kept in %s; first: %s",
            len(rejected),
            self.rejected_path,
            rejected[0][1],
        )
        try:
            with self.rejected_path.open("ab") as out:
                for pending, problem in rejected:
                    record: dict[str, Any] = {"error": problem, "table": pending.table}
                    if pending.row is not None:
                        record["row"] = pending.row
                    else:
                        record["line"] = pending.raw.decode(errors="replace").rstrip("\n")
                    out.write((to_json(record) + "\n").encode())
        except OSError as error:
            log.error(
                "cannot keep refused rows in %s: %s; they were: %s",
                self.rejected_path,
                error,
                json.dumps([problem for _, problem in rejected]),
            )

    # -- degraded state ----------------------------------------------------------------------

    def _set_degraded(self, reason: str, error: BaseException) -> None:
        if self._degraded and reason == self._reason:
            return
        if not self._degraded:
            self._degraded_since = self._monotonic()
        self._degraded = True
        self._reason = reason
        log.warning(
            "metrics store %s degraded: %s; %d rows buffered, retrying with backoff up to %g s",
            self.url,
            reason,
            self.buffered_rows,
            self._retry_max,
            exc_info=log.isEnabledFor(logging.DEBUG) and error,
        )
        self._notify(True, reason)

    def _set_recovered(self) -> None:
        if not self._degraded:
            return
        outage = self._monotonic() - self._degraded_since
        self._degraded = False
        self._reason = ""
        message = f"database reachable again after {outage:.1f} s"
        log.warning("metrics store %s recovered: %s", self.url, message)
        self._notify(False, message)

    def _notify(self, degraded: bool, message: str) -> None:
        if self._on_degraded_change is None:
            return
        try:
            self._on_degraded_change(degraded, message)
        except Exception:
            log.exception("the store's on_degraded_change callback failed")
