"""The spill file: rows that did not fit in memory, or were still unwritten at shutdown.

JSON lines, in submission order. Rows are appended at the end and read back from an offset at
the front; the file is deleted only once everything read from it is committed, so a crash at
any moment loses nothing that reached it (a row read back and written twice is harmless:
inserts are idempotent on ``row_id``). A new process finds the file and replays it.

Appends happen on the caller's thread (a buffered write, no fsync); reads, counts and rewrites
are blocking and meant for a worker thread.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import BinaryIO

_READ_CHUNK = 1 << 20


class SpillFile:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = 0  # bytes already handed back to the writer
        self.unread = 0  # complete lines after ``offset`` (once the existing ones are counted)
        self._appender: BinaryIO | None = None
        self.existing_bytes = self._repair_tail()

    def _repair_tail(self) -> int:
        """The size of a file left by an earlier process, ending with a complete line."""
        try:
            size = self.path.stat().st_size
            if size == 0:
                return 0
            with self.path.open("rb+") as handle:
                handle.seek(size - 1)
                if handle.read(1) != b"\n":
                    # A crash in the middle of a line: end it, so the next row starts on a line
                    # of its own; the fragment is reported as unreadable when replayed.
                    handle.write(b"\n")
                    size += 1
            return size
        except OSError:
            return 0

    def count_existing(self) -> int:
        """Lines in the part of the file an earlier process left (blocking)."""
        count = 0
        remaining = self.existing_bytes
        with self.path.open("rb") as handle:
            while remaining > 0:
                chunk = handle.read(min(_READ_CHUNK, remaining))
                if not chunk:
                    break
                remaining -= len(chunk)
                count += chunk.count(b"\n")
        return count

    def append(self, line: bytes) -> None:
        if self._appender is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._appender = self.path.open("ab")
        self._appender.write(line)
        self.unread += 1

    def flush(self) -> None:
        if self._appender is not None:
            self._appender.flush()

    def read(self, offset: int, max_lines: int) -> tuple[list[bytes], int]:
        """Up to ``max_lines`` complete lines from ``offset``, and the offset after them.

        Blocking. The caller moves ``offset`` once the lines are safely queued, so an
        interrupted read loses nothing. Call ``flush`` first, on the appending thread: only
        flushed lines are visible.
        """
        lines: list[bytes] = []
        with self.path.open("rb") as handle:
            handle.seek(offset)
            while len(lines) < max_lines:
                line = handle.readline()
                if not line.endswith(b"\n"):
                    break  # end of file, or a line still being appended
                lines.append(line)
                offset += len(line)
        return lines, offset

    def rewrite(self, head: list[bytes]) -> None:
        """Put ``head`` before the unread rest and drop what was read (blocking, atomic)."""
        self.close()
        temporary = self.path.with_name(self.path.name + ".tmp")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with temporary.open("wb") as out:
            out.writelines(head)
            if self.path.exists():
                with self.path.open("rb") as old:
                    old.seek(self.offset)
                    while chunk := old.read(_READ_CHUNK):
                        out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, self.path)
        self.unread += len(head)
        self.offset = 0

    def sync(self) -> None:
        """Flush and fsync what was appended (blocking)."""
        if self._appender is not None:
            self._appender.flush()
            os.fsync(self._appender.fileno())

    def exists(self) -> bool:
        return self._appender is not None or self.path.exists()

    def remove(self) -> None:
        self.close()
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        self.offset = 0
        self.unread = 0
        self.existing_bytes = 0

    def close(self) -> None:
        if self._appender is not None:
            with contextlib.suppress(OSError):
                self._appender.close()
            self._appender = None
