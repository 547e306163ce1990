"""Kubernetes Events for what users care about (health transitions, failovers, …).

Posting is fire-and-forget through a small queue: an Event must never delay reconciliation,
and losing one when the API server is down is acceptable (the store keeps the audit trail).
A transient failure is retried a few times under the Event's own name, chosen once as
client-go does, so a create whose answer was lost is never made twice (its retry meets 409).
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
from orchestration_engine.kube.errors import Conflict, Unavailable, translate
from orchestration_engine.plumbing.supervision import supervise

log = logging.getLogger(__name__)
COMPONENT = "orchestration-engine"


@dataclass(frozen=True, slots=True)
class ObjectRef:
    api_version: str
    kind: str
    namespace: str
    name: str
    uid: str


# An Event that meets a transient failure (no answer, 429, 5xx) is sent again this many
# times, after these waits: client-go's recorder tries 12 times, 10 s apart; ours is shorter,
# so a long outage drops Events (counted) rather than growing the queue.
RETRY_WAITS_S = (0.5, 1.0, 2.0, 4.0, 8.0)


@dataclass(frozen=True, slots=True)
class _Pending:
    ref: ObjectRef
    type_: str
    reason: str
    message: str
    name: str  # chosen once: a retry of a create that did land meets 409, never a twin
    at: datetime


def event_name(object_name: str, at: datetime, sequence: int) -> str:
    """``<object>.<hex>``, as client-go names Events, unique per recorder and moment; the
    object's name is shortened to keep the whole a valid DNS subdomain."""
    suffix = f".{int(at.timestamp() * 1e9):x}{sequence:x}"
    return object_name[: 253 - len(suffix)].rstrip("-.") + suffix


class EventRecorder:
    def __init__(
        self,
        api: client.ApiClient,
        *,
        max_queued: int = 10_000,
        retry_waits_s: tuple[float, ...] = RETRY_WAITS_S,
    ) -> None:
        self._core = client.CoreV1Api(api)
        self._queue: asyncio.Queue[_Pending] = asyncio.Queue(max_queued)
        self._task: asyncio.Task[None] | None = None
        self._retry_waits_s = retry_waits_s
        self._sequence = 0
        self.posted = 0
        self.dropped = 0

    def record(self, ref: ObjectRef, type_: str, reason: str, message: str) -> None:
        now = datetime.now(UTC)
        self._sequence += 1
        pending = _Pending(
            ref, type_, reason, message[:1024], event_name(ref.name, now, self._sequence), now
        )
        try:
            self._queue.put_nowait(pending)
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
            pending = await self._queue.get()
            try:
                if await self._post_with_retries(pending):
                    self.posted += 1
                else:
                    self.dropped += 1
            finally:
                self._queue.task_done()

    async def _post_with_retries(self, pending: _Pending) -> bool:
        ref = pending.ref
        for attempt in range(len(self._retry_waits_s) + 1):
            try:
                await self._post(pending)
                return True
            except ApiException as raw:  # TransportError too: no answer at all
                error = translate(raw)
            if isinstance(error, Conflict) and attempt > 0:
                return True  # an earlier attempt landed; its answer was lost
            if not isinstance(error, Unavailable) or attempt == len(self._retry_waits_s):
                log.warning(
                    "event %s for %s/%s not posted: %s",
                    pending.reason,
                    ref.namespace,
                    ref.name,
                    error,
                )
                return False
            await asyncio.sleep(self._retry_waits_s[attempt])
        return False

    async def _post(self, pending: _Pending) -> None:
        ref = pending.ref
        namespace = ref.namespace or "default"
        body = {
            "metadata": {"name": pending.name, "namespace": namespace},
            "involvedObject": {
                "apiVersion": ref.api_version,
                "kind": ref.kind,
                "name": ref.name,
                "namespace": ref.namespace or None,
                "uid": ref.uid,
            },
            "reason": pending.reason,
            "message": pending.message,
            "type": pending.type_,
            "source": {"component": COMPONENT},
            "reportingComponent": COMPONENT,
            "reportingInstance": COMPONENT,
            "firstTimestamp": rfc3339(pending.at),
            "lastTimestamp": rfc3339(pending.at),
            "count": 1,
        }
        # The client accepts a plain mapping; its typed model would only be converted back.
        await self._core.create_namespaced_event(namespace, cast(Any, body))
