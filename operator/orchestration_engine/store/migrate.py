"""Bringing a database to the schema this version expects, with Alembic, from Python.

The operator migrates on start (and the store writer on its first connection, since the
database may be down when the operator starts); the ``alembic`` command line works too, with
``-c`` pointing at any ini whose ``script_location`` is this package's ``migrations``.
Alembic is synchronous: it runs inside ``AsyncConnection.run_sync``, so the event loop keeps
serving while the database works.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection

from .engine import create_engine

MIGRATIONS = Path(__file__).resolve().parent / "migrations"

# Any constant will do: it only has to be the same in every replica of the operator, so two of
# them starting at once do not both create the tables.
_POSTGRES_MIGRATION_LOCK = 0x656F65_6D6967


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def _upgrade(connection: Connection, revision: str) -> None:
    if connection.dialect.name == "postgresql":
        # Held until this transaction ends, i.e. until the migration is committed.
        connection.execute(
            text("SELECT pg_advisory_xact_lock(:key)"), {"key": _POSTGRES_MIGRATION_LOCK}
        )
    config = alembic_config()
    config.attributes["connection"] = connection
    command.upgrade(config, revision)


def _current(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


async def upgrade_connection(connection: AsyncConnection, revision: str = "head") -> None:
    """Migrate on an open connection; the caller commits (``engine.begin()`` does)."""
    await connection.run_sync(_upgrade, revision)


async def upgrade(url: str, revision: str = "head") -> None:
    """Migrate the database at ``url`` to ``revision`` (default: the newest)."""
    engine = create_engine(url)
    try:
        async with engine.begin() as connection:
            await upgrade_connection(connection, revision)
    finally:
        await engine.dispose()


async def current_revision(url: str) -> str | None:
    """The database's revision, or None when it has never been migrated."""
    engine = create_engine(url)
    try:
        async with engine.connect() as connection:
            return await connection.run_sync(_current)
    finally:
        await engine.dispose()
