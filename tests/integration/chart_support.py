"""Helpers for the Helm chart's tests: finding helm, rendering the chart, applying manifests
server-side, and reading RBAC rules as (apiGroup, resource, verb) triples."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import yaml
from integration_support import wait_for

from envtest.controlplane import cache_root

ROOT = Path(__file__).resolve().parents[2]
CHART_DIR = ROOT / "charts" / "orchestration-engine"
ALL_OPTIONS_VALUES = Path(__file__).resolve().with_name("chart-values-all.yaml")
RELEASE = "eoe"
FIELD_MANAGER = "chart-test"

Triple = tuple[str, str, str]  # apiGroup ("" for core), resource[/subresource], verb


def helm_binary() -> Path:
    """helm from $HELM, else where `make helm` puts it."""
    configured = os.environ.get("HELM")
    path = Path(configured) if configured else cache_root() / "bin" / "helm"
    if not (path.is_file() and os.access(path, os.X_OK)):
        raise RuntimeError(f"helm not found at {path}: run `make helm` (or set HELM)")
    return path


def helm(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    # A home of its own: helm must not read or write the user's repositories and plugins.
    home = Path(os.environ.get("TMPDIR", "/tmp")) / "eoe-chart-test-helm-home"
    env = {
        **os.environ,
        "HELM_CONFIG_HOME": str(home / "config"),
        "HELM_CACHE_HOME": str(home / "cache"),
        "HELM_DATA_HOME": str(home / "data"),
    }
    result = subprocess.run(
        [str(helm_binary()), *args], capture_output=True, text=True, env=env, timeout=120
    )
    if check and result.returncode != 0:
        raise AssertionError(
            f"helm {' '.join(args)} exited {result.returncode}:\n{result.stdout}\n{result.stderr}"
        )
    return result


def render(
    *values_files: Path,
    namespace: str = "eoe-system",
    release: str = RELEASE,
    set_values: Iterable[str] = (),
    include_crds: bool = False,
) -> list[dict[str, Any]]:
    """`helm template` of the chart: its manifests, without empty documents."""
    args = ["template", release, str(CHART_DIR), "--namespace", namespace]
    for path in values_files:
        args += ["--values", str(path)]
    for assignment in set_values:
        args += ["--set", assignment]
    if include_crds:
        args.append("--include-crds")
    output = helm(*args).stdout
    return [doc for doc in yaml.safe_load_all(output) if doc]


def of_kind(docs: Iterable[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [doc for doc in docs if doc.get("kind") == kind]


def one(docs: Iterable[dict[str, Any]], kind: str) -> dict[str, Any]:
    found = of_kind(docs, kind)
    assert len(found) == 1, f"expected one {kind}, rendered {len(found)}"
    return found[0]


def rule_triples(rules: Iterable[dict[str, Any]]) -> set[Triple]:
    return {
        (group, resource, verb)
        for rule in rules
        for group in rule.get("apiGroups") or []
        for resource in rule.get("resources") or []
        for verb in rule.get("verbs") or []
    }


def granted(docs: Iterable[dict[str, Any]]) -> set[Triple]:
    """Every (apiGroup, resource, verb) the chart's ClusterRoles and Roles grant."""
    rules: list[dict[str, Any]] = []
    for doc in docs:
        if doc.get("kind") in {"ClusterRole", "Role"}:
            rules.extend(doc.get("rules") or [])
    return rule_triples(rules)


def rbac_documents(docs: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    kinds = {"ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding"}
    return [doc for doc in docs if doc.get("kind") in kinds]


class Applier:
    """Server-side apply of arbitrary manifests, with strict field validation: a field the
    API server does not know is an error, not a silently dropped setting."""

    def __init__(self, kube_api: Any, cache_file: Path) -> None:
        from kubernetes.dynamic import DynamicClient

        self.api = kube_api
        self.dynamic = DynamicClient(  # type: ignore[no-untyped-call]
            kube_api, cache_file=str(cache_file)
        )

    def _resource(self, doc: dict[str, Any]) -> Any:
        from kubernetes.dynamic.exceptions import ResourceNotFoundError

        try:
            return self.dynamic.resources.get(api_version=doc["apiVersion"], kind=doc["kind"])
        except ResourceNotFoundError:
            # A CRD installed after the discovery cache was filled.
            self.dynamic.resources.invalidate_cache()
            return self.dynamic.resources.get(api_version=doc["apiVersion"], kind=doc["kind"])

    def apply(
        self, doc: dict[str, Any], *, namespace: str | None = None, dry_run: bool = False
    ) -> dict[str, Any]:
        from kubernetes.client import ApiException

        resource = self._resource(doc)
        meta = doc["metadata"]
        ns = (meta.get("namespace") or namespace) if resource.namespaced else None
        path = resource.path(name=meta["name"], namespace=ns)
        query: list[tuple[str, Any]] = [
            ("fieldManager", FIELD_MANAGER),
            ("force", True),
            ("fieldValidation", "Strict"),
        ]
        if dry_run:
            query.append(("dryRun", "All"))
        request = self.api.param_serialize(
            method="PATCH",
            resource_path=path,
            query_params=query,
            header_params={
                "Content-Type": "application/apply-patch+yaml",
                "Accept": "application/json",
            },
            body=doc,
            auth_settings=["BearerToken"],
        )
        response = self.api.call_api(*request)
        response.read()
        text = response.data.decode()
        if not 200 <= response.status <= 299:
            raise ApiException.from_response(http_resp=response, body=text, data=None)
        applied: dict[str, Any] = json.loads(text)
        return applied

    def apply_all(
        self, docs: Iterable[dict[str, Any]], *, namespace: str | None = None, dry_run: bool = False
    ) -> list[dict[str, Any]]:
        return [self.apply(doc, namespace=namespace, dry_run=dry_run) for doc in docs]


def wait_established(kube_api: Any, names: Iterable[str], timeout: float = 30) -> None:
    from kubernetes import client

    extensions: Any = client.ApiextensionsV1Api(kube_api)
    for name in names:

        def established(name: str = name) -> bool:
            crd = extensions.read_custom_resource_definition(name)
            return any(
                c.type == "Established" and c.status == "True" for c in crd.status.conditions or []
            )

        wait_for(established, timeout=timeout, what=f"CRD {name} Established")


def chart_crds() -> Iterator[dict[str, Any]]:
    for path in sorted((CHART_DIR / "crds").glob("*.yaml")):
        yield yaml.safe_load(path.read_text())
