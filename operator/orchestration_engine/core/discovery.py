"""Discovery: a Deployment or StatefulSet labelled ``orchestration.eoe.dev/managed: "true"``
gets an OrchestratedService; removing the label stops managing it.

Pure: given the workload's metadata and the service discovery made for it before (if any),
say what to do. A service a user created is never touched: only services carrying the
``discovered-from`` label, which discovery itself sets, are updated or deleted.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from orchestration_engine.api.common import API_VERSION, GROUP, Priority
from orchestration_engine.api.service import KIND, ServiceType

MANAGED_LABEL = f"{GROUP}/managed"
SERVICE_TYPE_LABEL = f"{GROUP}/service-type"
COMPONENT_LABEL = "app.kubernetes.io/component"
PRIORITY_ANNOTATION = f"{GROUP}/priority"
DISCOVERED_LABEL = f"{GROUP}/discovered-from"
MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"
MANAGED_BY = "orchestration-engine"


@dataclass(frozen=True)
class Create:
    manifest: dict[str, Any]


@dataclass(frozen=True)
class Update:
    name: str
    spec_patch: dict[str, Any]


@dataclass(frozen=True)
class Delete:
    name: str


Action = Create | Update | Delete | None


def origin(kind: str, name: str) -> str:
    """The discovered-from label value: label values cannot hold '/', so kind.name."""
    return f"{kind.lower()}.{name}"[:63]


def as_discovered(service: Mapping[str, Any] | None, kind: str, name: str) -> dict[str, Any] | None:
    """A service read from the API server, as ``plan`` takes it: ``{name, spec}`` when
    discovery created it for this workload, None when it is someone else's (or none)."""
    if service is None:
        return None
    meta = service.get("metadata") or {}
    if (meta.get("labels") or {}).get(DISCOVERED_LABEL) != origin(kind, name):
        return None
    return {"name": meta.get("name"), "spec": dict(service.get("spec") or {})}


def derived_spec(
    kind: str, name: str, labels: Mapping[str, str], annotations: Mapping[str, str]
) -> dict[str, Any]:
    values = {t.value for t in ServiceType}
    raw_type = labels.get(SERVICE_TYPE_LABEL) or labels.get(COMPONENT_LABEL) or ""
    service_type = raw_type if raw_type in values else ServiceType.OTHER.value
    raw_priority = (annotations.get(PRIORITY_ANNOTATION) or "").upper()
    priority = (
        raw_priority if raw_priority in {p.value for p in Priority} else Priority.NORMAL.value
    )
    return {
        "serviceType": service_type,
        "priority": priority,
        "workloadRef": {"kind": kind, "name": name},
    }


def plan(
    kind: str,
    workload: Mapping[str, Any] | None,
    discovered: Mapping[str, Any] | None,
    occupied_by_user: bool = False,
) -> Action:
    """``workload`` is None once it is deleted; ``discovered`` is the service discovery
    created for it before (its spec), if any; ``occupied_by_user`` says a service of the
    same name exists that discovery did not create."""
    if workload is None:
        return Delete(discovered["name"]) if discovered else None
    meta = workload.get("metadata", {})
    labels: Mapping[str, str] = meta.get("labels") or {}
    annotations: Mapping[str, str] = meta.get("annotations") or {}
    name = meta["name"]
    managed = labels.get(MANAGED_LABEL) == "true"
    if not managed:
        return Delete(discovered["name"]) if discovered else None
    spec = derived_spec(kind, name, labels, annotations)
    if discovered is not None:
        current = discovered.get("spec") or {}
        changed = {k: v for k, v in spec.items() if current.get(k) != v}
        return Update(discovered["name"], changed) if changed else None
    if occupied_by_user:
        return None
    return Create(
        {
            "apiVersion": API_VERSION,
            "kind": KIND,
            "metadata": {
                "name": name,
                "namespace": meta.get("namespace"),
                "labels": {DISCOVERED_LABEL: origin(kind, name), MANAGED_BY_LABEL: MANAGED_BY},
                "ownerReferences": [
                    {
                        "apiVersion": "apps/v1",
                        "kind": kind,
                        "name": name,
                        "uid": meta.get("uid"),
                        "blockOwnerDeletion": False,
                    }
                ],
            },
            "spec": spec,
        }
    )
