"""monitoring.notifier against a real webhook on 127.0.0.1: delivery, retries, drops."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from aiohttp import web
from kubernetes_asyncio import client

from orchestration_engine.api.engine import Notification
from orchestration_engine.controllers.engine.notifier import WebhookNotifier

FAST = (0.01, 0.01, 0.01)
DOCUMENT = {
    "event": "EmergencyHalt",
    "reason": "ServiceFailures",
    "message": "3 of 4 services FAILED (75% > 50%)",
    "time": "2026-11-23T10:00:00+00:00",
}


@dataclass
class Webhook:
    url: str
    # Statuses to answer, in order; 200 once they run out.
    statuses: list[int] = field(default_factory=list)
    received: list[tuple[dict[str, Any], dict[str, str]]] = field(default_factory=list)


@pytest.fixture
async def webhook() -> AsyncIterator[Webhook]:
    hook = Webhook(url="")

    async def receive(request: web.Request) -> web.Response:
        hook.received.append((await request.json(), dict(request.headers)))
        status = hook.statuses.pop(0) if hook.statuses else 200
        return web.Response(status=status, text="noted")

    app = web.Application()
    app.router.add_post("/hook", receive)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    hook.url = f"http://127.0.0.1:{port}/hook"
    yield hook
    await runner.cleanup()


@pytest.fixture
async def parts() -> AsyncIterator[tuple[client.ApiClient, httpx.AsyncClient]]:
    api = client.ApiClient()  # unused: no token secret
    http = httpx.AsyncClient(timeout=2.0)
    yield api, http
    await http.aclose()
    await api.close()


def notifier_for(
    parts: tuple[client.ApiClient, httpx.AsyncClient], url: str | None
) -> WebhookNotifier:
    api, http = parts
    config = None if url is None else Notification(webhook_url=url)
    return WebhookNotifier(api, http, lambda: config, delays=FAST)


def closed_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port  # nothing listens on it any more


async def test_a_200_delivers_once(webhook: Webhook, parts: Any) -> None:
    notifier = notifier_for(parts, webhook.url)
    notifier.notify(DOCUMENT)
    await notifier.close(timeout=5)
    assert (notifier.delivered, notifier.failed) == (1, 0)
    assert len(webhook.received) == 1
    body, headers = webhook.received[0]
    assert body == DOCUMENT
    assert (body["event"], body["reason"], body["message"]) == (
        "EmergencyHalt",
        "ServiceFailures",
        "3 of 4 services FAILED (75% > 50%)",
    )
    assert headers["Content-Type"] == "application/json"
    assert "Authorization" not in headers  # no token configured


async def test_delivered_after_two_500s(webhook: Webhook, parts: Any) -> None:
    webhook.statuses = [500, 500]
    notifier = notifier_for(parts, webhook.url)
    notifier.notify(DOCUMENT)
    await notifier.close(timeout=5)
    assert (notifier.delivered, notifier.failed) == (1, 0)
    assert [body for body, _ in webhook.received] == [DOCUMENT] * 3


async def test_a_webhook_that_always_fails_is_dropped_after_the_retries(
    webhook: Webhook, parts: Any
) -> None:
    webhook.statuses = [503] * 10
    notifier = notifier_for(parts, webhook.url)
    notifier.notify(DOCUMENT)
    await notifier.close(timeout=5)
    assert (notifier.delivered, notifier.failed) == (0, 1)
    assert len(webhook.received) == len(FAST) + 1  # the first attempt and one per delay


async def test_a_closed_port_fails_without_blocking(
    parts: Any, caplog: pytest.LogCaptureFixture
) -> None:
    url = f"http://127.0.0.1:{closed_port()}/hook"
    notifier = notifier_for(parts, url)
    loop = asyncio.get_running_loop()
    started = loop.time()
    notifier.notify(DOCUMENT)
    assert loop.time() - started < 0.05  # returned at once: delivery is a background task
    assert (notifier.delivered, notifier.failed) == (0, 0)
    await notifier.close(timeout=5)
    assert (notifier.delivered, notifier.failed) == (0, 1)
    assert f"halt notification to {url} not delivered" in caplog.text


async def test_notify_never_waits_for_a_delivery(webhook: Webhook, parts: Any) -> None:
    notifier = notifier_for(parts, webhook.url)
    notifier.notify(DOCUMENT)
    notifier.notify({**DOCUMENT, "event": "EmergencyHaltCleared"})
    # Nothing was awaited yet, so nothing can have been sent.
    assert webhook.received == []
    await notifier.close(timeout=5)
    assert notifier.delivered == 2
    assert sorted(body["event"] for body, _ in webhook.received) == [
        "EmergencyHalt",
        "EmergencyHaltCleared",
    ]


async def test_no_configuration_sends_nothing(webhook: Webhook, parts: Any) -> None:
    notifier = notifier_for(parts, None)
    notifier.notify(DOCUMENT)
    await notifier.close(timeout=5)
    await asyncio.sleep(0.05)
    assert webhook.received == []
    assert (notifier.delivered, notifier.failed) == (0, 0)


async def test_configuration_is_read_at_each_notification(webhook: Webhook, parts: Any) -> None:
    api, http = parts
    current: list[Notification | None] = [None]
    notifier = WebhookNotifier(api, http, lambda: current[0], delays=FAST)
    notifier.notify(DOCUMENT)
    current[0] = Notification(webhook_url=webhook.url)
    notifier.notify({**DOCUMENT, "event": "EmergencyHaltCleared"})
    await notifier.close(timeout=5)
    assert [body["event"] for body, _ in webhook.received] == ["EmergencyHaltCleared"]
    assert notifier.delivered == 1
