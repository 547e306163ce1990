"""Caches the operator keeps of other objects: workloads' replicas, discovered services.

Both are primed with one LIST per kind before kopf starts watching, then kept current from
watch events. That gives every handler a complete picture from its first call (no service
judged on a workload not yet seen) at O(n) cost; kopf's own index gating achieves the same
but wakes every waiting worker on each object indexed, which is quadratic at fleet scale.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from orchestration_engine.api.service import PLURAL as SERVICES
from orchestration_engine.core import discovery
from orchestration_engine.core.health import Replicas
from orchestration_engine.kube import resources
from orchestration_engine.kube.client import ApiClient
from orchestration_engine.kube.objects import CustomObjects

WorkloadKey = tuple[str, str, str]  # namespace, kind, name
KINDS = {"Deployment": resources.DEPLOYMENT, "StatefulSet": resources.STATEFUL_SET}


# The Deployment controller's Progressing reasons while a rollout is under way; once it is
# done the reason is NewReplicaSetAvailable, past its deadline ProgressDeadlineExceeded.
ROLLING_OUT = frozenset({"NewReplicaSetCreated", "FoundNewReplicaSet", "ReplicaSetUpdated"})


def first_rollout_under_way(status: Mapping[str, Any]) -> bool:
    """A Deployment whose rollout is progressing and which has never been available: created
    moments ago. (A later rollout keeps Available True from its old pods, unless it replaces
    them all at once, which is an outage and is judged as one.) Without conditions (the
    controller has not synced it yet, for milliseconds; or no controller writes them) it is
    judged as before. StatefulSets report no progress; they are judged from the first check."""
    conditions = {c.get("type"): c for c in status.get("conditions") or [] if isinstance(c, dict)}
    progressing, available = conditions.get("Progressing"), conditions.get("Available")
    return (
        progressing is not None
        and progressing.get("status") == "True"
        and progressing.get("reason") in ROLLING_OUT
        and (available is None or available.get("status") != "True")
    )


def replicas_from(
    spec: Mapping[str, Any], status: Mapping[str, Any], kind: str = "Deployment"
) -> Replicas:
    desired = spec.get("replicas")
    return Replicas(
        1 if desired is None else int(desired),
        int(status.get("readyReplicas") or 0),
        starting=kind == "Deployment" and first_rollout_under_way(status),
    )


class WorkloadCache:
    def __init__(self) -> None:
        self._replicas: dict[WorkloadKey, Replicas] = {}
        # metadata.generation as last seen: a `scale` step waits until it includes its change.
        self._generations: dict[WorkloadKey, int] = {}

    def __len__(self) -> int:
        return len(self._replicas)

    def update(self, kind: str, body: Mapping[str, Any]) -> WorkloadKey:
        meta = body.get("metadata", {})
        key = (str(meta.get("namespace", "")), kind, str(meta.get("name", "")))
        self._replicas[key] = replicas_from(body.get("spec") or {}, body.get("status") or {}, kind)
        generation = meta.get("generation")
        if isinstance(generation, int):
            self._generations[key] = generation
        return key

    def remove(self, key: WorkloadKey) -> None:
        self._replicas.pop(key, None)
        self._generations.pop(key, None)

    def lookup(self, key: WorkloadKey) -> Replicas:
        """The workload's replicas; ``Replicas.absent()`` when it does not exist."""
        return self._replicas.get(key) or Replicas.absent()

    def generation(self, key: WorkloadKey) -> int | None:
        """The workload's ``metadata.generation`` as last seen; None if it was not seen."""
        return self._generations.get(key)

    async def prime(self, api: ApiClient, namespaces: Iterable[str]) -> None:
        scopes = list(namespaces) or [""]
        for scope in scopes:
            for kind, resource in KINDS.items():
                # timeout=None: the transport's own (a silent connection fails in 10 s).
                for item in await resources.list_every(api, resource, scope, timeout=None):
                    self.update(kind, item)


class DiscoveredServices:
    """The services discovery created, by ``(namespace, discovered-from)``."""

    def __init__(self) -> None:
        self._by_origin: dict[tuple[str, str], dict[str, Any]] = {}
        self._origin_of: dict[tuple[str, str], tuple[str, str]] = {}

    def observe(self, deleted: bool, body: Mapping[str, Any]) -> None:
        meta = body.get("metadata", {})
        key = (str(meta.get("namespace", "")), str(meta.get("name", "")))
        origin = (meta.get("labels") or {}).get(discovery.DISCOVERED_LABEL)
        previous = self._origin_of.pop(key, None)
        if previous is not None:
            self._by_origin.pop(previous, None)
        if deleted or not origin:
            return
        self._origin_of[key] = (key[0], origin)
        self._by_origin[(key[0], origin)] = {"name": key[1], "spec": dict(body.get("spec") or {})}

    def find(self, namespace: str, origin: str) -> dict[str, Any] | None:
        return self._by_origin.get((namespace, origin))

    async def prime(self, api: ApiClient, namespaces: Iterable[str]) -> None:
        objects = CustomObjects(api)
        for scope in list(namespaces) or [""]:
            for item in await objects.list(
                SERVICES, scope, label_selector=discovery.DISCOVERED_LABEL, timeout=None
            ):
                self.observe(False, item)
