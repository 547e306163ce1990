"""Deployments and StatefulSets: their replicas, for services' health.

The replicas live in kopf indexes, because kopf holds every handler until all indexes are
filled from the initial listing: a service is never judged on a workload not yet listed
(which would flap every service to FAILED at each operator start).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import kopf

from orchestration_engine.api.common import GROUP, VERSION
from orchestration_engine.api.service import PLURAL as SERVICES
from orchestration_engine.core import discovery
from orchestration_engine.core.health import Replicas
from orchestration_engine.kube.errors import KubeError
from orchestration_engine.kube.events import ObjectRef

log = logging.getLogger(__name__)

INDEXES = {"Deployment": "deployment_replicas", "StatefulSet": "statefulset_replicas"}


def replicas_from(spec: Mapping[str, Any], status: Mapping[str, Any]) -> tuple[int, int]:
    desired = spec.get("replicas")
    return (1 if desired is None else int(desired), int(status.get("readyReplicas") or 0))


def index_replicas(**kwargs: Any) -> dict[tuple[str, str], tuple[int, int]]:
    """kopf index handler: one entry per workload, ``(namespace, name) -> (desired, ready)``."""
    key = (str(kwargs["namespace"]), str(kwargs["name"]))
    return {key: replicas_from(kwargs["spec"], kwargs["status"])}


def attach_replica_lookup(memo: kopf.Memo, kwargs: Mapping[str, Any]) -> None:
    """Give the monitor read access to the indexes (handed to handlers by kopf)."""
    if getattr(memo, "replica_indexes", None) is not None:
        return
    indexes = {kind: kwargs[index] for kind, index in INDEXES.items()}
    memo.replica_indexes = indexes

    def lookup(key: tuple[str, str, str]) -> Replicas | None:
        namespace, kind, name = key
        index = indexes.get(kind)
        if index is None:
            return None
        store = index.get((namespace, name))
        if not store:
            return Replicas.absent()
        desired, ready = next(iter(store))
        return Replicas(desired, ready)

    memo.monitor.replicas = lookup
    memo.monitor.refresh_workloads()


def index_discovered(**kwargs: Any) -> dict[tuple[str, str], dict[str, Any]]:
    """kopf index of the services discovery created: ``(namespace, origin) -> name, spec``."""
    labels = kwargs["labels"]
    key = (str(kwargs["namespace"]), str(labels[discovery.DISCOVERED_LABEL]))
    return {key: {"name": kwargs["name"], "spec": dict(kwargs["spec"])}}


async def workload_event(
    event: kopf.RawEvent, memo: kopf.Memo, resource: kopf.Resource, **kwargs: Any
) -> None:
    attach_replica_lookup(memo, kwargs)
    body = event["object"]
    meta = body.get("metadata", {})
    namespace, name = meta.get("namespace", ""), meta.get("name", "")
    kind = "Deployment" if resource.plural == "deployments" else "StatefulSet"
    memo.monitor.workload_changed((namespace, kind, name))
    await discover(memo, kind, body, event.get("type") == "DELETED", kwargs["discovered_services"])


async def discover(
    memo: kopf.Memo, kind: str, body: Mapping[str, Any], deleted: bool, discovered_index: Any
) -> None:
    meta = body.get("metadata", {})
    namespace, name = meta.get("namespace", ""), meta.get("name", "")
    store = discovered_index.get((namespace, discovery.origin(kind, name)))
    discovered = next(iter(store)) if store else None
    occupied = discovered is None and (namespace, name) in memo.monitor.entries
    action = discovery.plan(kind, None if deleted else body, discovered, occupied)
    if action is None:
        return
    objects = memo.objects
    try:
        if isinstance(action, discovery.Create):
            if await objects.create(SERVICES, namespace, action.manifest):
                ref = ObjectRef("apps/v1", kind, namespace, name, str(meta.get("uid", "")))
                memo.events.record(
                    ref, "Normal", "ServiceDiscovered", f"OrchestratedService {name} created"
                )
        elif isinstance(action, discovery.Update):
            await objects.patch_spec(SERVICES, namespace, action.name, action.spec_patch)
        else:
            await objects.delete(SERVICES, namespace, action.name)
            log.info(
                "stopped managing %s %s/%s: deleted its discovered service", kind, namespace, name
            )
    except KubeError as error:
        # The next event of the workload tries again; discovery is level-triggered.
        log.warning("discovery for %s %s/%s failed: %s", kind, namespace, name, error)


def register(registry: kopf.OperatorRegistry) -> None:
    kopf.index("apps", "v1", "deployments", registry=registry, id=INDEXES["Deployment"])(
        index_replicas
    )
    kopf.index("apps", "v1", "statefulsets", registry=registry, id=INDEXES["StatefulSet"])(
        index_replicas
    )
    kopf.index(
        GROUP,
        VERSION,
        SERVICES,
        registry=registry,
        id="discovered_services",
        labels={discovery.DISCOVERED_LABEL: kopf.PRESENT},
    )(index_discovered)
    kopf.on.event("apps", "v1", "deployments", registry=registry)(workload_event)
    kopf.on.event("apps", "v1", "statefulsets", registry=registry)(workload_event)
