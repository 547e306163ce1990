"""Each failure says what sort it was, against real listeners on 127.0.0.1: whether the service
answered (an HTTP status, a timeout after connecting) or the prober never reached it (refused,
unresolvable, no connection in time). core/prober_health.py weighs these kinds."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from orchestration_engine.core.prober_health import FailureKind
from orchestration_engine.probes import HttpProber, check_tcp


@pytest.fixture
async def base() -> AsyncIterator[str]:
    release = asyncio.Event()

    async def error(_: web.Request) -> web.Response:
        return web.Response(status=500, text="broken")

    async def ok(_: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def slow(_: web.Request) -> web.Response:
        try:
            async with asyncio.timeout(5):
                await release.wait()
        except TimeoutError:
            pass
        return web.Response(text="late")

    app = web.Application()
    app.router.add_get("/error", error)
    app.router.add_get("/ok", ok)
    app.router.add_get("/slow", slow)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    release.set()
    await runner.cleanup()


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


async def test_http_kinds(base: str) -> None:
    async with HttpProber(max_connections=2) as prober:
        assert (await prober.check(f"{base}/ok", [200], 2.0)).kind is None
        answered = await prober.check(f"{base}/error", [200], 2.0)
        assert answered.kind is FailureKind.HTTP_STATUS
        refused = await prober.check(f"http://127.0.0.1:{closed_port()}/", [200], 2.0)
        assert refused.kind is FailureKind.REFUSED
        unresolvable = await prober.check("http://does-not-exist.invalid/", [200], 5.0)
        # A resolver that does not answer at all times the lookup out: still no connection.
        assert unresolvable.kind in {FailureKind.DNS, FailureKind.CONNECT_TIMEOUT}
        invalid = await prober.check("http://[::1:bad/", [200], 1.0)
        assert invalid.kind is FailureKind.INVALID


async def test_a_timeout_after_connecting_is_the_service_s(base: str) -> None:
    async with HttpProber(max_connections=2) as prober:
        fresh = await prober.check(f"{base}/slow", [200], 0.3)
        assert fresh.message == "timed out after 0.3 s"
        assert fresh.kind is FailureKind.TIMEOUT
        # On a connection kept alive from an earlier check (no connect at all) as well.
        assert (await prober.check(f"{base}/ok", [200], 2.0)).ok
        reused = await prober.check(f"{base}/slow", [200], 0.3)
        assert reused.kind is FailureKind.TIMEOUT


async def test_a_timeout_before_any_connection_is_a_connect_timeout(base: str) -> None:
    async with HttpProber(max_connections=2) as prober:
        # A zero deadline ends the check before the connection is made.
        result = await prober.check(f"{base}/ok", [200], 0)
        assert result.kind is FailureKind.CONNECT_TIMEOUT


async def test_tcp_kinds() -> None:
    assert (await check_tcp("127.0.0.1", closed_port(), 2.0)).kind is FailureKind.REFUSED
    assert (await check_tcp("does-not-exist.invalid", 80, 5.0)).kind in {
        FailureKind.DNS,
        FailureKind.CONNECT_TIMEOUT,
    }
    server = await asyncio.start_server(lambda _r, w: w.close(), "127.0.0.1", 0)
    async with server:
        port = server.sockets[0].getsockname()[1]
        assert (await check_tcp("127.0.0.1", port, 0)).kind is FailureKind.CONNECT_TIMEOUT
        assert (await check_tcp("127.0.0.1", port, 2.0)).kind is None
