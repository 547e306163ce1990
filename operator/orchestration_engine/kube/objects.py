"""Create, read, patch and delete our custom objects (not their status: see status.py).

One set of methods for both scopes: an empty namespace means a cluster-scoped object.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any, TypeVar

from kubernetes_asyncio import client
from kubernetes_asyncio.client.exceptions import ApiException

from orchestration_engine.api.common import GROUP, VERSION
from orchestration_engine.kube.errors import Conflict, NotFound, translate
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
        self._custom = client.CustomObjectsApi(api)

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
        body = {"spec": spec}
        await _call(
            self._custom.patch_namespaced_custom_object(
                GROUP, VERSION, namespace, plural, name, body, **MERGE_PATCH
            )
            if namespace
            else self._custom.patch_cluster_custom_object(
                GROUP, VERSION, plural, name, body, **MERGE_PATCH
            )
        )

    async def delete(self, plural: str, namespace: str, name: str) -> bool:
        """False if it was already gone."""
        request = (
            self._custom.delete_namespaced_custom_object(GROUP, VERSION, namespace, plural, name)
            if namespace
            else self._custom.delete_cluster_custom_object(GROUP, VERSION, plural, name)
        )
        return await _call(request, tolerate=NotFound) is not None
