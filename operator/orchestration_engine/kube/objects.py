"""Create, read, patch and delete our custom objects (not their status: see status.py).

One set of methods for both scopes: an empty namespace means a cluster-scoped object.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any, TypeVar

from kubernetes_asyncio import client
from kubernetes_asyncio.client.exceptions import ApiException

from orchestration_engine.api.common import GROUP, VERSION
from orchestration_engine.kube import raw_request
from orchestration_engine.kube.errors import Conflict, NotFound, translate
from orchestration_engine.kube.listing import list_all
from orchestration_engine.kube.status import MERGE_PATCH

T = TypeVar("T")


async def _call(request: Awaitable[T], *, tolerate: type[Exception] | None = None) -> T | None:
    """Await an API call, raising typed errors; ``tolerate`` turns one of them into None."""
    try:
        return await request
    except ApiException as raw:
        error = translate(raw)
        if tolerate is not None and isinstance(error, tolerate):
            return None
        raise error from None


class CustomObjects:
    def __init__(self, api: client.ApiClient) -> None:
        self._api = api
        self._custom = client.CustomObjectsApi(api)

    async def list(
        self,
        plural: str,
        namespace: str = "",
        *,
        label_selector: str | None = None,
        timeout: float | None = raw_request.REQUEST_TIMEOUT_SECONDS,
    ) -> list[dict[str, Any]]:
        """Every object of ``plural`` in ``namespace`` ("": all namespaces, or cluster-scoped
        ones), every page of them; ``timeout`` for each page."""
        query = [("labelSelector", label_selector)] if label_selector else []
        path = raw_request.collection(f"{GROUP}/{VERSION}", plural, namespace)
        return await list_all(self._api, path, query, timeout=timeout)

    async def create(self, plural: str, namespace: str, body: dict[str, Any]) -> bool:
        """False if it already exists (creation is idempotent)."""
        request = (
            self._custom.create_namespaced_custom_object(GROUP, VERSION, namespace, plural, body)
            if namespace
            else self._custom.create_cluster_custom_object(GROUP, VERSION, plural, body)
        )
        return await _call(request, tolerate=Conflict) is not None

    async def get(self, plural: str, namespace: str, name: str) -> dict[str, Any] | None:
        request = (
            self._custom.get_namespaced_custom_object(GROUP, VERSION, namespace, plural, name)
            if namespace
            else self._custom.get_cluster_custom_object(GROUP, VERSION, plural, name)
        )
        found: dict[str, Any] | None = await _call(request, tolerate=NotFound)
        return found

    async def patch_spec(
        self, plural: str, namespace: str, name: str, spec: dict[str, Any]
    ) -> None:
        await self._merge_patch(plural, namespace, name, {"spec": spec})

    async def patch_status(
        self, plural: str, namespace: str, name: str, status: dict[str, Any]
    ) -> None:
        """A merge patch of ``status``, at once (StatusWriter in status.py coalesces them)."""
        await self._merge_patch(plural, namespace, name, {"status": status}, "_status")

    async def _merge_patch(
        self, plural: str, namespace: str, name: str, body: dict[str, Any], subresource: str = ""
    ) -> None:
        """``subresource``: "" for the object, "_status" for its status."""
        if namespace:
            patch = getattr(self._custom, f"patch_namespaced_custom_object{subresource}")
            request = patch(GROUP, VERSION, namespace, plural, name, body, **MERGE_PATCH)
        else:
            patch = getattr(self._custom, f"patch_cluster_custom_object{subresource}")
            request = patch(GROUP, VERSION, plural, name, body, **MERGE_PATCH)
        await _call(request)

    async def delete(self, plural: str, namespace: str, name: str) -> bool:
        """False if it was already gone."""
        request = (
            self._custom.delete_namespaced_custom_object(GROUP, VERSION, namespace, plural, name)
            if namespace
            else self._custom.delete_cluster_custom_object(GROUP, VERSION, plural, name)
        )
        return await _call(request, tolerate=NotFound) is not None
