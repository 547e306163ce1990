"""core.discovery: which service a labelled workload gets, and when it goes away."""

from __future__ import annotations

from typing import Any

from orchestration_engine.core import discovery


def workload(
    labels: dict[str, str] | None = None, annotations: dict[str, str] | None = None
) -> dict[str, Any]:
    return {
        "metadata": {
            "name": "web",
            "namespace": "shop",
            "uid": "u-1",
            "labels": labels or {},
            "annotations": annotations or {},
        }
    }


MANAGED = {discovery.MANAGED_LABEL: "true"}


def test_unlabelled_workload_is_ignored() -> None:
    assert discovery.plan("Deployment", workload(), None) is None
    assert discovery.plan("Deployment", workload({discovery.MANAGED_LABEL: "false"}), None) is None


def test_labelled_workload_gets_a_service() -> None:
    action = discovery.plan("Deployment", workload(MANAGED), None)
    assert isinstance(action, discovery.Create)
    meta = action.manifest["metadata"]
    assert meta["name"] == "web"
    assert meta["namespace"] == "shop"
    assert meta["labels"][discovery.DISCOVERED_LABEL] == "deployment.web"
    assert meta["ownerReferences"][0] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": "web",
        "uid": "u-1",
        "blockOwnerDeletion": False,
    }
    assert action.manifest["spec"] == {
        "serviceType": "other",
        "priority": "NORMAL",
        "workloadRef": {"kind": "Deployment", "name": "web"},
    }


def test_type_and_priority_come_from_labels_and_annotation() -> None:
    labels = {**MANAGED, discovery.COMPONENT_LABEL: "database"}
    spec = discovery.plan(
        "StatefulSet", workload(labels, {discovery.PRIORITY_ANNOTATION: "critical"}), None
    )
    assert isinstance(spec, discovery.Create)
    assert spec.manifest["spec"]["serviceType"] == "database"
    assert spec.manifest["spec"]["priority"] == "CRITICAL"
    # The explicit label beats app.kubernetes.io/component.
    labels[discovery.SERVICE_TYPE_LABEL] = "web"
    spec = discovery.plan("StatefulSet", workload(labels), None)
    assert isinstance(spec, discovery.Create)
    assert spec.manifest["spec"]["serviceType"] == "web"


def test_unknown_values_fall_back_to_defaults() -> None:
    labels = {**MANAGED, discovery.SERVICE_TYPE_LABEL: "mainframe"}
    action = discovery.plan(
        "Deployment", workload(labels, {discovery.PRIORITY_ANNOTATION: "urgent"}), None
    )
    assert isinstance(action, discovery.Create)
    assert action.manifest["spec"]["serviceType"] == "other"
    assert action.manifest["spec"]["priority"] == "NORMAL"


def test_changed_annotation_updates_only_what_changed() -> None:
    discovered = {"name": "web", "spec": discovery.derived_spec("Deployment", "web", MANAGED, {})}
    annotations = {discovery.PRIORITY_ANNOTATION: "HIGH"}
    action = discovery.plan("Deployment", workload(MANAGED, annotations), discovered)
    assert action == discovery.Update("web", {"priority": "HIGH"})
    unchanged = {
        "name": "web",
        "spec": discovery.derived_spec("Deployment", "web", MANAGED, annotations),
    }
    assert discovery.plan("Deployment", workload(MANAGED, annotations), unchanged) is None


def test_removing_the_label_or_the_workload_deletes_the_discovered_service() -> None:
    discovered = {"name": "web", "spec": {}}
    assert discovery.plan("Deployment", workload(), discovered) == discovery.Delete("web")
    assert discovery.plan("Deployment", None, discovered) == discovery.Delete("web")
    assert discovery.plan("Deployment", None, None) is None


def test_a_user_created_service_is_never_replaced() -> None:
    assert discovery.plan("Deployment", workload(MANAGED), None, occupied_by_user=True) is None


def test_a_service_read_back_is_ours_only_with_this_workloads_label() -> None:
    ours = {
        "metadata": {
            "name": "web",
            "labels": {discovery.DISCOVERED_LABEL: discovery.origin("Deployment", "web")},
        },
        "spec": {"priority": "HIGH"},
    }
    assert discovery.as_discovered(ours, "Deployment", "web") == {
        "name": "web",
        "spec": {"priority": "HIGH"},
    }
    assert discovery.as_discovered(ours, "StatefulSet", "web") is None
    assert discovery.as_discovered({"metadata": {"name": "web"}}, "Deployment", "web") is None
    assert discovery.as_discovered(None, "Deployment", "web") is None


def test_planning_against_the_read_back_service_updates_what_changed() -> None:
    ours = {
        "metadata": {
            "name": "web",
            "labels": {discovery.DISCOVERED_LABEL: discovery.origin("Deployment", "web")},
        },
        "spec": discovery.derived_spec("Deployment", "web", MANAGED, {}),
    }
    body = workload(MANAGED, {discovery.PRIORITY_ANNOTATION: "CRITICAL"})
    action = discovery.plan("Deployment", body, discovery.as_discovered(ours, "Deployment", "web"))
    assert action == discovery.Update("web", {"priority": "CRITICAL"})
