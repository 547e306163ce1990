"""The one place an async SQLAlchemy engine is made, so every user of the store gets the same
connection behaviour.

SQLite is tuned for one writer beside concurrent readers (the report): write-ahead logging,
``synchronous=NORMAL`` (durable at checkpoints, no fsync per commit), a busy timeout instead of
instant "database is locked" errors, and foreign keys on. PostgreSQL gets a small pool that
checks connections before use, because the writer must notice a restarted server instead of
failing on a dead socket, and a connect timeout so an unreachable host costs seconds, not
minutes.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from .url import SQLITE, normalize

SQLITE_BUSY_TIMEOUT_MS = 5000
CONNECT_TIMEOUT_SECONDS = 5.0
COMMAND_TIMEOUT_SECONDS = 30.0

_SQLITE_PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    "PRAGMA synchronous=NORMAL",
    f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}",
    "PRAGMA foreign_keys=ON",
)


def _set_sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    try:
        for pragma in _SQLITE_PRAGMAS:
            cursor.execute(pragma)
    finally:
        cursor.close()


def create_engine(url: str, *, pool_size: int = 3, echo: bool = False) -> AsyncEngine:
    """An engine for ``url`` (any form :func:`normalize` accepts); it connects lazily."""
    normalized = normalize(url)
    if normalized.startswith(SQLITE):
        engine = create_async_engine(normalized, echo=echo)
        event.listen(engine.sync_engine, "connect", _set_sqlite_pragmas)
        return engine
    return create_async_engine(
        normalized,
        echo=echo,
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_pre_ping=True,
        # Servers and proxies drop idle connections; replace them before that happens.
        pool_recycle=1800,
        connect_args={
            "timeout": CONNECT_TIMEOUT_SECONDS,
            "command_timeout": COMMAND_TIMEOUT_SECONDS,
            "server_settings": {"application_name": "orchestration-engine"},
        },
    )
