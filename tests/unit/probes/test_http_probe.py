"""probes.http against a real server on 127.0.0.1: statuses, redirects, timeouts, bad hosts."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC

import pytest
from aiohttp import web

from http_support import serving
from orchestration_engine.probes import HttpProber


@dataclass(frozen=True)
class Server:
    base: str
    # Client (host, port) pairs seen by /ok: one per connection the prober opened.
    peers: set[tuple[str, int]]
    # Set at teardown so a handler still sleeping for the slow endpoint returns at once.
    release: asyncio.Event


@pytest.fixture
async def server() -> AsyncIterator[Server]:
    release = asyncio.Event()
    peers: set[tuple[str, int]] = set()

    async def ok(request: web.Request) -> web.Response:
        assert request.transport is not None
        peers.add(request.transport.get_extra_info("peername")[:2])
        return web.Response(text="ok")

    async def error(_: web.Request) -> web.Response:
        return web.Response(status=500, text="broken")

    async def slow(_: web.Request) -> web.Response:
        # Longer than any timeout used below, but ends the moment the test is done.
        try:
            async with asyncio.timeout(5):
                await release.wait()
        except TimeoutError:
            pass
        return web.Response(text="late")

    async def redirect(_: web.Request) -> web.Response:
        raise web.HTTPFound("/ok")

    async def huge(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse()
        await response.prepare(request)
        chunk = b"x" * 65536
        try:
            for _ in range(16 * 1024):  # 1 GiB if anyone read it all
                await response.write(chunk)
        except (ConnectionError, RuntimeError):
            pass  # the prober hung up, as it should
        return response

    app = web.Application()
    app.router.add_get("/ok", ok)
    app.router.add_get("/error", error)
    app.router.add_get("/slow", slow)
    app.router.add_get("/redirect", redirect)
    app.router.add_get("/huge", huge)
    async with serving(app) as base:
        yield Server(base, peers, release)
        release.set()


@pytest.fixture
async def prober() -> AsyncIterator[HttpProber]:
    async with HttpProber(max_connections=8) as prober:
        yield prober


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


async def test_expected_status_is_ok(server: Server, prober: HttpProber) -> None:
    result = await prober.check(f"{server.base}/ok", [200], 2.0)
    assert result.ok
    assert result.message == ""
    assert result.latency_ms is not None
    assert 0 < result.latency_ms < 2000
    assert result.checked_at.tzinfo is UTC


async def test_unexpected_status_names_both(server: Server, prober: HttpProber) -> None:
    result = await prober.check(f"{server.base}/error", [200], 2.0)
    assert not result.ok
    assert result.message == "HTTP 500 (expected 200)"
    # The server answered, so how fast it did so is still worth knowing.
    assert result.latency_ms is not None


async def test_any_listed_status_is_ok(server: Server, prober: HttpProber) -> None:
    assert (await prober.check(f"{server.base}/error", [200, 500], 2.0)).ok
    result = await prober.check(f"{server.base}/error", [200, 204], 2.0)
    assert result.message == "HTTP 500 (expected 200, 204)"


async def test_redirect_is_not_followed(server: Server, prober: HttpProber) -> None:
    result = await prober.check(f"{server.base}/redirect", [200], 2.0)
    assert not result.ok
    assert result.message == "HTTP 302 (expected 200)"
    assert (await prober.check(f"{server.base}/redirect", [302], 2.0)).ok


async def test_slow_endpoint_times_out(server: Server, prober: HttpProber) -> None:
    loop = asyncio.get_running_loop()
    started = loop.time()
    result = await prober.check(f"{server.base}/slow", [200], 0.2)
    elapsed = loop.time() - started
    assert not result.ok
    assert result.message == "timed out after 0.2 s"
    assert result.latency_ms is None
    assert 0.15 < elapsed < 2.0


async def test_huge_body_is_not_read_to_the_end(server: Server, prober: HttpProber) -> None:
    loop = asyncio.get_running_loop()
    started = loop.time()
    result = await prober.check(f"{server.base}/huge", [200], 5.0)
    assert result.ok
    # Reading the whole gigabyte would take far longer than this.
    assert loop.time() - started < 2.0


async def test_checks_share_a_bounded_pool(server: Server, prober: HttpProber) -> None:
    for _ in range(2):
        results = await asyncio.gather(
            *(prober.check(f"{server.base}/ok", [200], 2.0) for _ in range(50))
        )
        assert all(r.ok for r in results)
    # 100 checks through a pool of 8: kept-alive connections are reused, never more than 8.
    assert 1 <= len(server.peers) <= 8


async def test_closed_port_is_refused(prober: HttpProber) -> None:
    result = await prober.check(f"http://127.0.0.1:{closed_port()}/", [200], 2.0)
    assert not result.ok
    assert result.message == "connection refused"
    assert result.latency_ms is None


async def test_unresolvable_host_is_named(prober: HttpProber) -> None:
    # .invalid is reserved (RFC 2606) and never resolves, with or without a network.
    result = await prober.check("http://does-not-exist.invalid/", [200], 5.0)
    assert not result.ok
    assert result.message in {
        "DNS lookup failed for host does-not-exist.invalid",
        "timed out after 5.0 s",  # a resolver that does not answer at all
    }


async def test_unsupported_and_invalid_urls_fail_without_raising(prober: HttpProber) -> None:
    unsupported = await prober.check("ftp://127.0.0.1/", [200], 1.0)
    assert not unsupported.ok
    assert "ftp" in unsupported.message
    invalid = await prober.check("http://[::1:bad/", [200], 1.0)
    assert not invalid.ok
    assert invalid.message.startswith("invalid URL")


async def test_empty_expected_status_is_a_caller_error(prober: HttpProber) -> None:
    with pytest.raises(ValueError, match="expected_status"):
        await prober.check("http://127.0.0.1/", [], 1.0)


async def test_prober_can_be_closed_outside_a_context() -> None:
    prober = HttpProber()
    await prober.close()
