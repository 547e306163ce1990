"""Follow a collection through the API server: list it, then watch from the list's
resourceVersion, listing again only when the watch has fallen too far behind (410 Gone).

The command line's `watch` and `wait` build on this rather than polling: one request per
change instead of one per object per interval, and a change shows as soon as it is stored.
Objects come back as the API server's plain JSON dicts (camelCase), whatever the kind.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import aiohttp
from kubernetes_asyncio import client
from kubernetes_asyncio.client.exceptions import ApiException
from kubernetes_asyncio.watch import Watch

from orchestration_engine.api.common import GROUP, VERSION
from orchestration_engine.kube.errors import KubeError

# The server ends each watch after this long; it is then resumed from where it was. A client
# timeout a little later catches a connection that died silently.
WATCH_SECONDS = 60
LIST_TIMEOUT_SECONDS = 15.0
RETRY_SECONDS = (1.0, 2.0, 5.0, 10.0)


class ChangeType(StrEnum):
    RESET = "RESET"  # ``items`` is the whole collection, replacing what was known
    ADDED = "ADDED"
    MODIFIED = "MODIFIED"
    DELETED = "DELETED"
    ERROR = "ERROR"  # the API server could not be read; following goes on after a pause


@dataclass(frozen=True, slots=True)
class Change:
    type: ChangeType
    items: tuple[dict[str, Any], ...] = ()
    error: str | None = None


ListCall = Callable[..., Any]


@dataclass(frozen=True)
class Source:
    """A collection to follow: the client's list call for it and that call's arguments."""

    call: ListCall
    args: tuple[Any, ...]
    kwargs: dict[str, Any] = field(default_factory=dict)


def custom_objects(
    api: client.ApiClient, plural: str, namespace: str | None, *, field_selector: str = ""
) -> Source:
    """Our objects of ``plural`` in ``namespace`` (None: cluster-wide)."""
    custom = client.CustomObjectsApi(api)
    kwargs = {"field_selector": field_selector} if field_selector else {}
    if namespace:
        return Source(
            custom.list_namespaced_custom_object, (GROUP, VERSION, namespace, plural), kwargs
        )
    return Source(custom.list_cluster_custom_object, (GROUP, VERSION, plural), kwargs)


def events(api: client.ApiClient, namespace: str | None, *, field_selector: str) -> Source:
    """The Events in ``namespace`` (None: in all namespaces)."""
    core = client.CoreV1Api(api)
    kwargs = {"field_selector": field_selector}
    if namespace:
        return Source(core.list_namespaced_event, (namespace,), kwargs)
    return Source(core.list_event_for_all_namespaces, (), kwargs)


def describe(error: BaseException) -> str:
    """One line on why a request failed: the server's own message when it sent one."""
    if isinstance(error, ApiException | KubeError):
        with contextlib.suppress(ValueError, TypeError):
            body = json.loads(error.body or "")
            if isinstance(body, dict) and body.get("message"):
                return f"{error.status} {body['message']}"
        # Status 0: no answer at all (kube.errors.TransportError), its reason says why.
        return f"{error.status or ''} {error.reason}".strip()
    text = str(error) or type(error).__name__
    return text.splitlines()[0][:300]


async def list_items(
    api: client.ApiClient, source: Source
) -> tuple[list[dict[str, Any]], str | None]:
    """The collection's items as plain dicts, and the resourceVersion to watch from."""
    listing = await source.call(
        *source.args, _request_timeout=LIST_TIMEOUT_SECONDS, **source.kwargs
    )
    if not isinstance(listing, dict):  # a typed model (core kinds): back to the wire's JSON
        listing = api.sanitize_for_serialization(listing)
    items = [dict(item) for item in listing.get("items") or []]
    return items, (listing.get("metadata") or {}).get("resourceVersion")


async def follow(api: client.ApiClient, source: Source) -> AsyncIterator[Change]:
    """RESET with the whole collection, then one change per event, for as long as the caller
    iterates. Failures are reported as ERROR changes and retried with a growing pause."""
    version: str | None = None
    failures = 0
    while True:
        try:
            if version is None:
                items, version = await list_items(api, source)
                yield Change(ChangeType.RESET, tuple(items))
            watch = Watch()
            try:
                stream = watch.stream(
                    source.call,
                    *source.args,
                    resource_version=version,
                    timeout_seconds=WATCH_SECONDS,
                    allow_watch_bookmarks=True,
                    _request_timeout=WATCH_SECONDS + 15,
                    **source.kwargs,
                )
                async for event in stream:
                    raw = event["raw_object"]
                    version = (raw.get("metadata") or {}).get("resourceVersion") or version
                    if event["type"] in (ChangeType.ADDED, ChangeType.MODIFIED, ChangeType.DELETED):
                        yield Change(ChangeType(event["type"]), (raw,))
            finally:
                await watch.close()
            failures = 0
        except ApiException as error:
            if error.status == 410:  # our resourceVersion is too old to watch from: list again
                version = None
                continue
            yield Change(ChangeType.ERROR, error=describe(error))
            failures += 1
        except (aiohttp.ClientError, OSError, TimeoutError) as error:
            yield Change(ChangeType.ERROR, error=describe(error))
            failures += 1
        if failures:
            await asyncio.sleep(RETRY_SECONDS[min(failures, len(RETRY_SECONDS)) - 1])
