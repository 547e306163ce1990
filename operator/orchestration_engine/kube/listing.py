"""Every page of a LIST, and one fresh LIST of a kind's metadata.

``every_page`` is the one loop over ``continue`` tokens: every LIST of the package goes
through it (but follow.py's, whose one answer gives its watch the revision to start from),
so that no LIST of a large fleet holds the API server's memory in one answer.
Every page is served at the first page's revision, so the pages make one consistent picture.

``list_uids``: which objects exist now, and at which revision. Metadata only
(``PartialObjectMetadataList``): names, uids and versions are all a comparison with the
caches needs (core/relist.py), at a fraction of the bytes of whole objects.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from typing import Any

from kubernetes_asyncio import client

from orchestration_engine.core.relist import version_number
from orchestration_engine.kube import raw_request

METADATA_LIST = "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1"
PAGE_SIZE = 500

ObjectKey = tuple[str, str]  # namespace, name


async def every_page(
    api: client.ApiClient,
    path: str,
    query: list[tuple[str, str]] | None = None,
    *,
    accept: str = raw_request.JSON,
    timeout: float | None = raw_request.REQUEST_TIMEOUT_SECONDS,
) -> AsyncIterator[dict[str, Any]]:
    """Each page of the LIST of ``path`` (a collection), up to the last; the typed errors of
    kube/errors.py when a page cannot be read (``timeout``: each page's)."""
    token = ""
    while True:
        page: dict[str, Any] = await raw_request.call(
            api,
            "GET",
            path,
            query=[*(query or []), ("limit", str(PAGE_SIZE))]
            + ([("continue", token)] if token else []),
            accept=accept,
            timeout=timeout,
        )
        yield page
        token = (page.get("metadata") or {}).get("continue") or ""
        if not token:
            return


async def list_all(
    api: client.ApiClient, path: str, *args: Any, **options: Any
) -> list[dict[str, Any]]:
    """The items of every page of the LIST of ``path`` (the arguments of ``every_page``)."""
    items: list[dict[str, Any]] = []
    async for page in every_page(api, path, *args, **options):
        items.extend(page.get("items") or [])
    return items


async def list_uids(
    api: client.ApiClient, api_version: str, plural: str, namespaces: Iterable[str]
) -> tuple[dict[ObjectKey, str], int]:
    """Every object's uid by (namespace, name), and the oldest revision of the listings (a
    LIST per namespace, or one cluster-wide for no namespaces). A typed error if any LIST
    failed: a partial picture would show objects gone that are not."""
    uids: dict[ObjectKey, str] = {}
    version: int | None = None
    for scope in list(namespaces) or [""]:
        first = True
        async for page in every_page(
            api,
            raw_request.collection(api_version, plural, scope),
            accept=f"{METADATA_LIST},application/json",
        ):
            meta = page.get("metadata") or {}
            if first:
                listed_at = version_number(meta.get("resourceVersion"))
                version = listed_at if version is None else min(version, listed_at)
                first = False
            for item in page.get("items") or []:
                item_meta = item.get("metadata") or {}
                key = (str(item_meta.get("namespace", "")), str(item_meta.get("name", "")))
                uids[key] = str(item_meta.get("uid", ""))
    return uids, version or 0
