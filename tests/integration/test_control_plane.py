"""The test control plane itself: version, namespaces, and status writes standing in for the
kubelet and the controllers that are not running."""

from __future__ import annotations

import os
from typing import Any

import pytest
from kubernetes import client

from envtest.controlplane import k8s_version

IMAGE = "registry.invalid/eoe/never-pulled:1"


def _pod_template(labels: dict[str, str], restart_policy: str) -> Any:
    return client.V1PodTemplateSpec(
        metadata=client.V1ObjectMeta(labels=labels),
        spec=client.V1PodSpec(
            restart_policy=restart_policy,
            containers=[client.V1Container(name="main", image=IMAGE)],
        ),
    )


def test_server_version(control_plane: Any, kube_api: Any) -> None:
    if control_plane.local is None:
        pytest.skip("USE_EXISTING_CLUSTER: the server version is not ours to pin")
    if os.environ.get("KUBEBUILDER_ASSETS"):
        pytest.skip("KUBEBUILDER_ASSETS: binaries of an arbitrary version")
    info = client.VersionApi(kube_api).get_code()
    assert info.git_version == k8s_version()


def test_namespace_fixture_holds_a_configmap(kube_api: Any, namespace: str) -> None:
    core = client.CoreV1Api(kube_api)
    core.create_namespaced_config_map(
        namespace,
        client.V1ConfigMap(metadata=client.V1ObjectMeta(name="settings"), data={"mode": "fast"}),
    )
    read = core.read_namespaced_config_map("settings", namespace)
    assert read.metadata is not None
    assert read.metadata.namespace == namespace
    assert read.data == {"mode": "fast"}


def test_deployment_status_is_writable(kube_api: Any, namespace: str) -> None:
    apps = client.AppsV1Api(kube_api)
    labels = {"app": "web"}
    apps.create_namespaced_deployment(
        namespace,
        client.V1Deployment(
            metadata=client.V1ObjectMeta(name="web"),
            spec=client.V1DeploymentSpec(
                replicas=3,
                selector=client.V1LabelSelector(match_labels=labels),
                template=_pod_template(labels, "Always"),
            ),
        ),
    )

    apps.patch_namespaced_deployment_status(
        "web", namespace, {"status": {"replicas": 3, "readyReplicas": 1}}
    )

    read = apps.read_namespaced_deployment("web", namespace)
    assert read.status is not None
    assert read.metadata is not None
    assert read.status.replicas == 3
    assert read.status.ready_replicas == 1
    # A status write must not count as a spec change, or rollouts would look perpetual.
    assert read.metadata.generation == 1


def test_job_status_is_writable(kube_api: Any, namespace: str) -> None:
    batch = client.BatchV1Api(kube_api)
    batch.create_namespaced_job(
        namespace,
        client.V1Job(
            metadata=client.V1ObjectMeta(name="migrate"),
            spec=client.V1JobSpec(template=_pod_template({"job": "migrate"}, "Never")),
        ),
    )

    batch.patch_namespaced_job_status("migrate", namespace, {"status": {"succeeded": 1}})

    read = batch.read_namespaced_job_status("migrate", namespace)
    assert read.status is not None
    assert read.status.succeeded == 1
