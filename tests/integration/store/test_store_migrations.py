"""The Alembic migrations build exactly ``tables.metadata``, on SQLite and PostgreSQL, and an
upgrade keeps the rows already there."""

from __future__ import annotations

from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, inspect, select, text
from store_servers import Backend

from orchestration_engine.store import create_engine, current_revision, head_revision, upgrade
from orchestration_engine.store import tables as store_tables
from orchestration_engine.store.migrate import MIGRATIONS

ORIGINAL_TABLES = {"service_registry", "workflow_management", "orchestration_metrics", "events"}


async def _inspect(url: str, function: Any) -> Any:
    engine = create_engine(url)
    try:
        async with engine.connect() as connection:
            return await connection.run_sync(function)
    finally:
        await engine.dispose()


def _columns(connection: Connection) -> dict[str, list[str]]:
    inspector = inspect(connection)
    return {
        table: [column["name"] for column in inspector.get_columns(table)]
        for table in inspector.get_table_names()
    }


def _differences(connection: Connection) -> list[Any]:
    return list(compare_metadata(MigrationContext.configure(connection), store_tables.metadata))


def test_the_migrations_are_in_the_package() -> None:
    assert (MIGRATIONS / "env.py").is_file()
    assert (MIGRATIONS / "script.py.mako").is_file()
    assert head_revision() == "0005"


async def test_upgrade_from_empty_to_head(backend: Backend) -> None:
    assert await current_revision(backend.url) is None
    await upgrade(backend.url)
    assert await current_revision(backend.url) == head_revision()
    columns = await _inspect(backend.url, _columns)
    expected = {
        table.name: [column.name for column in table.columns]
        for table in store_tables.metadata.sorted_tables
    }
    assert {name: cols for name, cols in columns.items() if name != "alembic_version"} == expected
    assert await _inspect(backend.url, _differences) == []


async def test_upgrade_is_idempotent(backend: Backend) -> None:
    await upgrade(backend.url)
    await upgrade(backend.url)
    assert await current_revision(backend.url) == head_revision()


async def test_upgrade_keeps_existing_rows(backend: Backend) -> None:
    await upgrade(backend.url, "0001")
    assert await current_revision(backend.url) == "0001"
    assert set(await _inspect(backend.url, _columns)) == ORIGINAL_TABLES | {"alembic_version"}

    engine = create_engine(backend.url)
    try:
        async with engine.begin() as connection:
            await connection.execute(
                text(
                    "INSERT INTO service_registry (row_id, orchestration_id, namespace, service_id,"
                    " service_name, service_type, priority, health_status, resource_requirements,"
                    " dependencies, configuration, metrics, last_health_check, uptime_percentage,"
                    " timestamp) VALUES ('r1', 'o1', 'shop', 'uid', 'payments', 'web', 'CRITICAL',"
                    " 'HEALTHY', '{}', '[]', '{}', '{}', NULL, 99.95, '2026-11-23T10:00:00+00:00')"
                )
            )
        await upgrade(backend.url)
        async with engine.connect() as connection:
            registry = store_tables.service_registry
            rows = (
                await connection.execute(
                    select(registry.c.row_id, registry.c.service_name, registry.c.uptime_percentage)
                )
            ).all()
    finally:
        await engine.dispose()
    assert [tuple(row) for row in rows] == [("r1", "payments", 99.95)]
    assert set(await _inspect(backend.url, _columns)) >= {"health_checks", "health_check_rollups"}
    assert await _inspect(backend.url, _differences) == []


@pytest.mark.parametrize("revision", ["0001", "head"])
async def test_sqlite_pragmas(sqlite_url: str, revision: str) -> None:
    await upgrade(sqlite_url, revision)
    engine = create_engine(sqlite_url)
    try:
        async with engine.connect() as connection:
            values = [
                (await connection.execute(text(f"PRAGMA {name}"))).scalar()
                for name in ("journal_mode", "synchronous", "busy_timeout", "foreign_keys")
            ]
    finally:
        await engine.dispose()
    assert values == ["wal", 1, 5000, 1]  # synchronous 1 = NORMAL
