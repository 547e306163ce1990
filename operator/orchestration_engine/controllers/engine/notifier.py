"""Announces emergency halts to a webhook (``spec.notification``), off the hot path.

Each announcement is a background task: a POST of a small JSON document, retried with
backoff, its token read from a Secret at send time (a rotated token is picked up) and never
written to a log. A notification that cannot be delivered is logged and dropped; nothing
waits for it.
"""

from __future__ import annotations

import asyncio
import base64
import logging
from collections.abc import Callable
from typing import Any

import httpx

from orchestration_engine.api.engine import Notification
from orchestration_engine.kube import resources
from orchestration_engine.kube.client import ApiClient
from orchestration_engine.kube.errors import KubeError

log = logging.getLogger(__name__)

RETRY_DELAYS_SECONDS = (1.0, 2.0, 4.0, 8.0)


class WebhookNotifier:
    def __init__(
        self,
        api: ApiClient,
        http: httpx.AsyncClient,
        config: Callable[[], Notification | None],
        *,
        delays: tuple[float, ...] = RETRY_DELAYS_SECONDS,
    ) -> None:
        self._api = api
        self._http = http
        self._config = config
        self._delays = delays
        self._tasks: set[asyncio.Task[bool]] = set()
        self.delivered = 0
        self.failed = 0

    def notify(self, document: dict[str, Any]) -> None:
        config = self._config()
        if config is None:
            return
        task = asyncio.create_task(self._deliver(config, document), name="halt-notification")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def close(self, timeout: float = 3.0) -> None:
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=timeout)
        for task in list(self._tasks):
            task.cancel()

    async def _token(self, config: Notification) -> str | None:
        ref = config.token_secret_ref
        if ref is None:
            return None
        secret = await resources.get(
            self._api, resources.SECRET, ref.namespace, ref.name, timeout=None
        )
        if secret is None:
            raise KeyError(f"Secret {ref.namespace}/{ref.name} not found")
        encoded = (secret.get("data") or {}).get(ref.key)
        if encoded is None:
            raise KeyError(f"Secret {ref.namespace}/{ref.name} has no key {ref.key!r}")
        return base64.b64decode(encoded).decode()

    async def _deliver(self, config: Notification, document: dict[str, Any]) -> bool:
        url = config.webhook_url
        for attempt, delay in enumerate((*self._delays, None), start=1):
            try:
                token = await self._token(config)
                headers = {"Authorization": f"Bearer {token}"} if token else {}
                response = await self._http.post(url, json=document, headers=headers)
                if response.status_code < 300:
                    self.delivered += 1
                    return True
                problem = f"answered {response.status_code}"
            except (httpx.HTTPError, KubeError, KeyError, ValueError) as error:
                # The error's text, never the request: its headers hold the token.
                problem = f"{type(error).__name__}: {_reason(error)}"
            if delay is None:
                break
            log.warning("halt notification to %s, attempt %d: %s", url, attempt, problem)
            await asyncio.sleep(delay)
        self.failed += 1
        log.error("halt notification to %s not delivered: %s", url, problem)
        return False


def _reason(error: BaseException) -> str:
    if isinstance(error, KubeError):
        return f"{error.status} {error.reason}"
    return str(error)[:200]
