"""The kubelet's part for Deployments (built by tests/builders.py): with no kubelet on a test
control plane, nothing ever becomes ready unless the test says so."""

from __future__ import annotations

from typing import Any


def set_ready(kube_api: Any, namespace: str, name: str, replicas: int, ready: int) -> None:
    """Write the Deployment's status as the kubelet and controllers would."""
    from kubernetes import client

    client.AppsV1Api(kube_api).patch_namespaced_deployment_status(
        name,
        namespace,
        {"status": {"replicas": replicas, "readyReplicas": ready, "availableReplicas": ready}},
    )
