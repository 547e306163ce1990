"""Database URLs as users write them, turned into the async drivers the store runs on.

Users write ``sqlite:///orchestration.db`` or ``postgresql://user:pw@host/db`` (the forms the
original engine and most tools accept); SQLAlchemy's asyncio engine needs the driver spelled
out. Everything else is refused here, at start-up, with a message that says what is accepted,
rather than later as an import error deep inside SQLAlchemy.
"""

from __future__ import annotations

import re
from pathlib import Path

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

# The store when none is configured: a SQLite file in the working directory.
DEFAULT_DATABASE_URL = "sqlite:///./orchestration.db"

SQLITE = "sqlite+aiosqlite"
POSTGRESQL = "postgresql+asyncpg"

# What users may write before "://", and what it becomes.
_SCHEMES = {
    "sqlite": SQLITE,
    SQLITE: SQLITE,
    "postgresql": POSTGRESQL,
    "postgres": POSTGRESQL,
    POSTGRESQL: POSTGRESQL,
    "postgres+asyncpg": POSTGRESQL,
}

_ACCEPTED = "sqlite:///path/to/file.db, sqlite:// (in memory) or postgresql://user:password@host/db"


class StoreConfigError(ValueError):
    """The database URL cannot be used; the message says why and what would work."""


def normalize(url: str) -> str:
    """The URL with its async driver: ``sqlite+aiosqlite://…`` or ``postgresql+asyncpg://…``."""
    text = url.strip()
    scheme, separator, rest = text.partition("://")
    if not separator:
        raise StoreConfigError(f"database URL {redact(text)!r} has no scheme; use {_ACCEPTED}")
    driver = _SCHEMES.get(scheme.lower())
    if driver is None:
        raise StoreConfigError(
            f"database URL scheme {scheme!r} is not supported; use {_ACCEPTED}"
            + (" (the store needs an asyncio driver)" if "+" in scheme else "")
        )
    normalized = f"{driver}://{rest}"
    try:
        parsed = make_url(normalized)
    except ArgumentError as error:
        raise StoreConfigError(f"database URL {redact(text)!r} is malformed: {error}") from None
    if driver == SQLITE and parsed.host:
        # "sqlite://orchestration.db" silently means host "orchestration.db" to URL parsers.
        raise StoreConfigError(
            f"database URL {redact(text)!r}: a SQLite URL has three slashes before a relative "
            f"path (sqlite:///{parsed.host}{'/' + parsed.database if parsed.database else ''})"
            " and four before an absolute one"
        )
    if driver == POSTGRESQL and "sslmode" in parsed.query:
        # libpq spells it sslmode; asyncpg takes the same values under the name ssl.
        mode = parsed.query["sslmode"]
        parsed = parsed.difference_update_query(["sslmode"]).update_query_dict({"ssl": mode})
        return parsed.render_as_string(hide_password=False)
    return normalized


def redact(url: str) -> str:
    """The URL with its password hidden, for logs and messages."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        # Not parseable as a URL: hide anything that looks like "user:secret@" anyway.
        return re.sub(r"(://[^:/@]*:)[^@]*@", r"\1***@", url)
    if "password" in parsed.query:
        parsed = parsed.update_query_dict({"password": "***"})
    elif parsed.password is None:
        return url
    return parsed.render_as_string(hide_password=True)


def is_sqlite(url: str) -> bool:
    return normalize(url).startswith(SQLITE)


def sqlite_path(url: str) -> Path | None:
    """The SQLite database file, or None for PostgreSQL and in-memory SQLite."""
    parsed: URL = make_url(normalize(url))
    if parsed.drivername != SQLITE or not parsed.database or parsed.database == ":memory:":
        return None
    if parsed.database.startswith("file:"):
        return None  # a URI filename; where it lives is SQLite's business
    return Path(parsed.database)
