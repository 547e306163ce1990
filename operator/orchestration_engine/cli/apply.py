"""``apply -f FILE [--wait]``: create or update every object in a YAML file by server-side
apply (field manager ``orchestration-engine-cli``), as ``kubectl apply --server-side`` would,
so submitting a workflow and following it to its outcome takes one command.

Workflows are checked offline first, as ``plan`` does, so a cycle or a misspelt step is named
before anything reaches the cluster; every other kind is left to the API server's own checks.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
from rich.console import Console
from rich.markup import escape

from orchestration_engine.api.workflow import KIND as WORKFLOW_KIND
from orchestration_engine.cli.manifests import ManifestError, load_documents, parse_workflow
from orchestration_engine.cli.workflow_wait import (
    EXIT_ERROR,
    Key,
    WaitFailed,
    run_guarded,
    wait_for,
)
from orchestration_engine.core import dag
from orchestration_engine.core.plan import plan_workflow
from orchestration_engine.kube import raw_request
from orchestration_engine.kube.client import ApiClient, make_api_client
from orchestration_engine.kube.errors import KubeError, NotFound
from orchestration_engine.kube.follow import describe
from orchestration_engine.kube.namespace import default_namespace

FIELD_MANAGER = "orchestration-engine-cli"


@dataclass(frozen=True)
class Applied:
    kind: str
    namespace: str | None
    name: str
    result: str  # created | configured | unchanged

    def __str__(self) -> str:
        where = f"{self.namespace}/{self.name}" if self.namespace else self.name
        return f"{self.kind} {where} {self.result}"


def check_documents(documents: list[dict[str, Any]], source: str) -> None:
    """Every document names its kind and itself; every workflow would run (as in ``plan``)."""
    for index, document in enumerate(documents, start=1):
        where = f"{source} (document {index})"
        metadata = document.get("metadata")
        problems = [
            f"{key} is missing"
            for key, value in (
                ("apiVersion", document.get("apiVersion")),
                ("kind", document.get("kind")),
                ("metadata.name", metadata.get("name") if isinstance(metadata, dict) else None),
            )
            if not value
        ]
        if problems:
            raise ManifestError(where, problems)
        if document["kind"] == WORKFLOW_KIND:
            manifest = parse_workflow(document, source)
            try:
                plan_workflow(manifest.spec)
            except dag.GraphError as error:
                raise ManifestError(
                    f"{source} ({WORKFLOW_KIND} {manifest.name})",
                    [str(p.message) for p in error.problems],
                ) from None


async def _find(kinds: raw_request.Kinds, api_version: str, kind: str) -> tuple[str, bool]:
    try:
        resource = await kinds.find(api_version, kind)
    except KubeError as error:
        raise WaitFailed(f"unknown apiVersion {api_version}: {describe(error)}") from None
    if resource is None:
        raise WaitFailed(f"the server has no kind {kind} in {api_version}")
    return resource


async def apply_documents(
    api: ApiClient, documents: list[dict[str, Any]], namespace: str | None
) -> list[Applied]:
    """Server-side apply each document in order; the namespace fills in where none is set."""
    kinds = raw_request.Kinds(api)
    fallback = namespace or default_namespace()
    applied = []
    for document in documents:
        api_version, kind = str(document["apiVersion"]), str(document["kind"])
        metadata = dict(document.get("metadata") or {})
        name = str(metadata["name"])
        plural, namespaced = await _find(kinds, api_version, kind)
        target: str | None = None
        if namespaced:
            own = metadata.get("namespace")
            if namespace and own and own != namespace:
                raise WaitFailed(
                    f"{kind} {name} is in namespace {own}, which does not match --namespace "
                    f"{namespace}"
                )
            target = str(own or fallback)
            metadata["namespace"] = target
        else:
            metadata.pop("namespace", None)
        path = f"{raw_request.collection(api_version, plural, target or '')}/{name}"
        try:
            before = await raw_request.call(api, "GET", path)
        except NotFound:
            before = None
        except KubeError as error:
            raise WaitFailed(f"{kind} {name}: {describe(error)}") from None
        try:
            after = await raw_request.call(
                api,
                "PATCH",
                path,
                body={**document, "metadata": metadata},
                query=[("fieldManager", FIELD_MANAGER), ("force", "true")],
                content_type=raw_request.APPLY_PATCH,
            )
        except KubeError as error:
            raise WaitFailed(f"{kind} {name} was rejected: {describe(error)}") from None
        if before is None:
            result = "created"
        elif (before.get("metadata") or {}).get("resourceVersion") == (
            after.get("metadata") or {}
        ).get("resourceVersion"):
            result = "unchanged"
        else:
            result = "configured"
        applied.append(Applied(kind, target, name, result))
    return applied


async def apply_and_wait(
    documents: list[dict[str, Any]],
    source: str,
    namespace: str | None,
    wait: bool,
    timeout: float | None,
    out: Console,
) -> int:
    try:
        api = await make_api_client()
    except Exception as error:
        raise WaitFailed(f"could not reach the cluster: {describe(error)}") from None
    try:
        try:
            applied = await apply_documents(api, documents, namespace)
        except (aiohttp.ClientError, OSError, TimeoutError) as error:
            raise WaitFailed(f"could not reach the cluster: {describe(error)}") from None
        for item in applied:
            out.print(str(item), markup=False, highlight=False, soft_wrap=True)
        keys: list[Key] = [(str(a.namespace), a.name) for a in applied if a.kind == WORKFLOW_KIND]
        if not wait:
            return 0
        if not keys:
            out.print(
                f"no {WORKFLOW_KIND} in {source}: nothing to wait for",
                markup=False,
                highlight=False,
                soft_wrap=True,
            )
            return 0
        return await wait_for(keys, timeout, out, api)
    finally:
        await api.close()


def run_apply(
    file: Path,
    namespace: str | None,
    wait: bool,
    timeout: float | None,
    out: Console,
    err: Console,
) -> int:
    """The ``apply`` command: its exit code."""
    try:
        documents = load_documents(file)
        check_documents(documents, str(file))
    except ManifestError as error:
        err.print(f"[red]invalid:[/red] {escape(error.source)}", soft_wrap=True)
        for problem in error.problems:
            err.print(f"  - {problem}", markup=False, highlight=False, soft_wrap=True)
        return EXIT_ERROR
    return run_guarded(
        lambda: apply_and_wait(documents, str(file), namespace, wait, timeout, out), err
    )
