"""Built-in namespaced objects as plain dicts, through the client's one generic request path.

The typed APIs need one method per kind and return generated models; the workflow actions
touch a handful of kinds with the same few verbs, and what they send (merge patches) and read
(labels, conditions, replicas) is naturally a dict. Errors come out as the typed errors of
``kube.errors``; "not found" and "already exists" are answers, not errors, where a caller
needs them to be.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kubernetes_asyncio.client import ApiClient

from orchestration_engine.api.common import API_VERSION, WorkloadKind, WorkloadRef
from orchestration_engine.kube import raw_request
from orchestration_engine.kube.errors import Conflict, NotFound
from orchestration_engine.kube.listing import list_all

MERGE_PATCH = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"


@dataclass(frozen=True)
class Resource:
    api_version: str
    kind: str
    plural: str

    @property
    def label(self) -> str:
        """How a user writes it: ``apps/v1 Deployment``."""
        return f"{self.api_version} {self.kind}"

    def path(self, *, named: bool) -> str:
        collection = (
            f"{raw_request.group_root(self.api_version)}/namespaces/{{namespace}}/{self.plural}"
        )
        return f"{collection}/{{name}}" if named else collection


DEPLOYMENT = Resource("apps/v1", "Deployment", "deployments")
STATEFUL_SET = Resource("apps/v1", "StatefulSet", "statefulsets")
DAEMON_SET = Resource("apps/v1", "DaemonSet", "daemonsets")
CONFIG_MAP = Resource("v1", "ConfigMap", "configmaps")
SERVICE = Resource("v1", "Service", "services")
SECRET = Resource("v1", "Secret", "secrets")
JOB = Resource("batch/v1", "Job", "jobs")
CRON_JOB = Resource("batch/v1", "CronJob", "cronjobs")
HPA = Resource("autoscaling/v2", "HorizontalPodAutoscaler", "horizontalpodautoscalers")
PDB = Resource("policy/v1", "PodDisruptionBudget", "poddisruptionbudgets")
ORCHESTRATED_SERVICE = Resource(API_VERSION, "OrchestratedService", "orchestratedservices")

WORKLOADS: dict[WorkloadKind, Resource] = {
    WorkloadKind.DEPLOYMENT: DEPLOYMENT,
    WorkloadKind.STATEFUL_SET: STATEFUL_SET,
}


def workload(ref: WorkloadRef) -> Resource:
    return WORKLOADS[ref.kind]


async def _named(
    api: ApiClient, method: str, resource: Resource, namespace: str, name: str, **options: Any
) -> Any:
    """A request to one object (``options``: those of ``raw_request.call``)."""
    where = {"namespace": namespace, "name": name}
    return await raw_request.call(
        api, method, resource.path(named=True), path_params=where, **options
    )


async def get(
    api: ApiClient,
    resource: Resource,
    namespace: str,
    name: str,
    *,
    timeout: float | None = raw_request.REQUEST_TIMEOUT_SECONDS,
) -> dict[str, Any] | None:
    """The object, or None if there is none."""
    try:
        found: dict[str, Any] = await _named(api, "GET", resource, namespace, name, timeout=timeout)
    except NotFound:
        return None
    return found


async def create(
    api: ApiClient, resource: Resource, namespace: str, body: dict[str, Any]
) -> dict[str, Any] | None:
    """The created object, or None if one of that name already exists."""
    try:
        created: dict[str, Any] = await raw_request.call(
            api, "POST", resource.path(named=False), path_params={"namespace": namespace}, body=body
        )
    except Conflict:
        return None
    return created


async def patch(
    api: ApiClient,
    resource: Resource,
    namespace: str,
    name: str,
    body: Any,
    *,
    content_type: str = MERGE_PATCH,
) -> dict[str, Any] | None:
    """The patched object, or None if there is none (a patch never creates)."""
    try:
        patched: dict[str, Any] = await _named(
            api, "PATCH", resource, namespace, name, body=body, content_type=content_type
        )
    except NotFound:
        return None
    return patched


async def delete(
    api: ApiClient,
    resource: Resource,
    namespace: str,
    name: str,
    *,
    propagation: str = "Background",
    uid: str | None = None,
) -> bool:
    """False if it was already gone. ``uid``: delete only that object, not a newer one that
    took its name since it was read (Conflict then)."""
    body: dict[str, Any] = {"propagationPolicy": propagation}
    if uid is not None:
        body["preconditions"] = {"uid": uid}
    try:
        await _named(api, "DELETE", resource, namespace, name, body=body)
    except NotFound:
        return False
    return True


async def list_every(
    api: ApiClient,
    resource: Resource,
    namespace: str,
    label_selector: str = "",
    *,
    timeout: float | None = raw_request.REQUEST_TIMEOUT_SECONDS,
) -> list[dict[str, Any]]:
    """Every object of the kind in ``namespace`` ("": in all namespaces) matching the
    selector (none: all of them), every page of them."""
    query = [("labelSelector", label_selector)] if label_selector else []
    return await list_all(
        api,
        raw_request.collection(resource.api_version, resource.plural, namespace),
        query,
        timeout=timeout,
    )


async def list_names(
    api: ApiClient, resource: Resource, namespace: str, label_selector: str
) -> list[str]:
    """Names of the objects matching the selector, every page of them."""
    items = await list_every(api, resource, namespace, label_selector)
    return [item["metadata"]["name"] for item in items]
