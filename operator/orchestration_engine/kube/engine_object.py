"""The singleton OrchestrationEngine ``default``: read, created, its spec and status patched.

The operator creates it at start-up with every default, the CLI's ``halt`` and the legacy
API write its spec, the watch canary its heartbeat in status; all through here.
"""

from __future__ import annotations

from typing import Any

from kubernetes_asyncio import client

from orchestration_engine.api.common import API_VERSION
from orchestration_engine.api.engine import KIND, PLURAL, SINGLETON_NAME
from orchestration_engine.kube.objects import CustomObjects


class EngineObject:
    """Typed errors (kube/errors.py) from every method, as CustomObjects raises them."""

    def __init__(self, api: client.ApiClient) -> None:
        self._objects = CustomObjects(api)

    async def get(self) -> dict[str, Any] | None:
        return await self._objects.get(PLURAL, "", SINGLETON_NAME)

    async def create(self, spec: dict[str, Any]) -> bool:
        """Create it with ``spec``; False if it exists already (left as it is)."""
        body = {
            "apiVersion": API_VERSION,
            "kind": KIND,
            "metadata": {"name": SINGLETON_NAME},
            "spec": spec,
        }
        return await self._objects.create(PLURAL, "", body)

    async def patch_spec(self, spec: dict[str, Any]) -> None:
        await self._objects.patch_spec(PLURAL, "", SINGLETON_NAME, spec)

    async def set_spec(self, spec: dict[str, Any]) -> None:
        """``spec``'s fields on the engine: merged into the one there is (a None removes its
        field), or the engine created with the fields that are not None. Read first, so a user
        allowed to patch the engine but not to create it can still set it."""
        if await self.get() is None:
            await self.create({k: v for k, v in spec.items() if v is not None})
        else:
            await self.patch_spec(spec)

    async def patch_status(self, status: dict[str, Any]) -> None:
        await self._objects.patch_status(PLURAL, "", SINGLETON_NAME, status)
