"""Deployments and StatefulSets: their replicas (for services' health) and discovery."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import kopf

from orchestration_engine.api.service import PLURAL as SERVICES
from orchestration_engine.core import discovery
from orchestration_engine.kube.errors import KubeError
from orchestration_engine.kube.events import ObjectRef
from orchestration_engine.plumbing.logs import reconciling

if TYPE_CHECKING:
    from orchestration_engine.app.components import Components

log = logging.getLogger(__name__)


async def workload_event(
    event: kopf.RawEvent, memo: Components, resource: kopf.Resource, **_: Any
) -> None:
    memo.sightings.observe(resource.plural, event)
    body = event["object"]
    kind = "Deployment" if resource.plural == "deployments" else "StatefulSet"
    deleted = event.get("type") == "DELETED"
    key = memo.workloads.update(kind, body)
    if deleted:
        memo.workloads.remove(key)
    memo.monitor.workload_changed(key)
    await discover(memo, kind, body, deleted)


async def discover(memo: Components, kind: str, body: Mapping[str, Any], deleted: bool) -> None:
    meta = body.get("metadata", {})
    namespace, name = meta.get("namespace", ""), meta.get("name", "")
    discovered = memo.discovered.find(namespace, discovery.origin(kind, name))
    occupied = discovered is None and (namespace, name) in memo.monitor.services
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
                return
            # The cache of discovered services lags the API server: the service may be ours
            # and already there (its event not handled yet). Plan again against the server's
            # copy, or this workload's change waits for its next event, which may never come.
            existing = await objects.get(SERVICES, namespace, name)
            mine = discovery.as_discovered(existing, kind, name)
            action = discovery.plan(kind, body, mine, occupied_by_user=mine is None)
            if action is None:
                return
        if isinstance(action, discovery.Update):
            await objects.patch_spec(SERVICES, namespace, action.name, action.spec_patch)
            log.info(
                "discovery: updated OrchestratedService %s/%s from %s %s: %s",
                namespace,
                action.name,
                kind,
                name,
                ", ".join(f"{k}={v}" for k, v in sorted(action.spec_patch.items())),
            )
        elif isinstance(action, discovery.Delete):
            await objects.delete(SERVICES, namespace, action.name)
            log.info(
                "stopped managing %s %s/%s: deleted its discovered service", kind, namespace, name
            )
    except KubeError as error:
        # The next event of the workload tries again: discovery is level-triggered.
        log.warning("discovery for %s %s/%s failed: %s", kind, namespace, name, error)


def register(registry: kopf.OperatorRegistry) -> None:
    kopf.on.event("apps", "v1", "deployments", registry=registry)(reconciling(workload_event))
    kopf.on.event("apps", "v1", "statefulsets", registry=registry)(reconciling(workload_event))
