"""The objects tests create, built one way: the three kinds of orchestration.eoe.dev
(OrchestratedService, OrchestrationWorkflow, OrchestrationEngine) and the Deployments and
Services they point at. Importable as ``builders`` from any tier (tests/ is on sys.path, see
tests/conftest.py). Each builder writes only what it is given, so a test's object has exactly
the fields the test names."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

GROUP = "orchestration.eoe.dev"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"


def service(
    name: str,
    spec: Mapping[str, Any] | None = None,
    /,
    *,
    meta: Mapping[str, Any] | None = None,
    **fields: Any,
) -> dict[str, Any]:
    """An OrchestratedService: ``spec`` and the spec ``fields`` given as keywords (camelCase,
    as in a manifest); ``meta``: more metadata (labels, annotations, ownerReferences...)."""
    return {
        "apiVersion": API_VERSION,
        "kind": "OrchestratedService",
        "metadata": {"name": name, **(meta or {})},
        "spec": {**(spec or {}), **fields},
    }


def workflow(
    name: str,
    steps: list[dict[str, Any]],
    /,
    *,
    meta: Mapping[str, Any] | None = None,
    **spec: Any,
) -> dict[str, Any]:
    """An OrchestrationWorkflow of these steps, with the other spec fields as keywords."""
    return {
        "apiVersion": API_VERSION,
        "kind": "OrchestrationWorkflow",
        "metadata": {"name": name, **(meta or {})},
        "spec": {"steps": steps, **spec},
    }


def engine(spec: Mapping[str, Any] | None = None, /, name: str = "default") -> dict[str, Any]:
    """The OrchestrationEngine (cluster-scoped; the operator reads the one named default);
    with no ``spec``, none at all (the CRD's defaults)."""
    body: dict[str, Any] = {
        "apiVersion": API_VERSION,
        "kind": "OrchestrationEngine",
        "metadata": {"name": name},
    }
    if spec is not None:
        body["spec"] = dict(spec)
    return body


def workload_ref(name: str, kind: str = "Deployment") -> dict[str, str]:
    """A workloadRef, standbyRef or a step's workload: ``{"kind": ..., "name": ...}``."""
    return {"kind": kind, "name": name}


def deployment(
    name: str,
    replicas: int,
    *,
    selector: Mapping[str, str] | None = None,
    pod_labels: Mapping[str, str] | None = None,
    pod_annotations: Mapping[str, str] | None = None,
    meta: Mapping[str, Any] | None = None,
    image: str = "busybox:1.36",
) -> dict[str, Any]:
    """A Deployment whose pods (never started on a test control plane) carry ``selector``
    (default ``app: <name>``) and ``pod_labels``; ``meta``: more metadata of the Deployment."""
    match = dict(selector) if selector is not None else {"app": name}
    template: dict[str, Any] = {"labels": {**match, **(pod_labels or {})}}
    if pod_annotations is not None:
        template["annotations"] = dict(pod_annotations)
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, **(meta or {})},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": match},
            "template": {
                "metadata": template,
                "spec": {"containers": [{"name": "app", "image": image}]},
            },
        },
    }


def kube_service(name: str, selector: Mapping[str, str], port: int = 80) -> dict[str, Any]:
    """A Kubernetes Service in front of the pods ``selector`` picks (a failover's serviceRef)."""
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name},
        "spec": {"selector": dict(selector), "ports": [{"port": port}]},
    }
