"""A real PostgreSQL server for tests, and the databases the store tests run against.

Debian's PostgreSQL (``make postgres`` installs it), started in a temporary directory on a free
port of 127.0.0.1 with trust authentication. PostgreSQL refuses to run as root, so when the
tests run as root the server runs as the ``postgres`` user.
"""

from __future__ import annotations

import contextlib
import glob
import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

POSTGRES_USER = "postgres"


def find_postgres_bindir() -> Path | None:
    """The newest Debian PostgreSQL, or the one on PATH."""
    found = glob.glob("/usr/lib/postgresql/*/bin/postgres")

    def version(path: str) -> tuple[int, ...]:
        number = Path(path).parent.parent.name
        return tuple(int(part) for part in re.findall(r"\d+", number))

    if found:
        return Path(max(found, key=version)).parent
    on_path = shutil.which("pg_ctl")
    return Path(on_path).parent if on_path else None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class PostgresServer:
    """One PostgreSQL cluster in a temporary directory; ``stop`` and ``start`` keep its data."""

    def __init__(self, bindir: Path) -> None:
        self.bindir = bindir
        self.port = _free_port()
        # Not under pytest's tmp_path: its directories are private to root, and the server
        # runs as another user.
        self.root = Path(tempfile.mkdtemp(prefix="eoe-postgres-"))
        self.datadir = self.root / "data"
        self.socketdir = self.root / "socket"
        self.logfile = self.root / "postgres.log"
        self._as_root = os.geteuid() == 0

    def _run(self, program: str, *args: str, timeout: float = 60) -> str:
        command = [str(self.bindir / program), *args]
        if self._as_root:
            command = ["runuser", "-u", POSTGRES_USER, "--", *command]
        result = subprocess.run(
            command, cwd=self.root, capture_output=True, text=True, timeout=timeout, check=False
        )
        if result.returncode != 0:
            raise RuntimeError(
                f"{program} {' '.join(args)} failed ({result.returncode}):\n"
                f"{result.stdout}{result.stderr}\n{self.log()}"
            )
        return result.stdout

    def log(self) -> str:
        try:
            return self.logfile.read_text(errors="replace")[-4000:]
        except OSError:
            return ""

    def init(self) -> None:
        self.socketdir.mkdir()
        if self._as_root:
            shutil.chown(self.root, POSTGRES_USER, POSTGRES_USER)
            shutil.chown(self.socketdir, POSTGRES_USER, POSTGRES_USER)
        self._run(
            "initdb",
            "--pgdata",
            str(self.datadir),
            "--username",
            POSTGRES_USER,
            "--auth",
            "trust",
            "--encoding",
            "UTF8",
            "--no-sync",
            "--no-instructions",
        )

    def start(self) -> None:
        options = f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.socketdir}"
        self._run(
            "pg_ctl",
            "start",
            "--wait",
            "--timeout",
            "30",
            "--pgdata",
            str(self.datadir),
            "--log",
            str(self.logfile),
            "--options",
            options,
        )
        self.wait_ready()

    def stop(self) -> None:
        self._run("pg_ctl", "stop", "--wait", "--mode", "fast", "--pgdata", str(self.datadir))

    def running(self) -> bool:
        return (self.datadir / "postmaster.pid").exists()

    def ready(self) -> bool:
        result = subprocess.run(
            [str(self.bindir / "pg_isready"), "-h", "127.0.0.1", "-p", str(self.port), "-q"],
            check=False,
        )
        return result.returncode == 0

    def wait_ready(self, timeout: float = 20) -> None:
        deadline = time.monotonic() + timeout
        while not self.ready():
            if time.monotonic() > deadline:
                raise TimeoutError(f"PostgreSQL not ready after {timeout} s:\n{self.log()}")
            time.sleep(0.05)

    def sql(self, statement: str, database: str = "postgres") -> str:
        # psql connects over TCP with trust authentication, so it needs no user switch.
        result = subprocess.run(
            [
                str(self.bindir / "psql"),
                "-h",
                "127.0.0.1",
                "-p",
                str(self.port),
                "-U",
                POSTGRES_USER,
                "-d",
                database,
                "-v",
                "ON_ERROR_STOP=1",
                "-Atqc",
                statement,
            ],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        if result.returncode != 0:
            raise RuntimeError(f"psql {statement!r}: {result.stderr}")
        return result.stdout

    def url(self, database: str) -> str:
        return f"postgresql://{POSTGRES_USER}@127.0.0.1:{self.port}/{database}"

    def destroy(self) -> None:
        with contextlib.suppress(RuntimeError, subprocess.TimeoutExpired):
            if self.running():
                self.stop()
        shutil.rmtree(self.root, ignore_errors=True)


class PostgresMissing(RuntimeError):
    def __init__(self) -> None:
        super().__init__(
            "PostgreSQL server binaries not found under /usr/lib/postgresql/*/bin: "
            "run `make postgres` (installs Debian's postgresql package)"
        )


@contextlib.contextmanager
def running_postgres(
    server_class: type[PostgresServer] = PostgresServer,
) -> Iterator[PostgresServer]:
    """A fresh server, running until the block ends; then its data directory is gone.
    ``server_class``: a subclass that listens elsewhere (the e2e tier's, for pods)."""
    bindir = find_postgres_bindir()
    if bindir is None:
        raise PostgresMissing
    server = server_class(bindir)
    try:
        server.init()
        server.start()
        yield server
    finally:
        server.destroy()


@dataclass
class Backend:
    """A database the store can use, and a way to make it unreachable and back."""

    name: str
    url: str
    down: Callable[[], None]
    up: Callable[[], None]


def sqlite_backend(tmp_path: Path) -> Backend:
    # "Down" moves the database's directory away: opening the file then fails. That models an
    # outage only for writers that have no connection open yet (an open SQLite connection
    # keeps writing to the moved file), which is what the tests that use it need.
    directory = tmp_path / "database"
    away = tmp_path / "database.away"
    directory.mkdir()

    def down() -> None:
        directory.rename(away)

    def up() -> None:
        away.rename(directory)

    return Backend("sqlite", f"sqlite:///{directory / 'store.db'}", down, up)
