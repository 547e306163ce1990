"""Deployments and StatefulSets: their replicas, for services' health.

The replicas live in kopf indexes, because kopf holds every handler until all indexes are
filled from the initial listing: a service is never judged on a workload not yet listed
(which would flap every service to FAILED at each operator start).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import kopf

from orchestration_engine.core.health import Replicas

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


async def workload_event(
    event: kopf.RawEvent, memo: kopf.Memo, resource: kopf.Resource, **kwargs: Any
) -> None:
    attach_replica_lookup(memo, kwargs)
    meta = event["object"].get("metadata", {})
    kind = "Deployment" if resource.plural == "deployments" else "StatefulSet"
    memo.monitor.workload_changed((meta.get("namespace", ""), kind, meta.get("name", "")))


def register(registry: kopf.OperatorRegistry) -> None:
    kopf.index("apps", "v1", "deployments", registry=registry, id=INDEXES["Deployment"])(
        index_replicas
    )
    kopf.index("apps", "v1", "statefulsets", registry=registry, id=INDEXES["StatefulSet"])(
        index_replicas
    )
    kopf.on.event("apps", "v1", "deployments", registry=registry)(workload_event)
    kopf.on.event("apps", "v1", "statefulsets", registry=registry)(workload_event)
