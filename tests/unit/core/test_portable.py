"""What a backup keeps of an object, and how its status and owners come back (core/portable.py)."""

from __future__ import annotations

from typing import Any

from orchestration_engine.core.portable import (
    portable,
    rebind_owners,
    restored_status,
    saved_status,
)

LIVE: dict[str, Any] = {
    "apiVersion": "orchestration.eoe.dev/v1alpha1",
    "kind": "OrchestrationWorkflow",
    "metadata": {
        "name": "nightly",
        "namespace": "ops",
        "uid": "3f1c",
        "resourceVersion": "812",
        "generation": 4,
        "creationTimestamp": "2026-11-23T10:00:00Z",
        "managedFields": [{"manager": "kubectl"}],
        "selfLink": "/apis/…",
        "finalizers": ["orchestration.eoe.dev/finalizer", "example.com/hold"],
        "labels": {"team": "ops"},
        "annotations": {
            "note": "kept",
            "kubectl.kubernetes.io/last-applied-configuration": "{}",
            "kopf.zalando.org/last-handled-configuration": "{}",
            "orchestration.eoe.dev/last-handled-configuration": "{}",
        },
        "ownerReferences": [{"apiVersion": "v1", "kind": "ConfigMap", "name": "o", "uid": "1"}],
    },
    "spec": {"priority": "HIGH", "steps": []},
    "status": {
        "phase": "Succeeded",
        "observedGeneration": 4,
        "queuePosition": None,
        "conditions": [
            {"type": "Ready", "status": "True", "observedGeneration": 4},
            {"type": "Admitted", "status": "True", "observedGeneration": 3},
            {"type": "Succeeded", "status": "True"},
        ],
    },
}


def test_portable_keeps_what_users_write_and_nothing_the_server_sets() -> None:
    assert portable(LIVE) == {
        "apiVersion": "orchestration.eoe.dev/v1alpha1",
        "kind": "OrchestrationWorkflow",
        "metadata": {
            "name": "nightly",
            "namespace": "ops",
            "labels": {"team": "ops"},
            "annotations": {
                "note": "kept",
                "kubectl.kubernetes.io/last-applied-configuration": "{}",
            },
            "ownerReferences": [{"apiVersion": "v1", "kind": "ConfigMap", "name": "o", "uid": "1"}],
        },
        "spec": {"priority": "HIGH", "steps": []},
    }


def test_portable_leaves_out_empty_metadata() -> None:
    body = {"apiVersion": "v", "kind": "K", "metadata": {"name": "n", "annotations": {}}}
    assert portable(body) == {"apiVersion": "v", "kind": "K", "metadata": {"name": "n"}}


def test_saved_status_names_the_object_and_its_generation() -> None:
    saved = saved_status(LIVE)
    assert saved is not None
    assert saved["metadata"] == {"name": "nightly", "namespace": "ops", "generation": 4}
    assert saved["status"] is LIVE["status"]
    assert saved_status({**LIVE, "status": {}}) is None


def test_restored_status_counts_generations_of_the_new_object() -> None:
    saved = saved_status(LIVE)
    assert saved is not None
    status = restored_status(saved, new_generation=1)
    assert status["observedGeneration"] == 1  # current then, current now
    ready, admitted, succeeded = status["conditions"]
    assert ready["observedGeneration"] == 1
    assert admitted["observedGeneration"] == 0  # one behind, never below 0
    assert "observedGeneration" not in succeeded
    assert "queuePosition" not in status  # nulls are not applied
    assert restored_status(saved, new_generation=6)["conditions"][1]["observedGeneration"] == 5


def test_restored_status_without_a_saved_generation_drops_the_numbers() -> None:
    saved = {"metadata": {"name": "n"}, "status": {"observedGeneration": 2, "phase": "Running"}}
    assert restored_status(saved, new_generation=1) == {"phase": "Running"}


def test_owner_references_follow_the_owners_found_now() -> None:
    references: list[dict[str, Any]] = [
        {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web", "uid": "old"},
        {"apiVersion": "apps/v1", "kind": "Deployment", "name": "gone", "uid": "old2"},
    ]
    kept, dropped = rebind_owners(
        references,
        {("apps/v1", "Deployment", "web"): "new", ("apps/v1", "Deployment", "gone"): None},
    )
    assert kept == [{"apiVersion": "apps/v1", "kind": "Deployment", "name": "web", "uid": "new"}]
    assert dropped == [("apps/v1", "Deployment", "gone")]
