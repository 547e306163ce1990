"""What went wrong with the database, in words an operator can act on, and whether waiting
will help.

Two kinds of failure matter to the writer. Most are about the database (unreachable, starting
up, locked, read-only, full, a corrupt file): the rows are fine, so they wait and the write is
retried. A few are about one row (a constraint it violates): retrying would fail forever and
hold back every row behind it, so that row is set aside instead.
"""

from __future__ import annotations

import errno
import socket
from collections.abc import Iterator
from pathlib import Path

from sqlalchemy.exc import DataError, DBAPIError, IntegrityError, StatementError

from .url import sqlite_path

# PostgreSQL's "connection exception" and "operator intervention" classes: the server is
# shutting down, starting up, or dropped the connection; it says nothing about the rows.
_UNREACHABLE_SQLSTATE_CLASSES = {"08", "57"}


def _chain(error: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    pending: list[BaseException | None] = [error]
    while pending:
        current = pending.pop(0)
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        orig = getattr(current, "orig", None)
        pending.extend([orig if isinstance(orig, BaseException) else None, current.__cause__])
        if not current.__suppress_context__:
            pending.append(current.__context__)


def is_row_error(error: BaseException) -> bool:
    """True when the rows, not the database, are the problem: retrying cannot help."""
    if isinstance(error, IntegrityError | DataError):
        return True
    # Raised while binding parameters, before anything reached the database.
    return isinstance(error, StatementError) and not isinstance(error, DBAPIError)


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def _sqlite_open_problem(path: Path) -> str:
    """Why SQLite said "unable to open database file", from what is on disk."""
    directory = path.absolute().parent
    for ancestor in (directory, *directory.parents):
        if ancestor.exists():
            if not ancestor.is_dir():
                return f"{ancestor} is not a directory"
            if ancestor != directory:
                return f"directory {directory} does not exist"
            break
    if path.is_dir():
        return f"{path} is a directory"
    return f"no permission to create or open {path} in {directory}"


def describe(error: BaseException, url: str) -> str:
    """A one-line reason, such as ``database unreachable: connection refused``.

    Built from the error and the database's location only: it never contains the password.
    """
    chain = list(_chain(error))
    for cause in chain:
        if isinstance(cause, socket.gaierror):
            return f"database unreachable: cannot resolve the host ({cause.strerror})"
        if isinstance(cause, ConnectionRefusedError) or (
            isinstance(cause, OSError)
            and (cause.errno == errno.ECONNREFUSED or "Connect call failed" in str(cause))
        ):
            return "database unreachable: connection refused"
        if isinstance(cause, TimeoutError):
            return "database unreachable: timed out"
        if isinstance(cause, ConnectionError):
            return f"database unreachable: {_first_line(cause)}"
        sqlstate = str(getattr(cause, "sqlstate", None) or "")
        if sqlstate[:2] in _UNREACHABLE_SQLSTATE_CLASSES:
            return f"database unreachable: {_first_line(cause)}"
    root = error.orig if isinstance(error, DBAPIError) and error.orig is not None else error
    text = _first_line(root)
    database = sqlite_path(url)
    if database is not None:
        if "unable to open database file" in text:
            return f"cannot open SQLite database {database}: {_sqlite_open_problem(database)}"
        return f"SQLite database {database}: {text}"
    if isinstance(error, OSError):
        return f"database unreachable: {text}"
    return f"database error: {text}"
