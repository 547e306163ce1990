"""Fixtures for the metrics store: a SQLite file per test and a real PostgreSQL server.

One PostgreSQL server per session (see ``store_servers``); each test gets a database of its
own. ``postgres.stop()`` and ``postgres.start()`` take the same server down and up again on the
same data directory and port, for outage tests; the server is running again when a test ends.
"""

from __future__ import annotations

import re
import secrets
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

# No __init__.py in tests/: make the helper module importable whatever pytest's import mode.
_HERE = str(Path(__file__).resolve().parent)
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)

from store_servers import (  # noqa: E402
    Backend,
    PostgresServer,
    find_postgres_bindir,
    running_postgres,
    sqlite_backend,
)


def _needs_postgres(item: pytest.Item) -> bool:
    if "postgres" in getattr(item, "fixturenames", ()):
        return True
    callspec = getattr(item, "callspec", None)
    return callspec is not None and "postgresql" in callspec.params.values()


def pytest_collection_finish(session: pytest.Session) -> None:
    # Reported once, before any test runs, rather than as one error per test.
    if session.config.option.collectonly:
        return
    if any(_needs_postgres(item) for item in session.items) and find_postgres_bindir() is None:
        raise pytest.UsageError(
            "PostgreSQL server binaries not found under /usr/lib/postgresql/*/bin: "
            "run `make postgres` (installs Debian's postgresql package)"
        )


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    with running_postgres() as server:
        yield server


def _database_name(test_name: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "_", test_name.lower()).strip("_")
    return f"t_{slug[:40]}_{secrets.token_hex(3)}"


@pytest.fixture
def postgres_url(postgres: PostgresServer, request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh, empty database; the server is running again when the test ends."""
    name = _database_name(request.node.name)
    postgres.sql(f'CREATE DATABASE "{name}"')
    yield postgres.url(name)
    if not postgres.running():
        postgres.start()
    postgres.sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'store.db'}"


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    if request.param == "sqlite":
        return sqlite_backend(tmp_path)
    server: PostgresServer = request.getfixturevalue("postgres")
    url: str = request.getfixturevalue("postgres_url")
    return Backend("postgresql", url, server.stop, server.start)
