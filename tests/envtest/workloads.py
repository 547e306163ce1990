"""Deployments as tests and benchmarks create them, and the kubelet's part they play: with no
kubelet on a test control plane, nothing ever becomes ready unless the test says so."""

from __future__ import annotations

from typing import Any


def deployment(name: str, replicas: int) -> dict[str, Any]:
    """A Deployment whose pods (never started) carry ``app: <name>``."""
    labels = {"app": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{"name": "app", "image": "busybox:1.36"}]},
            },
        },
    }


def set_ready(kube_api: Any, namespace: str, name: str, replicas: int, ready: int) -> None:
    """Write the Deployment's status as the kubelet and controllers would."""
    from kubernetes import client

    client.AppsV1Api(kube_api).patch_namespaced_deployment_status(
        name,
        namespace,
        {"status": {"replicas": replicas, "readyReplicas": ready, "availableReplicas": ready}},
    )
