"""Moving a service's traffic between its primary and standby workloads.

Traffic follows the ``failover.serviceRef`` Service's selector, so a switch is: make sure the
workload being switched to has replicas, then point the selector at its pods. Both writes set
targets, so switching to where the traffic already goes moves nothing (the selector write is
fenced and still bumps the Service's version: see ``selector_patch``). It does not wait for
the pods to become ready; the service's health shows whether the switch helped. Because
both writes set targets, each request is tried again after a transient API fault (429, 5xx,
a dropped connection) within the switch's timeout (kube/transient.py).

Which labels: the workload's ``spec.selector.matchLabels``, not its pod template's labels.
The selector is immutable (apps/v1), and Kubernetes guarantees every pod of the workload has
those labels, so a Service pointed at it keeps selecting the workload's pods through any
later rollout; template labels may change in a rollout (a ``version`` label, say), which would
leave the Service selecting pods that are being deleted. A workload selected with
``matchExpressions`` as well cannot be expressed as a Service selector (equality only) by its
matchLabels alone, which would select too much; then the template's labels are used.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any, Literal

from kubernetes_asyncio import client

from orchestration_engine.api import GROUP
from orchestration_engine.api.common import WorkloadRef
from orchestration_engine.api.service import ServiceSpec
from orchestration_engine.kube import resources
from orchestration_engine.kube.errors import Conflict
from orchestration_engine.kube.transient import retrying, within

ACTION = "failover"


class SwitchFailed(Exception):
    """A switch that could not be made; ``reason`` is a condition reason (CamelCase).

    kube/'s own error: a workflow step that switches maps it to its StepFailed
    (actions/failover.py), the failover controller to the FailedOver condition."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def _describe(ref: WorkloadRef) -> str:
    return f"{ref.kind.value} {ref.name}"


def pod_labels(workload: dict[str, Any]) -> dict[str, str]:
    """The labels that select this workload's pods, and only them (see the module's doc)."""
    spec = workload.get("spec") or {}
    selector = spec.get("selector") or {}
    match_labels: dict[str, str] = selector.get("matchLabels") or {}
    if match_labels and not selector.get("matchExpressions"):
        return dict(match_labels)
    template_labels: dict[str, str] = ((spec.get("template") or {}).get("metadata") or {}).get(
        "labels"
    ) or {}
    return dict(template_labels)


def replicas_of(workload: dict[str, Any]) -> int:
    # Unset replicas means 1 for both Deployments and StatefulSets.
    value = (workload.get("spec") or {}).get("replicas")
    return 1 if value is None else int(value)


async def _get(api: client.ApiClient, namespace: str, ref: WorkloadRef) -> dict[str, Any] | None:
    return await retrying(
        lambda: resources.get(api, resources.workload(ref), namespace, ref.name),
        action=ACTION,
        what=f"GET {_describe(ref)}",
    )


async def _patch(
    api: client.ApiClient,
    resource: resources.Resource,
    namespace: str,
    name: str,
    body: Any,
    **options: str,
) -> dict[str, Any] | None:
    return await retrying(
        lambda: resources.patch(api, resource, namespace, name, body, **options),
        action=ACTION,
        what=f"PATCH {resource.kind} {name}",
    )


async def _read(
    api: client.ApiClient, namespace: str, ref: WorkloadRef, reason: str
) -> dict[str, Any]:
    found = await _get(api, namespace, ref)
    if found is None:
        raise SwitchFailed(reason, f"{_describe(ref)} not found in {namespace}")
    return found


async def _replicas_for_standby(
    api: client.ApiClient, namespace: str, primary: WorkloadRef | None
) -> int:
    """As many replicas as the primary runs, at least one.

    A primary that is missing is no reason not to fail over (it may be why we fail over):
    then one replica.
    """
    if primary is None:
        return 1
    found = await _get(api, namespace, primary)
    return max(1, replicas_of(found)) if found is not None else 1


async def _scale_up_if_idle(
    api: client.ApiClient,
    namespace: str,
    ref: WorkloadRef,
    workload: dict[str, Any],
    primary: WorkloadRef | None,
) -> str:
    """Give a standby at zero replicas the primary's count; a note for the message."""
    if replicas_of(workload) > 0:
        return ""
    replicas = await _replicas_for_standby(api, namespace, primary)
    patched = await _patch(
        api, resources.workload(ref), namespace, ref.name, {"spec": {"replicas": replicas}}
    )
    if patched is None:
        raise SwitchFailed("StandbyNotFound", f"{_describe(ref)} not found in {namespace}")
    return f"; {_describe(ref)} scaled from 0 to {replicas}"


# A selector write that meets a newer Service re-reads it and tries again this often at most
# (within the switch's timeout); more would mean someone else keeps writing it.
SELECTOR_WRITE_ATTEMPTS = 5
# Set to a fresh value by every switch: see selector_patch.
SWITCH_ANNOTATION = f"{GROUP}/switch"


def selector_patch(
    service: dict[str, Any], labels: dict[str, str], token: str
) -> list[dict[str, Any]]:
    """The JSON patch that points ``service`` (as read) at ``labels``, valid only on the
    version read.

    A JSON patch ``add`` replaces the whole selector. A merge patch would merge it key by key,
    leaving behind any key of the old selector that the new one lacks; the Service would then
    select neither workload's pods.

    It is a fenced write: the resourceVersion read makes it conditional (409 if the Service
    changed since), and the ``switch`` annotation set to a new ``token`` makes every switch
    change the Service, even one to where traffic already goes (an unchanged object keeps
    its resourceVersion). So a switch that timed out or was cancelled with its write still in
    flight cannot land after a later switch and undo it.
    """
    metadata = service.get("metadata") or {}
    annotations = {**(metadata.get("annotations") or {}), SWITCH_ANNOTATION: token}
    return [
        {
            "op": "replace",
            "path": "/metadata/resourceVersion",
            "value": metadata.get("resourceVersion", ""),
        },
        {"op": "add", "path": "/metadata/annotations", "value": annotations},
        {"op": "add", "path": "/spec/selector", "value": labels},
    ]


async def _point_service(
    api: client.ApiClient, namespace: str, name: str, labels: dict[str, str]
) -> None:
    token = uuid.uuid4().hex
    for _ in range(SELECTOR_WRITE_ATTEMPTS):
        service = await retrying(
            lambda: resources.get(api, resources.SERVICE, namespace, name),
            action=ACTION,
            what=f"GET Service {name}",
        )
        if service is None:
            raise SwitchFailed("ServiceNotFound", f"Service {name} not found in {namespace}")
        try:
            patched = await _patch(
                api,
                resources.SERVICE,
                namespace,
                name,
                selector_patch(service, labels, token),
                content_type=resources.JSON_PATCH,
            )
        except Conflict:
            continue  # changed since it was read: read it again
        if patched is None:
            raise SwitchFailed("ServiceNotFound", f"Service {name} not found in {namespace}")
        return
    raise SwitchFailed(
        "Conflict",
        f"Service {name} in {namespace} kept changing while its selector was being written",
    )


async def _switch(
    api: client.ApiClient,
    namespace: str,
    service_name: str,
    spec: ServiceSpec,
    to: Literal["standby", "primary"],
) -> str:
    failover = spec.failover
    if failover is None:
        raise SwitchFailed(
            "NotConfigured", f"OrchestratedService {service_name} has no failover configured"
        )
    if to == "standby":
        ref, missing = failover.standby_ref, "StandbyNotFound"
    elif spec.workload_ref is not None:
        ref, missing = spec.workload_ref, "PrimaryNotFound"
    else:
        raise SwitchFailed(
            "NoPrimary", f"OrchestratedService {service_name} has no workloadRef to fail back to"
        )
    workload = await _read(api, namespace, ref, missing)
    labels = pod_labels(workload)
    if not labels:
        # An empty selector would make the Service select nothing it manages at all.
        raise SwitchFailed(
            "NoPodLabels", f"{_describe(ref)} has no pod labels to select its pods by"
        )
    note = ""
    if to == "standby":
        note = await _scale_up_if_idle(api, namespace, ref, workload, spec.workload_ref)
    await _point_service(api, namespace, failover.service_ref.name, labels)
    return (
        f"traffic of {service_name} switched to {to} "
        f"(Service {failover.service_ref.name} → {_describe(ref)}){note}"
    )


async def switch_traffic(
    api: client.ApiClient,
    namespace: str,
    service_name: str,
    spec: ServiceSpec,
    to: Literal["standby", "primary"],
    *,
    timeout_s: float,
) -> str:
    """Send ``service_name``'s traffic to its standby or back to its primary; a message.

    Raises SwitchFailed when the service has no failover, a workload or the Service is
    missing, or the switch does not complete within ``timeout_s``.
    """
    try:
        with within(timeout_s):
            async with asyncio.timeout(timeout_s):
                return await _switch(api, namespace, service_name, spec, to)
    except TimeoutError:
        raise SwitchFailed(
            "Timeout", f"switching {service_name} to {to} did not complete within {timeout_s:g}s"
        ) from None


async def observe_target(
    api: client.ApiClient, namespace: str, spec: ServiceSpec
) -> Literal["standby", "primary"] | None:
    """Where the Service's selector sends traffic now: the truth after a restart, whatever
    ``status`` says. None when it selects neither workload (or something is missing)."""
    failover = spec.failover
    if failover is None:
        return None
    service = await resources.get(api, resources.SERVICE, namespace, failover.service_ref.name)
    if service is None:
        return None
    selector = (service.get("spec") or {}).get("selector") or {}
    if not selector:
        return None
    candidates: list[tuple[Literal["standby", "primary"], WorkloadRef]] = [
        ("standby", failover.standby_ref)
    ]
    if spec.workload_ref is not None:
        candidates.append(("primary", spec.workload_ref))
    for target, ref in candidates:
        workload = await resources.get(api, resources.workload(ref), namespace, ref.name)
        if workload is not None and pod_labels(workload) == dict(selector):
            return target
    return None
