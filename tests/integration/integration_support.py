"""Helpers shared by the integration tests (imported by name: a conftest cannot be)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from envtest.crds import apply_crds
from envtest.operator_process import OperatorProcess, free_port
from waiting import wait_for

ROOT = Path(__file__).resolve().parents[2]
CRDS_DIR = ROOT / "crds"
EXAMPLES_DIR = ROOT / "examples"
GROUP = "orchestration.eoe.dev"
VERSION = "v1alpha1"

__all__ = [
    "CRDS_DIR",
    "EXAMPLES_DIR",
    "GROUP",
    "ROOT",
    "VERSION",
    "OperatorProcess",
    "apply_crds",
    "free_port",
    "wait_for",
]


def engine(custom: Any) -> dict[str, Any]:
    """The OrchestrationEngine ``default`` as stored."""
    return custom.get_cluster_custom_object(  # type: ignore[no-any-return]
        GROUP, VERSION, "orchestrationengines", "default"
    )


def engine_if_any(custom: Any) -> dict[str, Any] | None:
    """The engine as stored, or None before an operator has created it: for waiting on it,
    since ``engine`` raises the API server's 404."""
    from kubernetes.client import ApiException

    try:
        return engine(custom)
    except ApiException as error:
        if error.status == 404:
            return None
        raise


def condition(obj: dict[str, Any], type_: str) -> dict[str, Any]:
    """One condition of an object's status, or {} when it has none of that type."""
    return next(
        (c for c in (obj.get("status") or {}).get("conditions") or [] if c["type"] == type_), {}
    )


def events_of(core: Any, namespace: str, name: str, reason: str) -> list[Any]:
    """The Events about the object ``name`` with ``reason`` (``core``: a CoreV1Api)."""
    found = core.list_namespaced_event(namespace, field_selector=f"involvedObject.name={name}")
    return [e for e in found.items if e.reason == reason]
