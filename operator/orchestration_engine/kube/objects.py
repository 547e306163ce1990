"""Create, patch and delete our custom objects (not their status: see status.py)."""

from __future__ import annotations

from typing import Any

from kubernetes_asyncio import client
from kubernetes_asyncio.client.exceptions import ApiException

from orchestration_engine.api.common import GROUP, VERSION
from orchestration_engine.kube.errors import Conflict, NotFound, translate
from orchestration_engine.kube.status import MERGE_PATCH


class CustomObjects:
    def __init__(self, api: client.ApiClient) -> None:
        self._custom = client.CustomObjectsApi(api)

    async def create(self, plural: str, namespace: str, body: dict[str, Any]) -> bool:
        """False if it already exists (creation is idempotent)."""
        try:
            await self._custom.create_namespaced_custom_object(
                GROUP, VERSION, namespace, plural, body
            )
        except ApiException as raw:
            if isinstance(translate(raw), Conflict):
                return False
            raise translate(raw) from None
        return True

    async def patch_spec(
        self, plural: str, namespace: str, name: str, spec: dict[str, Any]
    ) -> None:
        try:
            await self._custom.patch_namespaced_custom_object(
                GROUP, VERSION, namespace, plural, name, {"spec": spec}, **MERGE_PATCH
            )
        except ApiException as raw:
            raise translate(raw) from None

    async def delete(self, plural: str, namespace: str, name: str) -> bool:
        """False if it was already gone."""
        try:
            await self._custom.delete_namespaced_custom_object(
                GROUP, VERSION, namespace, plural, name
            )
        except ApiException as raw:
            if isinstance(translate(raw), NotFound):
                return False
            raise translate(raw) from None
        return True

    async def get(self, plural: str, namespace: str, name: str) -> dict[str, Any] | None:
        try:
            found: dict[str, Any] = await self._custom.get_namespaced_custom_object(
                GROUP, VERSION, namespace, plural, name
            )
        except ApiException as raw:
            if isinstance(translate(raw), NotFound):
                return None
            raise translate(raw) from None
        return found
