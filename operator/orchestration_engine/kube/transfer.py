"""Every object of a kind read out of the cluster, and objects applied back — for backup and
restore.

Restoring is server-side apply with a field manager of its own and ``force``: applying the
same document twice changes nothing (idempotent), and a field another manager owns is taken
over rather than failing the restore halfway. Status goes through the status subresource, the
only place the API server accepts it.
"""

from __future__ import annotations

from typing import Any

from kubernetes_asyncio import client

from orchestration_engine.api.common import GROUP, VERSION
from orchestration_engine.kube import raw_request
from orchestration_engine.kube.errors import NotFound
from orchestration_engine.kube.listing import every_page


async def list_objects(
    api: client.ApiClient, plural: str, namespace: str = ""
) -> list[dict[str, Any]]:
    """Every object of one of our kinds: in ``namespace``, or in all namespaces ("")."""
    items: list[dict[str, Any]] = []
    path = raw_request.collection(f"{GROUP}/{VERSION}", plural, namespace)
    async for listing in every_page(api, path):
        kind = str(listing.get("kind", "")).removesuffix("List")
        for item in listing.get("items") or []:
            # List items carry no apiVersion and kind of their own.
            items.append({"apiVersion": f"{GROUP}/{VERSION}", "kind": kind, **item})
    return items


async def apply(
    api: client.ApiClient,
    plural: str,
    body: dict[str, Any],
    *,
    manager: str,
    subresource: str = "",
) -> dict[str, Any]:
    """Server-side apply ``body`` (one of our kinds), forcing conflicts; the object after it."""
    meta = body["metadata"]
    path = raw_request.collection(body["apiVersion"], plural, meta.get("namespace", ""))
    path = f"{path}/{meta['name']}"
    applied: dict[str, Any] = await raw_request.call(
        api,
        "PATCH",
        f"{path}/{subresource}" if subresource else path,
        body=body,  # sent as JSON, which is YAML: the apply content type takes it as it is
        query=[("fieldManager", manager), ("force", "true")],
        content_type=raw_request.APPLY_PATCH,
    )
    return applied


class Owners:
    """Finds the uid of an owner named in an owner reference, for any kind the server serves."""

    def __init__(self, api: client.ApiClient) -> None:
        self._api = api
        self._kinds = raw_request.Kinds(api)

    async def uid(self, api_version: str, kind: str, namespace: str, name: str) -> str | None:
        """The uid of that object now, or None if there is no such object (or kind)."""
        resource = await self._kinds.find(api_version, kind)
        if resource is None:
            return None
        plural, namespaced = resource
        path = raw_request.collection(api_version, plural, namespace if namespaced else "")
        try:
            found = await raw_request.call(self._api, "GET", f"{path}/{name}")
        except NotFound:
            return None
        uid = (found.get("metadata") or {}).get("uid")
        return str(uid) if uid else None
