"""Kubernetes Events for what users care about (health transitions, failovers, …).

Posting is fire-and-forget through a small queue: an Event must never delay reconciliation,
and losing one when the API server is down is acceptable (the store keeps the audit trail).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

from kubernetes_asyncio import client
from kubernetes_asyncio.client.exceptions import ApiException

from orchestration_engine.core.conditions import rfc3339
from orchestration_engine.supervision import supervise

log = logging.getLogger(__name__)
COMPONENT = "orchestration-engine"


@dataclass(frozen=True, slots=True)
class ObjectRef:
    api_version: str
    kind: str
    namespace: str
    name: str
    uid: str


class EventRecorder:
    def __init__(self, api: client.ApiClient, *, max_queued: int = 10_000) -> None:
        self._core = client.CoreV1Api(api)
        self._queue: asyncio.Queue[tuple[ObjectRef, str, str, str]] = asyncio.Queue(max_queued)
        self._task: asyncio.Task[None] | None = None
        self.posted = 0
        self.dropped = 0

    def record(self, ref: ObjectRef, type_: str, reason: str, message: str) -> None:
        try:
            self._queue.put_nowait((ref, type_, reason, message[:1024]))
        except asyncio.QueueFull:
            self.dropped += 1

    async def start(self) -> None:
        self._task = supervise("event-recorder", self._post_all)

    async def stop(self, timeout: float = 3.0) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._queue.join(), timeout)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _post_all(self) -> None:
        while True:
            ref, type_, reason, message = await self._queue.get()
            try:
                await self._post(ref, type_, reason, message)
                self.posted += 1
            except (ApiException, OSError, TimeoutError) as error:
                self.dropped += 1
                log.warning(
                    "event %s for %s/%s not posted: %s", reason, ref.namespace, ref.name, error
                )
            finally:
                self._queue.task_done()

    async def _post(self, ref: ObjectRef, type_: str, reason: str, message: str) -> None:
        now = datetime.now(UTC)
        namespace = ref.namespace or "default"
        body = {
            "metadata": {"generateName": f"{ref.name}.", "namespace": namespace},
            "involvedObject": {
                "apiVersion": ref.api_version,
                "kind": ref.kind,
                "name": ref.name,
                "namespace": ref.namespace or None,
                "uid": ref.uid,
            },
            "reason": reason,
            "message": message,
            "type": type_,
            "source": {"component": COMPONENT},
            "reportingComponent": COMPONENT,
            "reportingInstance": COMPONENT,
            "firstTimestamp": rfc3339(now),
            "lastTimestamp": rfc3339(now),
            "count": 1,
        }
        # The client accepts a plain mapping; its typed model would only be converted back.
        await self._core.create_namespaced_event(namespace, cast(Any, body))
