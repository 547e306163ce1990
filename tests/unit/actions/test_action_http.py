"""The http action against a real server on 127.0.0.1: methods, bodies, idempotency key,
expected statuses, unreachable hosts and bodies too big to read."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, cast

import httpx
import pytest
from aiohttp import web
from multidict import CIMultiDictProxy

from http_support import serving
from orchestration_engine.actions.base import ActionDeps, StepContext, StepFailed
from orchestration_engine.actions.http import EXCERPT_CHARS, http
from orchestration_engine.api.workflow import HttpParams

CTX = StepContext(
    namespace="shop",
    workflow="nightly",
    workflow_uid="uid-1",
    step="notify",
    attempt=2,
    started_at=datetime(2026, 11, 24, 12, 0, tzinfo=UTC),
)


@dataclass
class Seen:
    method: str
    headers: CIMultiDictProxy[str]  # case-insensitive, as HTTP headers are
    body: bytes


@dataclass
class Server:
    base: str
    seen: list[Seen] = field(default_factory=list)


@pytest.fixture
async def server() -> AsyncIterator[Server]:
    state = Server(base="")

    async def echo(request: web.Request) -> web.Response:
        headers = CIMultiDictProxy(request.headers.copy())
        state.seen.append(Seen(request.method, headers, await request.read()))
        return web.Response(status=int(request.query.get("status", "200")), text="broken")

    async def huge(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(status=500)
        await response.prepare(request)
        chunk = b"x" * 65536
        try:
            for _ in range(16 * 1024):  # 1 GiB if anyone read it all
                await response.write(chunk)
        except (ConnectionError, RuntimeError):
            pass  # the client hung up, as it should
        return response

    app = web.Application()
    app.router.add_route("*", "/echo", echo)
    app.router.add_get("/huge", huge)
    async with serving(app) as state.base:
        yield state


@pytest.fixture
async def deps() -> AsyncIterator[ActionDeps]:
    async with httpx.AsyncClient(timeout=5.0, follow_redirects=False) as client:
        yield ActionDeps(
            api=cast(Any, None),
            http=client,
            health=lambda _ns, _name: None,
            service=lambda _ns, _name: None,
            failover=cast(Any, None),
        )


def params(**values: Any) -> HttpParams:
    return HttpParams.model_validate(values)


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


async def test_get_by_default_with_idempotency_key(server: Server, deps: ActionDeps) -> None:
    message = await http(deps, CTX, params(url=f"{server.base}/echo"))
    assert message == f"GET {server.base}/echo answered 200"
    [seen] = server.seen
    assert seen.method == "GET"
    assert seen.headers["Idempotency-Key"] == "uid-1/step/notify/2"


async def test_json_body_and_headers(server: Server, deps: ActionDeps) -> None:
    await http(
        deps,
        CTX,
        params(
            url=f"{server.base}/echo",
            method="POST",
            headers={"X-Team": "payments"},
            body={"drain": True, "nodes": [1, 2]},
        ),
    )
    [seen] = server.seen
    assert seen.method == "POST"
    assert seen.headers["X-Team"] == "payments"
    assert seen.headers["Content-Type"] == "application/json"
    assert json.loads(seen.body) == {"drain": True, "nodes": [1, 2]}


async def test_list_body_is_json_and_string_body_is_sent_as_is(
    server: Server, deps: ActionDeps
) -> None:
    await http(deps, CTX, params(url=f"{server.base}/echo", method="PUT", body=[1, "a"]))
    await http(deps, CTX, params(url=f"{server.base}/echo", method="PATCH", body="a=1&b"))
    assert json.loads(server.seen[0].body) == [1, "a"]
    assert server.seen[1].body == b"a=1&b"
    assert "json" not in server.seen[1].headers.get("Content-Type", "")


async def test_users_idempotency_key_wins(server: Server, deps: ActionDeps) -> None:
    await http(deps, CTX, params(url=f"{server.base}/echo", headers={"idempotency-key": "mine"}))
    [seen] = server.seen
    assert seen.headers.getall("Idempotency-Key") == ["mine"]


async def test_rollback_attempt_has_its_own_key(server: Server, deps: ActionDeps) -> None:
    rollback = StepContext(**{**CTX.__dict__, "rollback": True})
    await http(deps, rollback, params(url=f"{server.base}/echo"))
    assert server.seen[0].headers["Idempotency-Key"] == "uid-1/rollback/notify/2"


async def test_unexpected_status_fails_with_body_excerpt(server: Server, deps: ActionDeps) -> None:
    url = f"{server.base}/echo?status=500"
    with pytest.raises(StepFailed) as failed:
        await http(deps, CTX, params(url=url, method="POST"))
    assert str(failed.value) == f"POST {url} answered 500, expected [200]: broken"


async def test_any_expected_status_passes(server: Server, deps: ActionDeps) -> None:
    url = f"{server.base}/echo?status=202"
    message = await http(deps, CTX, params(url=url, expectedStatus=[200, 202]))
    assert message == f"GET {url} answered 202"
    with pytest.raises(StepFailed, match=r"answered 202, expected \[200, 204\]"):
        await http(deps, CTX, params(url=url, expectedStatus=[200, 204]))


async def test_huge_body_is_not_read(server: Server, deps: ActionDeps) -> None:
    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(StepFailed) as failed:
        await http(deps, CTX, params(url=f"{server.base}/huge"))
    # Reading the whole gigabyte would take far longer than this.
    assert loop.time() - started < 2.0
    excerpt = str(failed.value).split(": ", 1)[1]
    assert len(excerpt) == EXCERPT_CHARS
    assert excerpt.endswith("…")


async def test_connection_refused_fails_with_reason(deps: ActionDeps) -> None:
    url = f"http://127.0.0.1:{closed_port()}/hook"
    with pytest.raises(StepFailed) as failed:
        await http(deps, CTX, params(url=url, method="DELETE"))
    message = str(failed.value)
    assert message.startswith(f"DELETE {url} failed: ")
    assert len(message) > len(f"DELETE {url} failed: ")


async def test_credentials_in_the_url_stay_out_of_messages(
    server: Server, deps: ActionDeps
) -> None:
    url = server.base.replace("http://", "http://ops:s3cret@") + "/echo?status=500"
    with pytest.raises(StepFailed) as failed:
        await http(deps, CTX, params(url=url))
    assert "s3cret" not in str(failed.value)
    assert f"GET {server.base}/echo?status=500 answered 500" in str(failed.value)
    assert server.seen[0].headers["Authorization"].startswith("Basic ")
