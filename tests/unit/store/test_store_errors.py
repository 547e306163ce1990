"""Database failures in words an operator can act on, and which ones a retry can fix."""

from __future__ import annotations

import socket
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy.exc import (
    DatabaseError,
    DataError,
    IntegrityError,
    OperationalError,
    ProgrammingError,
    StatementError,
)

from orchestration_engine.store.errors import describe, is_row_error

PG = "postgresql://eoe:s3cret@db/eoe"


def wrapped(cause: BaseException) -> OperationalError:
    """How SQLAlchemy reports a driver's failure to connect."""
    try:
        try:
            raise cause
        except BaseException as inner:
            raise OperationalError("connect", {}, inner) from inner
    except OperationalError as outer:
        return outer


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (wrapped(ConnectionRefusedError(111, "Connection refused")), "connection refused"),
        (
            wrapped(OSError("Multiple exceptions: [Errno 111] Connect call failed ('::1', 5432)")),
            "connection refused",
        ),
        (wrapped(socket.gaierror(-2, "Name or service not known")), "cannot resolve the host"),
        (wrapped(TimeoutError()), "timed out"),
        (ConnectionResetError(104, "Connection reset by peer"), "Connection reset by peer"),
    ],
)
def test_unreachable(error: BaseException, expected: str) -> None:
    message = describe(error, PG)
    assert message.startswith("database unreachable: ")
    assert expected in message


class ShuttingDown(Exception):
    sqlstate = "57P03"


def test_a_server_shutting_down_is_unreachable() -> None:
    error = OperationalError("connect", {}, ShuttingDown("the database system is shutting down"))
    assert describe(error, PG) == "database unreachable: the database system is shutting down"


def test_a_server_error_is_quoted_without_the_url() -> None:
    error = ProgrammingError("INSERT …", {}, Exception('relation "events" does not exist\nLINE 1'))
    message = describe(error, PG)
    assert message == 'database error: relation "events" does not exist'
    assert "s3cret" not in message


def test_sqlite_errors_name_the_file(tmp_path: Path) -> None:
    database = tmp_path / "store.db"
    error = DatabaseError("PRAGMA", {}, Exception("file is not a database"))
    assert describe(error, f"sqlite:///{database}") == (
        f"SQLite database {database}: file is not a database"
    )


@pytest.mark.parametrize(
    ("make", "problem"),
    [
        (lambda tmp: tmp / "missing" / "store.db", "directory {tmp}/missing does not exist"),
        (lambda tmp: tmp / "file" / "store.db", "{tmp}/file is not a directory"),
        (lambda tmp: tmp / "dir", "{tmp}/dir is a directory"),
    ],
)
def test_why_sqlite_cannot_open_its_file(
    tmp_path: Path, make: Callable[[Path], Path], problem: str
) -> None:
    (tmp_path / "file").write_text("")
    (tmp_path / "dir").mkdir()
    database = make(tmp_path)
    error = OperationalError("connect", {}, Exception("unable to open database file"))
    assert describe(error, f"sqlite:///{database}") == (
        f"cannot open SQLite database {database}: {problem.format(tmp=tmp_path)}"
    )


@pytest.mark.parametrize(
    ("error", "row_error"),
    [
        (IntegrityError("INSERT", {}, Exception("UNIQUE constraint failed")), True),
        (DataError("INSERT", {}, Exception("value too long")), True),
        (StatementError("bind failed", "INSERT", {}, TypeError("not a datetime")), True),
        (OperationalError("INSERT", {}, Exception("database is locked")), False),
        (DatabaseError("INSERT", {}, Exception("file is not a database")), False),
        (ProgrammingError("INSERT", {}, Exception("no such table")), False),
        (ConnectionRefusedError(), False),
    ],
)
def test_which_errors_a_retry_cannot_fix(error: BaseException, row_error: bool) -> None:
    assert is_row_error(error) is row_error
