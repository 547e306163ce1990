"""Writes ``status`` of our custom objects: coalescing, bounded, never blocking a caller.

Callers hand over the latest status they want an object to have; if a write for the same
object is still queued, the newer status replaces it (only the last one matters). A few
writers drain the queue, so a burst of changes becomes at most one write per object.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from typing import Any

from kubernetes_asyncio import client
from kubernetes_asyncio.client.exceptions import ApiException

from orchestration_engine.api.common import GROUP, VERSION
from orchestration_engine.kube.errors import Conflict, KubeError, NotFound, Unavailable, translate
from orchestration_engine.plumbing import metrics
from orchestration_engine.plumbing.supervision import supervise

log = logging.getLogger(__name__)

# Custom resources take JSON merge patches (not strategic ones); lists are replaced whole.
MERGE_PATCH: dict[str, Any] = {"_content_type": "application/merge-patch+json"}

ObjectKey = tuple[str, str, str]  # plural, namespace ("" for cluster-scoped), name
# After a 409 the write is queued again (unless a newer status replaced it) this much later.
CONFLICT_RETRY_SECONDS = 0.2


class StatusWriter:
    def __init__(self, api: client.ApiClient, *, concurrency: int = 8) -> None:
        self._custom = client.CustomObjectsApi(api)
        self._pending: OrderedDict[ObjectKey, dict[str, Any]] = OrderedDict()
        self._wakeup = asyncio.Event()
        self._concurrency = concurrency
        self._tasks: list[asyncio.Task[None]] = []
        self._in_flight: set[ObjectKey] = set()
        self._idle = asyncio.Event()
        self._idle.set()
        self.writes = 0
        self.failures = 0

    def submit(self, plural: str, namespace: str, name: str, status: dict[str, Any]) -> None:
        key = (plural, namespace, name)
        self._pending[key] = status
        self._pending.move_to_end(key)
        self._idle.clear()
        self._wakeup.set()

    def forget(self, plural: str, namespace: str, name: str) -> None:
        self._pending.pop((plural, namespace, name), None)

    async def write_now(
        self,
        plural: str,
        namespace: str,
        name: str,
        status: dict[str, Any],
        *,
        resource_version: str | None = None,
    ) -> dict[str, Any]:
        """Write at once and return the object as stored; raises the typed API errors.

        With ``resource_version`` the write is conditional: a 409 Conflict if the object moved
        since that version was read (or is another object of the same name).

        For a write that must be durable before the caller goes on (a workflow step's start,
        recorded before its side effect). A queued write of the same object is dropped (this
        one is newer) and one in flight is waited for, so the two never land out of order.
        """
        key = (plural, namespace, name)
        self._pending.pop(key, None)
        while key in self._in_flight:
            self._wakeup.clear()
            await self._wakeup.wait()
        # The write that was in flight may have failed and queued itself again: older.
        self._pending.pop(key, None)
        self._in_flight.add(key)
        try:
            return await self._patch(key, status, resource_version)
        finally:
            self._in_flight.discard(key)
            self._wakeup.set()

    async def _patch(
        self, key: ObjectKey, status: dict[str, Any], resource_version: str | None = None
    ) -> dict[str, Any]:
        plural, namespace, name = key
        body: dict[str, Any] = {"status": status}
        if resource_version is not None:
            body["metadata"] = {"resourceVersion": resource_version}
        try:
            if namespace:
                stored = await self._custom.patch_namespaced_custom_object_status(
                    GROUP, VERSION, namespace, plural, name, body, **MERGE_PATCH
                )
            else:
                stored = await self._custom.patch_cluster_custom_object_status(
                    GROUP, VERSION, plural, name, body, **MERGE_PATCH
                )
        except ApiException as raw:
            metrics.STATUS_WRITE_ERRORS.labels(plural).inc()
            raise translate(raw) from None
        self.writes += 1
        metrics.STATUS_WRITES.labels(plural).inc()
        result: dict[str, Any] = stored
        return result

    async def start(self) -> None:
        self._tasks = [
            supervise(f"status-writer-{i}", self._drain) for i in range(self._concurrency)
        ]

    async def stop(self, timeout: float = 5.0) -> None:
        try:
            await asyncio.wait_for(self.wait_idle(), timeout)
        except TimeoutError:
            log.warning("%d status writes not done at shutdown", len(self._pending))
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []

    async def wait_idle(self) -> None:
        await self._idle.wait()

    def _next(self) -> tuple[ObjectKey, dict[str, Any]] | None:
        # Never two writes of one object at once: they could land out of order.
        for key in self._pending:
            if key not in self._in_flight:
                return key, self._pending.pop(key)
        return None

    async def _drain(self) -> None:
        while True:
            item = self._next()
            if item is None:
                if not self._pending and not self._in_flight:
                    self._idle.set()
                self._wakeup.clear()
                await self._wakeup.wait()
                continue
            key, status = item
            self._in_flight.add(key)
            try:
                await self._write(key, status)
            finally:
                self._in_flight.discard(key)
                self._wakeup.set()

    async def _write(self, key: ObjectKey, status: dict[str, Any]) -> None:
        plural, namespace, name = key
        try:
            await self._patch(key, status)
        except NotFound:
            return  # deleted meanwhile: nothing to report on
        except Conflict as error:
            # Our patches carry no resourceVersion: a 409 means the server ran out of its own
            # retries on a contended object. A quiet requeue, never a dropped write: the
            # caller counts this status as stored and writes again only when something changes.
            self.failures += 1
            log.info(
                "status of %s %s/%s met a conflict, will retry: %s", plural, namespace, name, error
            )
            if key not in self._pending:
                self._pending[key] = status
            await asyncio.sleep(CONFLICT_RETRY_SECONDS)
        except (Unavailable, OSError, TimeoutError) as error:
            # The server is away or not ready yet (a restarted kube-apiserver answers 503 for
            # custom resources at first): dropping the write would leave the status stale
            # until the next change or heartbeat, a minute away.
            self.failures += 1
            if not isinstance(error, KubeError):
                metrics.STATUS_WRITE_ERRORS.labels(plural).inc()  # _patch counted the others
            log.warning(
                "status of %s %s/%s not written, will retry: %s", plural, namespace, name, error
            )
            if key not in self._pending:
                self._pending[key] = status
            await asyncio.sleep(1.0)
        except KubeError as error:
            self.failures += 1
            log.error("status of %s %s/%s not written: %s", plural, namespace, name, error)
