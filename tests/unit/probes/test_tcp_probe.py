"""probes.tcp against real listeners on 127.0.0.1: accepted, refused, timed out."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator

import pytest

from orchestration_engine.probes import check_tcp


@pytest.fixture
async def listener() -> AsyncIterator[tuple[int, list[int]]]:
    """A port that accepts, and a list that grows by one for every connection accepted."""
    accepted: list[int] = []

    async def handle(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.append(1)
        writer.close()
        await writer.wait_closed()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port: int = server.sockets[0].getsockname()[1]
    async with server:
        yield port, accepted


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


async def test_listening_port_is_ok(listener: tuple[int, list[int]]) -> None:
    port, accepted = listener
    result = await check_tcp("127.0.0.1", port, 2.0)
    assert result.ok
    assert result.message == ""
    assert result.latency_ms is not None
    assert 0 < result.latency_ms < 2000
    await asyncio.sleep(0.05)
    assert accepted == [1]


async def test_many_checks_leave_no_connection_open(listener: tuple[int, list[int]]) -> None:
    port, accepted = listener
    results = await asyncio.gather(*(check_tcp("127.0.0.1", port, 2.0) for _ in range(100)))
    assert all(r.ok for r in results)
    await asyncio.sleep(0.05)
    assert len(accepted) == 100


async def test_closed_port_is_refused() -> None:
    result = await check_tcp("127.0.0.1", closed_port(), 2.0)
    assert not result.ok
    assert result.message == "connection refused"
    assert result.latency_ms is None


async def test_unresolvable_host_is_named() -> None:
    result = await check_tcp("does-not-exist.invalid", 80, 5.0)
    assert not result.ok
    assert result.message in {
        "DNS lookup failed for host does-not-exist.invalid",
        "timed out after 5.0 s",  # a resolver that does not answer at all
    }


async def test_deadline_gives_timeout_message(listener: tuple[int, list[int]]) -> None:
    # A zero deadline expires before the handshake's first await returns, every time, so the
    # timeout path is tested without sending anything off this machine.
    port, _ = listener
    result = await check_tcp("127.0.0.1", port, 0)
    assert not result.ok
    assert result.message == "timed out after 0.0 s"
    assert result.latency_ms is None
