"""One fresh LIST of a kind's metadata: which objects exist now, and at which revision.

Metadata only (``PartialObjectMetadataList``): names, uids and versions are all a comparison
with the caches needs (core/relist.py), at a fraction of the bytes of whole objects. Paged,
so that one LIST of a large fleet never holds the API server's memory in one answer; every
page is served at the first page's revision, so the pages make one consistent picture.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from kubernetes_asyncio import client

from orchestration_engine.core.relist import version_number
from orchestration_engine.kube.raw_request import REQUEST_TIMEOUT_SECONDS, collection

METADATA_LIST = "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1"
PAGE_SIZE = 500

ObjectKey = tuple[str, str]  # namespace, name


async def list_uids(
    api: client.ApiClient, api_version: str, plural: str, namespaces: Iterable[str]
) -> tuple[dict[ObjectKey, str], int]:
    """Every object's uid by (namespace, name), and the oldest revision of the listings (a
    LIST per namespace, or one cluster-wide for no namespaces). ``ApiException`` if any
    LIST failed: a partial picture would show objects gone that are not."""
    uids: dict[ObjectKey, str] = {}
    version: int | None = None
    for scope in list(namespaces) or [""]:
        token: str | None = None
        while True:
            query = [("limit", str(PAGE_SIZE))] + ([("continue", token)] if token else [])
            page: Any = await api.call_api(
                collection(api_version, plural, scope),
                "GET",
                query_params=query,
                header_params={"Accept": f"{METADATA_LIST},application/json"},
                response_types_map={200: "object"},
                auth_settings=["BearerToken"],
                _return_http_data_only=True,
                _request_timeout=REQUEST_TIMEOUT_SECONDS,
            )
            meta = page.get("metadata") or {}
            if token is None:
                listed_at = version_number(meta.get("resourceVersion"))
                version = listed_at if version is None else min(version, listed_at)
            for item in page.get("items") or []:
                item_meta = item.get("metadata") or {}
                key = (str(item_meta.get("namespace", "")), str(item_meta.get("name", "")))
                uids[key] = str(item_meta.get("uid", ""))
            token = meta.get("continue")
            if not token:
                break
    return uids, version or 0
