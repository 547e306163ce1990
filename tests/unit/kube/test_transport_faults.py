"""The status writer and the Event poster against a real HTTP server that plays the API
server's transient faults: neither loop dies, and what was queued lands once the server
answers again (docs/fmea.md, "API faults")."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import aiohttp
import pytest
from kubernetes_asyncio import client
from kubernetes_asyncio.client.exceptions import ApiException
from scripted_server import ScriptedServer

from orchestration_engine.api.common import GROUP, VERSION
from orchestration_engine.core.api_retry import RetryPolicy
from orchestration_engine.kube import raw_request
from orchestration_engine.kube.client import api_client
from orchestration_engine.kube.errors import TransportError, Unavailable, translate
from orchestration_engine.kube.events import EventRecorder, ObjectRef
from orchestration_engine.kube.status import StatusWriter
from orchestration_engine.kube.transport import Transport, TransportSettings
from waiting import wait_for_async

PLURAL = "orchestratedservices"
STATUS_PATH = f"/apis/{GROUP}/{VERSION}/namespaces/ns/orchestratedservices/{{}}/status"
EVENTS_PATH = "/api/v1/namespaces/ns/events"
FAST = TransportSettings(
    request_timeout_s=2.0,
    read_idle_s=0.5,
    retry=RetryPolicy(base_s=0.01, cap_s=0.05, retry_after_cap_s=2.0),
)


@pytest.fixture
async def server() -> AsyncIterator[ScriptedServer]:
    scripted = ScriptedServer()
    await scripted.start()
    yield scripted
    await scripted.close()


def connect(server: ScriptedServer, transport: TransportSettings = FAST) -> client.ApiClient:
    return api_client(client.Configuration(host=server.url), transport)


REF = ObjectRef(f"{GROUP}/{VERSION}", "OrchestratedService", "ns", "svc", "uid-1")


async def test_event_poster_survives_a_disconnect(server: ScriptedServer) -> None:
    """One ServerDisconnectedError used to end the Event poster for good. Now an Event that
    got no answer is sent again under its own name: posted once, never twice."""
    api = connect(server)
    events = EventRecorder(api, retry_waits_s=(0.01, 0.01))
    await events.start()
    try:
        server.script = ["drop", "reset", "ok", "done-drop", "ok"]
        events.record(REF, "Normal", "First", "lost as it went out, then posted")
        events.record(REF, "Normal", "Second", "done, its answer lost: the retry meets 409")
        await wait_for_async(lambda: events.posted == 2)
        assert server.served[("POST", EVENTS_PATH)] == 2
        assert len(set(server.created)) == len(server.created) == 2
        assert [f for _, _, f in server.requests] == ["drop", "reset", "ok", "done-drop", "ok"]
        events.record(REF, "Normal", "Third", "the poster still runs")
        await wait_for_async(lambda: events.posted == 3)
        assert events.dropped == 0
    finally:
        await events.stop()
        await api.close()


async def test_event_poster_drops_after_its_retries(server: ScriptedServer) -> None:
    api = connect(server)
    events = EventRecorder(api, retry_waits_s=(0.01, 0.01))
    await events.start()
    try:
        server.script = ["503"] * 3
        events.record(REF, "Normal", "Lost", "three 503s: dropped, counted")
        events.record(REF, "Normal", "Next", "posted")
        await wait_for_async(lambda: events.posted + events.dropped == 2)
        assert (events.posted, events.dropped) == (1, 1)
    finally:
        await events.stop()
        await api.close()


async def test_event_poster_waits_out_retry_after(server: ScriptedServer) -> None:
    """429 with Retry-After: the server did not act, so even a POST is sent again."""
    api = connect(server)
    events = EventRecorder(api)
    await events.start()
    try:
        server.retry_after = "0.3"
        server.script = ["429"]
        started = time.monotonic()
        events.record(REF, "Normal", "Throttled", "posted after Retry-After")
        await wait_for_async(lambda: events.posted == 1)
        assert time.monotonic() - started >= 0.3
        assert [fault for _, _, fault in server.requests] == ["429", "ok"]
    finally:
        await events.stop()
        await api.close()


@pytest.mark.parametrize("fault", ["drop", "reset", "silent", "503", "429"])
async def test_status_writers_survive_faults_and_write_the_latest(
    server: ScriptedServer, fault: str
) -> None:
    """Eight faults used to stop all eight status writers; now every status lands once the
    server answers, the newest one of each object."""
    api = connect(server)
    writer = StatusWriter(api, concurrency=8)
    await writer.start()
    names = [f"svc-{i}" for i in range(8)]
    try:
        server.retry_after = "0.2"
        server.script = [fault] * 8
        for name in names:
            writer.submit(PLURAL, "ns", name, {"health": "UNKNOWN"})
        await wait_for_async(lambda: len(server.requests) >= 8)
        for name in names:  # newer statuses while the first ones are failing
            writer.submit(PLURAL, "ns", name, {"health": "HEALTHY"})
        await wait_for_async(
            lambda: all(server.served[("PATCH", STATUS_PATH.format(n))] >= 1 for n in names)
        )
        await asyncio.wait_for(writer.wait_idle(), 10)
        # The writers still run: a later status is written too.
        writer.submit(PLURAL, "ns", names[0], {"health": "FAILED"})
        await wait_for_async(lambda: server.served[("PATCH", STATUS_PATH.format(names[0]))] >= 2)
    finally:
        await writer.stop()
        await api.close()


async def test_a_silent_connection_fails_within_the_read_idle_bound(
    server: ScriptedServer,
) -> None:
    """A kept-alive connection that goes silent fails the request after ``read_idle_s``,
    not after the library's five minutes; a read is then sent again on a new connection."""
    api = connect(server)
    try:
        server.script = ["silent"]
        started = time.monotonic()
        await client.CoreV1Api(api).read_namespace("ns")
        assert time.monotonic() - started < FAST.request_timeout_s
        assert [fault for _, _, fault in server.requests] == ["silent", "ok"]
    finally:
        await api.close()


async def test_a_raw_request_without_its_own_timeout_keeps_the_read_idle_bound(
    server: ScriptedServer,
) -> None:
    """``timeout=None`` (the caches' primes, the webhook's neighbours, the notifier's Secret):
    no request timeout of its own, which would replace the transport's, so a silent
    connection still fails after ``read_idle_s`` and the read is sent again."""
    api = connect(server)
    try:
        server.script = ["silent"]
        started = time.monotonic()
        await raw_request.call(api, "GET", "/api/v1/namespaces/ns", timeout=None)
        assert time.monotonic() - started < FAST.request_timeout_s
        assert [fault for _, _, fault in server.requests] == ["silent", "ok"]
    finally:
        await api.close()


async def test_reads_are_sent_again_after_a_disconnect_and_writes_are_not(
    server: ScriptedServer,
) -> None:
    api = connect(server)
    try:
        server.script = ["drop", "reset"]
        await client.CoreV1Api(api).read_namespace("ns")
        assert [fault for _, _, fault in server.requests] == ["drop", "reset", "ok"]
        server.script = ["drop"]
        with pytest.raises(Unavailable, match="lost"):
            await client.CoreV1Api(api).create_namespaced_config_map("ns", {"data": {}})
        assert [f for m, _, f in server.requests if m == "POST"] == ["drop"]
    finally:
        await api.close()


async def test_requests_wait_for_the_rate_limit() -> None:
    """QPS and burst: the first ``burst`` requests go at once, then one per 1/qps."""
    clock = [0.0]
    waits: list[float] = []
    sent: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(round(seconds, 6))
        clock[0] += seconds

    async def send(*_: object, **__: object) -> str:
        sent.append(clock[0])
        return "ok"

    transport = Transport(
        send, TransportSettings(qps=5.0, burst=2), clock=lambda: clock[0], sleep=sleep
    )
    for _ in range(5):
        assert await transport.request("GET", "http://x/api") == "ok"
    assert [round(t, 6) for t in sent] == [0.0, 0.0, 0.2, 0.4, 0.6]


def _connector_error() -> BaseException:
    key = aiohttp.client_reqrep.ConnectionKey("h", 1, False, True, None, None, None)
    return aiohttp.ClientConnectorError(key, ConnectionRefusedError(111, "refused"))


@pytest.mark.parametrize(
    ("error", "retried_for_post"),
    [
        (aiohttp.ServerDisconnectedError(), False),
        (aiohttp.ClientOSError(104, "reset"), False),
        (aiohttp.ClientPayloadError("truncated"), False),
        (ConnectionResetError(104, "reset"), False),
        (TimeoutError(), False),
        (aiohttp.SocketTimeoutError("read"), False),
        (aiohttp.ConnectionTimeoutError("connect"), True),
        (_connector_error(), True),
    ],
)
async def test_every_no_answer_error_reaches_callers_as_one_class(
    error: BaseException, retried_for_post: bool
) -> None:
    """Whatever aiohttp or the OS raised, callers get a TransportError: an Unavailable for
    the typed handlers and an ApiException for the client's (the class of the finding:
    ``except (ApiException, OSError, TimeoutError)`` let ServerDisconnectedError through)."""
    calls: list[str] = []

    async def send(method: str, *_: object, **__: object) -> None:
        calls.append(method)
        raise error

    async def no_sleep(_: float) -> None:
        return None

    settings = TransportSettings(retry=RetryPolicy(max_retries=2))
    transport = Transport(send, settings, sleep=no_sleep)
    for method, tries in (("GET", 3), ("POST", 3 if retried_for_post else 1)):
        calls.clear()
        with pytest.raises(TransportError) as raised:
            await transport.request(method, "http://x/api/v1/namespaces")
        assert isinstance(raised.value, Unavailable)
        assert isinstance(raised.value, ApiException)
        assert raised.value.status == 0
        assert translate(raised.value) is raised.value
        assert len(calls) == tries, method
