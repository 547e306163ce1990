"""The spill file keeps rows in order across appends, partial reads, rewrites and crashes."""

from __future__ import annotations

from pathlib import Path

from orchestration_engine.store.spill import SpillFile


def lines(*values: str) -> list[bytes]:
    return [f"{value}\n".encode() for value in values]


def test_append_then_read_in_order(tmp_path: Path) -> None:
    spill = SpillFile(tmp_path / "deep" / "spill.jsonl")
    for line in lines("a", "b", "c"):
        spill.append(line)
    spill.flush()
    assert spill.unread == 3
    first, offset = spill.read(spill.offset, 2)
    assert first == lines("a", "b")
    assert spill.offset == 0  # the caller moves it once the lines are safe
    spill.offset = offset
    rest, spill.offset = spill.read(spill.offset, 10)
    assert rest == lines("c")


def test_unflushed_lines_are_not_read(tmp_path: Path) -> None:
    spill = SpillFile(tmp_path / "spill.jsonl")
    spill.append(b"a\n")
    spill.flush()
    spill.append(b"b\n")
    assert spill.read(0, 10)[0] == lines("a")


def test_rewrite_puts_rows_back_in_front_of_the_unread_rest(tmp_path: Path) -> None:
    spill = SpillFile(tmp_path / "spill.jsonl")
    for line in lines("old1", "old2", "old3"):
        spill.append(line)
    spill.flush()
    _, spill.offset = spill.read(0, 1)  # "old1" went into memory and is now written
    spill.unread -= 1
    spill.rewrite(lines("mem1", "mem2"))
    assert spill.path.read_bytes() == b"".join(lines("mem1", "mem2", "old2", "old3"))
    assert (spill.offset, spill.unread) == (0, 4)


def test_a_file_left_behind_is_found_and_its_torn_last_line_ended(tmp_path: Path) -> None:
    path = tmp_path / "spill.jsonl"
    path.write_bytes(b'{"a":1}\n{"b":2}\n{"c":')  # the process died in mid-append
    spill = SpillFile(path)
    assert spill.existing_bytes == path.stat().st_size
    assert path.read_bytes().endswith(b'{"c":\n')
    assert spill.count_existing() == 3
    spill.append(b'{"d":4}\n')
    spill.flush()
    assert spill.read(0, 10)[0][-1] == b'{"d":4}\n'


def test_remove(tmp_path: Path) -> None:
    spill = SpillFile(tmp_path / "spill.jsonl")
    spill.append(b"a\n")
    assert spill.exists()
    spill.remove()
    assert not spill.exists()
    assert (spill.offset, spill.unread) == (0, 0)
