"""Database URLs: what users write becomes an async driver's URL, or a clear refusal."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestration_engine.store import StoreConfigError, normalize, redact
from orchestration_engine.store.url import sqlite_path


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("sqlite:///orchestration.db", "sqlite+aiosqlite:///orchestration.db"),
        ("sqlite:///./data/orchestration.db", "sqlite+aiosqlite:///./data/orchestration.db"),
        ("sqlite:////var/lib/eoe/store.db", "sqlite+aiosqlite:////var/lib/eoe/store.db"),
        ("sqlite://", "sqlite+aiosqlite://"),
        ("sqlite:///:memory:", "sqlite+aiosqlite:///:memory:"),
        ("SQLite:///x.db", "sqlite+aiosqlite:///x.db"),
        ("  sqlite:///x.db\n", "sqlite+aiosqlite:///x.db"),
        ("postgresql://eoe:pw@db:5432/eoe", "postgresql+asyncpg://eoe:pw@db:5432/eoe"),
        ("postgres://eoe:pw@db/eoe", "postgresql+asyncpg://eoe:pw@db/eoe"),
        ("postgresql:///eoe", "postgresql+asyncpg:///eoe"),
        ("postgresql+asyncpg://eoe@db/eoe", "postgresql+asyncpg://eoe@db/eoe"),
        ("sqlite+aiosqlite:///x.db", "sqlite+aiosqlite:///x.db"),
    ],
)
def test_normalize(given: str, expected: str) -> None:
    assert normalize(given) == expected


def test_normalize_is_idempotent() -> None:
    once = normalize("postgres://u:p@h/d")
    assert normalize(once) == once


def test_libpq_sslmode_becomes_asyncpg_ssl() -> None:
    assert normalize("postgresql://u:p@h/d?sslmode=require") == (
        "postgresql+asyncpg://u:p@h/d?ssl=require"
    )


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ("mysql://root@db/eoe", "scheme 'mysql' is not supported"),
        ("postgresql+psycopg2://u@h/d", "needs an asyncio driver"),
        ("sqlite+pysqlite:///x.db", "needs an asyncio driver"),
        ("orchestration.db", "has no scheme"),
        ("", "has no scheme"),
        ("sqlite://orchestration.db", "three slashes before a relative path"),
    ],
)
def test_normalize_refuses(given: str, message: str) -> None:
    with pytest.raises(StoreConfigError, match=message):
        normalize(given)


def test_refusal_hides_the_password() -> None:
    with pytest.raises(StoreConfigError) as caught:
        normalize("mysql://root:hunter2@db/eoe")
    assert "hunter2" not in str(caught.value)


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("postgresql://eoe:s3cret@db:5432/eoe", "postgresql://eoe:***@db:5432/eoe"),
        ("postgresql+asyncpg://eoe:s3cret@db/eoe", "postgresql+asyncpg://eoe:***@db/eoe"),
        ("postgresql://eoe@db/eoe", "postgresql://eoe@db/eoe"),
        ("sqlite:///orchestration.db", "sqlite:///orchestration.db"),
        ("sqlite:///:memory:", "sqlite:///:memory:"),
    ],
)
def test_redact(given: str, expected: str) -> None:
    assert redact(given) == expected


def test_redact_hides_a_password_given_as_a_query_parameter() -> None:
    assert "s3cret" not in redact("postgresql://eoe@db/eoe?password=s3cret")


def test_redact_hides_the_password_of_an_unparseable_url() -> None:
    assert "s3cret" not in redact("weird://eoe:s3cret@[bad")


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("sqlite:///orchestration.db", Path("orchestration.db")),
        ("sqlite:////var/lib/eoe/store.db", Path("/var/lib/eoe/store.db")),
        ("sqlite://", None),
        ("sqlite:///:memory:", None),
        ("postgresql://u@h/d", None),
    ],
)
def test_sqlite_path(given: str, expected: Path | None) -> None:
    assert sqlite_path(given) == expected
