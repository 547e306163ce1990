"""One request to the API server for any kind, JSON in and JSON out, and the paths it takes.

The typed client needs a method per kind and returns generated models; backup, restore,
``apply`` and the workflow actions handle kinds by name (a document's ``apiVersion`` and
``kind``) and want the wire's dicts. They share this one request path: the headers, the
authentication and the timeout are said once. Errors are the typed errors of
``kube.errors``, which keep the server's own message (``kube.follow.describe``).
"""

from __future__ import annotations

from typing import Any

from kubernetes_asyncio import client
from kubernetes_asyncio.client.exceptions import ApiException

from orchestration_engine.kube.errors import NotFound, translate

JSON = "application/json"
APPLY_PATCH = "application/apply-patch+yaml"
REQUEST_TIMEOUT_SECONDS = 30


async def call(
    api: client.ApiClient,
    method: str,
    path: str,
    *,
    path_params: dict[str, str] | None = None,
    query: list[tuple[str, str]] | None = None,
    body: Any = None,
    content_type: str = JSON,
    accept: str = JSON,
    timeout: float | None = REQUEST_TIMEOUT_SECONDS,
) -> Any:
    """The decoded answer; the typed errors of ``kube.errors`` when the server refused or
    failed. ``timeout``: the whole request's; None leaves the transport's own (its total, and a
    connection silent for 10 s fails: kube/transport.py)."""
    # The client replaces the transport's timeouts with whatever _request_timeout says.
    limit: dict[str, Any] = {} if timeout is None else {"_request_timeout": timeout}
    try:
        return await api.call_api(
            path,
            method,
            path_params=path_params or {},  # quoted by the client
            query_params=query or [],
            header_params={"Accept": accept, "Content-Type": content_type},
            body=body,
            response_types_map={200: "object", 201: "object", 202: "object"},
            auth_settings=["BearerToken"],
            _return_http_data_only=True,
            **limit,
        )
    except ApiException as raw:
        raise translate(raw) from None


def group_root(api_version: str) -> str:
    # The core group lives under /api, every other group under /apis.
    return "/api/v1" if api_version == "v1" else f"/apis/{api_version}"


def collection(api_version: str, plural: str, namespace: str = "") -> str:
    """The path of a kind's collection: in ``namespace``, or cluster-wide ("")."""
    root = group_root(api_version)
    return f"{root}/namespaces/{namespace}/{plural}" if namespace else f"{root}/{plural}"


class Kinds:
    """Where each kind lives on this server (its plural and whether it is namespaced), found
    by discovery once per group version."""

    def __init__(self, api: client.ApiClient) -> None:
        self._api = api
        self._known: dict[str, dict[str, tuple[str, bool]]] = {}

    async def find(self, api_version: str, kind: str) -> tuple[str, bool] | None:
        """(plural, namespaced), or None when the server does not serve that kind. A typed
        error (kube/errors.py) when discovery itself failed."""
        if api_version not in self._known:
            try:
                listing = await call(self._api, "GET", group_root(api_version))
            except NotFound:
                listing = {}  # a group version the server does not serve
            self._known[api_version] = {
                resource["kind"]: (str(resource["name"]), bool(resource.get("namespaced")))
                for resource in listing.get("resources") or []
                if "/" not in resource["name"]  # not a subresource
            }
        return self._known[api_version].get(kind)
