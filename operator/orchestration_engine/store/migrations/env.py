"""Alembic's entry point for the store's migrations.

Two ways in: :mod:`orchestration_engine.store.migrate` hands over an open connection in
``config.attributes["connection"]`` (the operator migrates on the connection it already has);
the ``alembic`` command line gives a URL (``sqlalchemy.url`` or ``ORCHESTRATION_DATABASE_URL``)
and this file opens an async engine for it. Logging is left alone: the operator owns it.
"""

from __future__ import annotations

import asyncio
import os

from alembic import context
from sqlalchemy.engine import Connection

from orchestration_engine.store.engine import create_engine
from orchestration_engine.store.tables import metadata
from orchestration_engine.store.url import DEFAULT_DATABASE_URL, normalize

config = context.config


def _url() -> str:
    return (
        config.get_main_option("sqlalchemy.url")
        or os.environ.get("ORCHESTRATION_DATABASE_URL")
        or DEFAULT_DATABASE_URL
    )


def _run(connection: Connection) -> None:
    context.configure(connection=connection, target_metadata=metadata)
    with context.begin_transaction():
        context.run_migrations()


async def _run_with_engine() -> None:
    engine = create_engine(_url())
    try:
        async with engine.connect() as connection:
            await connection.run_sync(_run)
    finally:
        await engine.dispose()


def _run_offline() -> None:
    context.configure(
        url=normalize(_url()),
        target_metadata=metadata,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    _run_offline()
else:
    shared = config.attributes.get("connection")
    if shared is not None:
        _run(shared)
    else:
        asyncio.run(_run_with_engine())
