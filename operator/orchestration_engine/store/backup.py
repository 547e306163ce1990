"""A consistent copy of the metrics store, and loading one back, with each database's own tools.

SQLite: the online backup API (``sqlite3.Connection.backup``) copies the database page by
page in one step, under a read lock, so the copy is consistent even while the operator writes
(write-ahead logging lets it go on meanwhile). The copy is switched to a rollback journal so it
is one self-contained file. Loading uses the same API the other way round, which is safe
against an existing database's ``-wal`` file where copying the file over it would not be.

PostgreSQL: ``pg_dump`` in its custom format, the store's tables only (the database may hold
others), and ``pg_restore`` to load it: the tools every PostgreSQL operator already knows and
trusts, whose files also work without us (``pg_restore -l``, ``pg_restore -f store.sql``).
The row counts in the manifest come from the very snapshot ``pg_dump`` reads
(``pg_export_snapshot``), so they describe the dump exactly. Both tools must be on ``PATH``,
of the server's major version or newer; the connection is passed in libpq's environment
variables, so the password never appears on a command line.

Either way the database is then migrated to this version's schema (a backup made by an older
version loads and is brought up to date); one from a newer version is refused.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import sqlite3
from collections.abc import Mapping
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError
from sqlalchemy import column, exists, func, inspect, select, table, text
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.sql import Select

from .engine import create_engine
from .errors import describe
from .migrate import alembic_config, upgrade
from .tables import TABLES
from .url import StoreConfigError, normalize, redact, sqlite_path

SQLITE_KIND = "sqlite"
POSTGRESQL_KIND = "postgresql"
SQLITE_FILE = "store.sqlite"
POSTGRESQL_FILE = "store.pgdump"
VERSION_TABLE = "alembic_version"
SQLITE_TIMEOUT_SECONDS = 5.0
TOOL_TIMEOUT_SECONDS = 3600.0

_LIBPQ_SSL_MODES = {"true": "require", "false": "disable"}
_VERSION_QUERY: Select[tuple[Any]] = select(column("version_num")).select_from(table(VERSION_TABLE))


class StoreBackupError(Exception):
    """The store could not be copied or loaded; the message says why, without secrets."""


@dataclass(frozen=True)
class StoreCopy:
    """What a backup holds of the store (the manifest's ``store`` section)."""

    kind: str
    file: str
    revision: str
    rows: dict[str, int] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "file": self.file,
            "schemaRevision": self.revision,
            "rows": self.rows,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> StoreCopy:
        try:
            return cls(
                kind=str(data["kind"]),
                file=str(data["file"]),
                revision=str(data["schemaRevision"]),
                rows={str(k): int(v) for k, v in (data.get("rows") or {}).items()},
            )
        except (KeyError, TypeError, ValueError) as error:
            raise StoreBackupError(f"the manifest's store section is incomplete: {error}") from None


def kind_of(url: str) -> str:
    try:
        normalized = normalize(url)
    except StoreConfigError as error:
        raise StoreBackupError(str(error)) from None
    return SQLITE_KIND if normalized.startswith("sqlite") else POSTGRESQL_KIND


def _sqlite_file(url: str) -> Path:
    path = sqlite_path(url)
    if path is None:
        raise StoreBackupError(
            f"{redact(url)} is an in-memory SQLite database: there is nothing on disk to copy"
        )
    return path


# --- SQLite ---------------------------------------------------------------------------------


def _sqlite_contents(connection: sqlite3.Connection, where: Path) -> tuple[str, dict[str, int]]:
    present = {
        name for (name,) in connection.execute("SELECT name FROM sqlite_master WHERE type='table'")
    }
    if VERSION_TABLE not in present:
        raise StoreBackupError(f"{where} holds no orchestration-engine store (no schema version)")
    # The names are the schema's own constants, never input.
    (revision,) = connection.execute(f"SELECT version_num FROM {VERSION_TABLE}").fetchone()  # noqa: S608
    rows = {
        name: int(connection.execute(f'SELECT count(*) FROM "{name}"').fetchone()[0])  # noqa: S608
        for name in TABLES
        if name in present
    }
    return str(revision), rows


def _dump_sqlite(source: Path, directory: Path) -> StoreCopy:
    if not source.is_file():
        raise StoreBackupError(f"no SQLite store at {source}")
    target = directory / SQLITE_FILE
    try:
        with (
            closing(sqlite3.connect(source, timeout=SQLITE_TIMEOUT_SECONDS)) as src,
            closing(sqlite3.connect(target)) as dst,
        ):
            src.backup(dst)
            dst.execute("PRAGMA journal_mode=DELETE")
            revision, rows = _sqlite_contents(dst, source)
    except sqlite3.Error as error:
        raise StoreBackupError(f"SQLite store {source}: {error}") from None
    return StoreCopy(SQLITE_KIND, SQLITE_FILE, revision, rows)


def _load_sqlite(source: Path, target: Path) -> None:
    if not target.absolute().parent.is_dir():
        raise StoreBackupError(f"directory {target.absolute().parent} does not exist")
    try:
        with (
            closing(sqlite3.connect(f"{source.absolute().as_uri()}?mode=ro", uri=True)) as src,
            closing(sqlite3.connect(target, timeout=SQLITE_TIMEOUT_SECONDS)) as dst,
        ):
            src.backup(dst)
    except sqlite3.Error as error:
        raise StoreBackupError(f"SQLite store {target}: {error}") from None


# --- PostgreSQL -----------------------------------------------------------------------------


def libpq_environment(url: str) -> dict[str, str]:
    """The connection as libpq's variables (PGHOST, PGPASSWORD, …), for pg_dump and pg_restore."""
    parsed = make_url(normalize(url))
    query = {k: (v if isinstance(v, str) else v[-1]) for k, v in parsed.query.items()}
    env = {"PGCONNECT_TIMEOUT": "5", "PGAPPNAME": "orchestration-engine-backup"}
    host = parsed.host or query.get("host")
    values = {
        "PGHOST": host,
        "PGPORT": str(parsed.port) if parsed.port else query.get("port"),
        "PGUSER": parsed.username or query.get("user"),
        "PGPASSWORD": parsed.password if parsed.password is not None else query.get("password"),
        "PGDATABASE": parsed.database,
    }
    env.update({k: v for k, v in values.items() if v})
    ssl = query.get("ssl") or query.get("sslmode")
    if ssl:
        env["PGSSLMODE"] = _LIBPQ_SSL_MODES.get(ssl.lower(), ssl)
    return env


def _tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise StoreBackupError(
            f"{name} not found on PATH: a PostgreSQL store is copied with pg_dump and loaded with "
            "pg_restore; install PostgreSQL's client tools of the server's major version or "
            "newer (Debian/Ubuntu: postgresql-client)"
        )
    return found


async def _run_tool(program: str, args: list[str], url: str) -> None:
    from orchestration_engine.plumbing.logs import redact_text  # the same redaction as the logs

    process = await asyncio.create_subprocess_exec(
        program,
        *args,
        env={**os.environ, **libpq_environment(url)},
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        _, stderr = await asyncio.wait_for(process.communicate(), TOOL_TIMEOUT_SECONDS)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise StoreBackupError(
            f"{Path(program).name} did not finish in {TOOL_TIMEOUT_SECONDS} s"
        ) from None
    if process.returncode != 0:
        message = redact_text(stderr.decode(errors="replace").strip()) or "no message"
        raise StoreBackupError(
            f"{Path(program).name} failed ({process.returncode}) on {redact(url)}: {message}"
        )


def _store_tables(connection: Connection) -> list[str]:
    return list(inspect(connection).get_table_names())


async def _dump_postgres(url: str, directory: Path) -> StoreCopy:
    pg_dump = _tool("pg_dump")
    target = directory / POSTGRESQL_FILE
    engine = create_engine(url, pool_size=1)
    try:
        async with engine.connect() as connection:
            connection = await connection.execution_options(
                isolation_level="REPEATABLE READ", postgresql_readonly=True
            )
            async with connection.begin():
                schema = (await connection.execute(text("SELECT current_schema()"))).scalar_one()
                present = set(await connection.run_sync(_store_tables))
                if VERSION_TABLE not in present:
                    raise StoreBackupError(
                        f"{redact(url)} holds no orchestration-engine store (no schema version)"
                    )
                revision = (await connection.execute(_VERSION_QUERY)).scalar_one()
                tables = [name for name in TABLES if name in present]
                snapshot = (await connection.execute(text("SELECT pg_export_snapshot()"))).scalar()
                rows = {}
                for name in tables:
                    count = select(func.count()).select_from(TABLES[name])
                    rows[name] = int((await connection.execute(count)).scalar_one())
                # pg_dump reads the snapshot this transaction exported: it must stay open.
                await _run_tool(
                    pg_dump,
                    [
                        "--format=custom",
                        "--no-owner",
                        "--no-privileges",
                        f"--snapshot={snapshot}",
                        f"--file={target}",
                        *(f"--table={schema}.{name}" for name in [*tables, VERSION_TABLE]),
                    ],
                    url,
                )
    except (SQLAlchemyError, OSError) as error:
        raise StoreBackupError(describe(error, normalize(url))) from None
    finally:
        await engine.dispose()
    return StoreCopy(POSTGRESQL_KIND, POSTGRESQL_FILE, str(revision), rows)


async def _load_postgres(url: str, dump: Path, dumped: set[str]) -> None:
    pg_restore = _tool("pg_restore")
    database = make_url(normalize(url)).database
    if not database:
        raise StoreBackupError(f"{redact(url)} names no database to restore into")
    engine = create_engine(url, pool_size=1)
    try:
        async with engine.begin() as connection:
            # pg_restore --clean replaces the dump's own tables in its one transaction; a
            # store table the dump lacks (the target has a newer schema) would be left behind
            # with its rows, and the migration to this version's schema would fail on it.
            present = set(await connection.run_sync(_store_tables))
            for name in reversed(list(TABLES)):
                if name in present and name not in dumped:
                    await connection.execute(text(f'DROP TABLE "{name}" CASCADE'))
    except (SQLAlchemyError, OSError) as error:
        raise StoreBackupError(describe(error, normalize(url))) from None
    finally:
        await engine.dispose()
    await _run_tool(
        pg_restore,
        [
            "--clean",
            "--if-exists",
            "--no-owner",
            "--no-privileges",
            "--single-transaction",
            "--exit-on-error",
            f"--dbname={database}",
            str(dump),
        ],
        url,
    )


# --- both -----------------------------------------------------------------------------------


async def dump(url: str, directory: Path) -> StoreCopy:
    """Copy the store at ``url`` into ``directory``; what was copied."""
    if kind_of(url) == SQLITE_KIND:
        return await asyncio.to_thread(_dump_sqlite, _sqlite_file(url), directory)
    return await _dump_postgres(url, directory)


def _tables_with_rows(connection: Connection) -> list[str]:
    present = set(inspect(connection).get_table_names())
    return [
        name
        for name in TABLES
        if name in present
        and connection.execute(select(exists().select_from(TABLES[name]))).scalar()
    ]


async def tables_with_rows(url: str) -> list[str]:
    """The store's tables at ``url`` that hold rows ([] for a database not created yet).

    Also the check that the database can be reached at all, before anything is changed.
    """
    if kind_of(url) == SQLITE_KIND:
        path = _sqlite_file(url)
        if not path.absolute().parent.is_dir():
            raise StoreBackupError(f"directory {path.absolute().parent} does not exist")
        if not path.exists():
            return []
    engine = create_engine(url, pool_size=1)
    try:
        async with engine.connect() as connection:
            return await connection.run_sync(_tables_with_rows)
    except (SQLAlchemyError, OSError) as error:
        raise StoreBackupError(describe(error, normalize(url))) from None
    finally:
        await engine.dispose()


def check_loadable(copy: StoreCopy, url: str) -> None:
    """Refuse, before anything changes, a copy this version cannot load into ``url``."""
    target = kind_of(url)
    if copy.kind not in (SQLITE_KIND, POSTGRESQL_KIND):
        raise StoreBackupError(f"the backup's store is of an unknown kind {copy.kind!r}")
    if copy.kind != target:
        raise StoreBackupError(
            f"the backup holds a {copy.kind} store and {redact(url)} is {target}: a store is "
            "restored into the same kind of database it was copied from"
        )
    try:
        known = ScriptDirectory.from_config(alembic_config()).get_revision(copy.revision)
    except CommandError:
        known = None
    if known is None:
        raise StoreBackupError(
            f"the backup's store has schema revision {copy.revision}, which this version of "
            "orchestration-engine does not know (made by a newer version?)"
        )


async def load(url: str, directory: Path, copy: StoreCopy) -> None:
    """Load the copy in ``directory`` into the store at ``url``, replacing its tables, then
    migrate it to this version's schema. The caller has checked it may replace them."""
    check_loadable(copy, url)
    source = directory / copy.file
    if not source.is_file():
        raise StoreBackupError(f"{source} is missing from the backup")
    if copy.kind == SQLITE_KIND:
        await asyncio.to_thread(_load_sqlite, source, _sqlite_file(url))
    else:
        await _load_postgres(url, source, set(copy.rows))
    try:
        await upgrade(url)
    except (SQLAlchemyError, OSError) as error:
        raise StoreBackupError(describe(error, normalize(url))) from None
