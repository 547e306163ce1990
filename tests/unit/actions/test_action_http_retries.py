"""The http action within a step, against a real server on 127.0.0.1: a request may take the
step's time (not the client's default) and no more, and a request met by a transient fault
is sent again with the same Idempotency-Key, a bounded number of times."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, cast

import httpx
import pytest
from aiohttp import web

from http_support import serving
from orchestration_engine.actions.base import ActionDeps, StepContext, StepFailed
from orchestration_engine.actions.http import TRIES, http
from orchestration_engine.actions.registry import run_action
from orchestration_engine.api.workflow import HttpParams
from orchestration_engine.controllers.workflows.record import WorkflowRecord
from orchestration_engine.controllers.workflows.runner import WorkflowRunner
from orchestration_engine.core import workflow_run
from orchestration_engine.kube.transient import within

CTX = StepContext(
    namespace="shop",
    workflow="nightly",
    workflow_uid="uid-1",
    step="notify",
    attempt=1,
    started_at=datetime(2026, 11, 24, 12, 0, tzinfo=UTC),
)


@dataclass
class Server:
    base: str = ""
    # Per path: what to do with each next request ("drop", a status, or seconds to sleep
    # as "sleep:<s>"); then 200.
    plan: dict[str, list[str]] = field(default_factory=dict)
    keys: list[str | None] = field(default_factory=list)
    times: list[float] = field(default_factory=list)


@pytest.fixture
async def server() -> AsyncIterator[Server]:
    state = Server()

    async def answer(request: web.Request) -> web.StreamResponse:
        await request.read()
        state.keys.append(request.headers.get("Idempotency-Key"))
        state.times.append(asyncio.get_running_loop().time())
        queue = state.plan.get(request.path) or []
        todo = queue.pop(0) if queue else "200"
        if todo == "drop":
            assert request.transport is not None
            request.transport.close()  # the connection breaks before any answer
            return web.Response()
        if todo.startswith("sleep:"):
            await asyncio.sleep(float(todo.removeprefix("sleep:")))
            return web.Response(text="slow but fine")
        status, _, retry_after = todo.partition("/")
        headers = {"Retry-After": retry_after} if retry_after else {}
        return web.Response(status=int(status), text="not now", headers=headers)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", answer)
    # In-flight slow answers are not waited for at the end.
    async with serving(app, shutdown_timeout=0.1) as state.base:
        yield state


def deps_with(client: httpx.AsyncClient) -> ActionDeps:
    return ActionDeps(
        api=cast(Any, None),
        http=client,
        health=lambda _ns, _name: None,
        service=lambda _ns, _name: None,
        failover=cast(Any, None),
    )


def params(**values: Any) -> HttpParams:
    return HttpParams.model_validate({"method": "POST", **values})


async def test_a_request_may_take_the_steps_time_not_the_clients_default(
    server: Server,
) -> None:
    server.plan["/slow"] = ["sleep:1.0"]
    async with httpx.AsyncClient(timeout=0.3) as client:
        with within(5):
            message = await http(deps_with(client), CTX, params(url=f"{server.base}/slow"))
    assert message.endswith("answered 200")


class Store:
    async def write_now(self, *_: Any, **__: Any) -> dict[str, Any]:
        return {"metadata": {"resourceVersion": "1"}}


async def test_a_request_slower_than_the_step_ends_with_the_steps_timeout(
    server: Server,
) -> None:
    server.plan["/slower"] = ["sleep:30"]
    step = {
        "name": "notify",
        "action": "http",
        "params": {"url": f"{server.base}/slower"},
        "timeoutSeconds": 1,
    }
    record = WorkflowRecord.from_body(
        {"metadata": {"namespace": "ns", "name": "wf", "uid": "u"}, "spec": {"steps": [step]}}
    )
    assert record.spec is not None
    async with httpx.AsyncClient(timeout=60) as client:
        deps = deps_with(client)
        runner = WorkflowRunner(
            record,
            workflow_run.admit(record.spec, record.status, datetime.now(UTC)),
            plural="orchestrationworkflows",
            store=Store(),
            run_step=lambda context, spec_step: run_action(deps, context, spec_step),
            halted=lambda _record: False,
            health=lambda _ns, _name: None,
            on_phase=lambda *_: None,
        )
        loop = asyncio.get_running_loop()
        started = loop.time()
        final = await asyncio.wait_for(runner.run(written=None), 20)
    assert final.steps[0].message == "timed out after 1s"
    assert loop.time() - started < 10  # the client's 60 s did not hold it


async def test_a_request_sent_again_carries_the_same_key(server: Server) -> None:
    server.plan["/drain"] = ["503/0", "drop", "502"]
    async with httpx.AsyncClient(timeout=5) as client:
        with within(10):
            message = await http(deps_with(client), CTX, params(url=f"{server.base}/drain"))
    assert message.endswith("answered 200")
    assert server.keys == ["uid-1/step/notify/1"] * 4


async def test_retry_after_is_honoured(server: Server) -> None:
    server.plan["/busy"] = ["429/1"]
    async with httpx.AsyncClient(timeout=5) as client:
        with within(10):
            await http(deps_with(client), CTX, params(url=f"{server.base}/busy"))
    assert len(server.times) == 2
    assert server.times[1] - server.times[0] >= 1.0


async def test_sends_are_bounded_and_the_last_fault_is_the_message(server: Server) -> None:
    server.plan["/down"] = ["503/0"] * 10
    async with httpx.AsyncClient(timeout=5) as client:
        with within(30), pytest.raises(StepFailed) as failed:
            await http(deps_with(client), CTX, params(url=f"{server.base}/down"))
    assert len(server.keys) == TRIES
    assert str(failed.value).endswith(f"answered 503, expected [200]: not now (sent {TRIES} times)")


async def test_a_refused_connection_is_sent_again_then_fails_within_seconds() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    loop = asyncio.get_running_loop()
    started = loop.time()
    async with httpx.AsyncClient(timeout=5) as client:
        with within(600), pytest.raises(StepFailed) as failed:
            await http(deps_with(client), CTX, params(url=f"http://127.0.0.1:{port}/hook"))
    assert f"(sent {TRIES} times)" in str(failed.value)
    assert loop.time() - started < 10  # not the step's ten minutes


async def test_an_answer_that_says_no_is_not_sent_again(server: Server) -> None:
    server.plan["/broken"] = ["500", "500"]
    async with httpx.AsyncClient(timeout=5) as client:
        with within(30), pytest.raises(StepFailed):
            await http(deps_with(client), CTX, params(url=f"{server.base}/broken"))
    assert len(server.keys) == 1
