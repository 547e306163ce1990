"""The end-to-end tier: one real single-node cluster per session (tests/localcluster), the
operator installed into it by `helm install` of its own chart from its own image, and a
namespace per test under restricted Pod Security.

`make e2e` runs this suite inside a network namespace of its own; run elsewhere (a bare
`pytest tests`), every test here errors with how to run it: `make test` leaves the directory
out (`--ignore=tests/e2e`).
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

_TESTS_DIR = str(Path(__file__).resolve().parents[1])
if _TESTS_DIR not in sys.path:
    sys.path.insert(0, _TESTS_DIR)

from e2e_operator_support import namespace_gone  # noqa: E402
from e2e_support import (  # noqa: E402
    RELEASE,
    RELEASE_NAMESPACE,
    RESTRICTED,
    helm,
    operator_values,
    wait_for,
)

from localcluster.node import NodeCluster  # noqa: E402

# Whole-cluster operations (a rollout, a helm upgrade, a namespace's deletion) take longer
# than the per-test default leaves when the machine is busy.
pytestmark = pytest.mark.timeout(600)


@pytest.fixture(scope="session")
def node_cluster() -> Iterator[NodeCluster]:
    with NodeCluster() as cluster:
        yield cluster


@pytest.fixture(scope="session")
def control_plane(node_cluster: NodeCluster) -> SimpleNamespace:
    """The root conftest's fixtures (kube_api, custom...) then talk to the real cluster: the
    same attributes as its ControlPlane."""
    return SimpleNamespace(
        kubeconfig=node_cluster.kubeconfig, server=node_cluster.server, local=None
    )


def _create_namespace(kube: Any, name: str, labels: dict[str, str] | None = None) -> None:
    from kubernetes import client

    core = client.CoreV1Api(kube)
    core.create_namespace(
        client.V1Namespace(
            metadata=client.V1ObjectMeta(name=name, labels={**RESTRICTED, **(labels or {})})
        )
    )


@pytest.fixture(scope="session")
def store_volume(node_cluster: NodeCluster, kube_api: Any) -> Path:
    """A PersistentVolume for the chart's claim: there is no dynamic provisioner, as on many
    bare-metal clusters. A hostPath on the one node, owned by the operator's user (hostPath
    volumes ignore fsGroup)."""
    from kubernetes import client

    path = node_cluster.workdir / "volumes" / "store"
    path.mkdir(parents=True)
    shutil.chown(path, 65532, 65532)
    client.CoreV1Api(kube_api).create_persistent_volume(
        {
            "apiVersion": "v1",
            "kind": "PersistentVolume",
            "metadata": {"name": "eoe-store"},
            "spec": {
                "capacity": {"storage": "1Gi"},
                "accessModes": ["ReadWriteOnce"],
                "persistentVolumeReclaimPolicy": "Retain",
                "storageClassName": "",
                "hostPath": {"path": str(path), "type": "Directory"},
            },
        }
    )
    return path


def deployment_available(kube: Any, namespace: str, name: str) -> bool:
    from kubernetes import client

    status = client.AppsV1Api(kube).read_namespaced_deployment_status(name, namespace).status
    return any(c.type == "Available" and c.status == "True" for c in status.conditions or []) and (
        (status.updated_replicas or 0) == (status.replicas or 0) == (status.ready_replicas or 0)
    )


@pytest.fixture(scope="session")
def installed_operator(node_cluster: NodeCluster, kube_api: Any, store_volume: Path) -> str:
    """`helm install` of the chart with the local image: the operator runs as a Pod under the
    chart's ServiceAccount and RBAC, in a namespace enforcing restricted Pod Security."""
    _create_namespace(kube_api, RELEASE_NAMESPACE)
    helm(
        node_cluster.kubeconfig,
        "install",
        RELEASE,
        str(Path(__file__).resolve().parents[2] / "charts/orchestration-engine"),
        "--namespace",
        RELEASE_NAMESPACE,
        *operator_values(),
        "--wait",
        "--timeout",
        "300s",
    )
    name = f"{RELEASE}-orchestration-engine"
    wait_for(
        lambda: deployment_available(kube_api, RELEASE_NAMESPACE, name), 300, "the operator pod"
    )
    return name


@pytest.fixture(scope="session")
def crds(installed_operator: str) -> None:
    """The chart installed them (its crds/ directory), as it does for users."""


@pytest.fixture(scope="session")
def healthy_fleet(kube_api: Any, installed_operator: str) -> str:
    """Services that stay healthy all session, as a real fleet has: one test's broken service
    is then a minority, as in production, and does not raise the emergency halt."""
    from e2e_support import create, create_custom, web_deployment, web_service

    name = "e2e-fleet"
    _create_namespace(kube_api, name)
    for index in range(3):
        app = f"steady-{index}"
        create(kube_api, name, web_deployment(app, app=app, role="primary", readiness_period=5))
        create(kube_api, name, web_service(app, {"app": app}))
        create_custom(
            kube_api,
            name,
            {
                "kind": "OrchestratedService",
                "metadata": {"name": app},
                "spec": {
                    "serviceType": "web",
                    "workloadRef": {"kind": "Deployment", "name": app},
                    "healthCheck": {
                        "http": {"url": f"http://{app}.{name}.svc:8080/healthz"},
                        "periodSeconds": 10,
                    },
                },
            },
        )
    return name


def _namespace_name(test_name: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", test_name.lower()).strip("-")
    slug = slug.removeprefix("test-")[:40].strip("-")
    return f"e2e-{slug}-{secrets.token_hex(2)}"


@pytest.fixture
def namespace(
    kube_api: Any, installed_operator: str, healthy_fleet: str, request: pytest.FixtureRequest
) -> Iterator[str]:
    """A namespace under restricted Pod Security, deleted afterwards by the real namespace
    controller (and the operator's finalizers), not by the test."""
    from kubernetes import client

    name = _namespace_name(request.node.name)
    _create_namespace(kube_api, name)
    yield name
    with contextlib.suppress(client.ApiException):
        client.CoreV1Api(kube_api).delete_namespace(name)
    if os.environ.get("EOE_E2E_WAIT_NAMESPACES"):
        wait_for(lambda: namespace_gone(kube_api, name), 120, f"namespace {name} to go")
