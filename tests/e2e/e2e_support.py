"""What the end-to-end tests build on: real workloads (the web image), the chart installed by
helm, and waiting for states. Everything here runs inside the cluster's network namespace, so
pod IPs and ClusterIPs are reachable from the test process itself; Service names are resolved
by asking the cluster's DNS (the machine's resolver is outside the namespace)."""

from __future__ import annotations

import json
import os
import subprocess
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import waiting

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "charts" / "orchestration-engine"
GROUP, VERSION = "orchestration.eoe.dev", "v1alpha1"
WEB_IMAGE = "orchestration-engine-e2e/web:1"
OPERATOR_REPOSITORY = "orchestration-engine"
# EOE_E2E_OPERATOR_TAG: run the tier against an operator image built under another tag
# (`IMAGE=orchestration-engine:<tag> build_images.py operator`), leaving :dev as it is.
OPERATOR_TAG = os.environ.get("EOE_E2E_OPERATOR_TAG") or "dev"
RELEASE = "eoe"
RELEASE_NAMESPACE = "eoe-system"
# Pod Security's restricted level, enforced on every namespace the tests make, as platform
# teams enforce it: the chart's pod and the test workloads must pass it.
RESTRICTED = {
    "pod-security.kubernetes.io/enforce": "restricted",
    "pod-security.kubernetes.io/enforce-version": "latest",
}
RESTRICTED_CONTAINER = {
    "allowPrivilegeEscalation": False,
    "runAsNonRoot": True,
    "capabilities": {"drop": ["ALL"]},
    "seccompProfile": {"type": "RuntimeDefault"},
}

T = TypeVar("T")


def cache_root() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "orchestration-engine"


def helm_binary() -> Path:
    return cache_root() / "bin" / "helm"


def wait_for(predicate: Callable[[], T], timeout: float, what: str, interval: float = 0.2) -> T:
    """The predicate's first truthy value; exceptions count as "not yet" until the deadline
    (a cluster's API and services fail in passing while they start)."""
    return waiting.wait_for(predicate, timeout, what, interval, tolerate=(Exception,))


# -- workloads ------------------------------------------------------------------------------


def web_deployment(
    name: str, *, app: str, role: str, replicas: int = 1, readiness_period: int = 1
) -> dict[str, Any]:
    """The web image as a Deployment whose pods carry ``app`` and ``role`` and are ready while
    /healthz answers 200 (POST /break makes it 503)."""
    labels = {"app": app, "role": role}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "labels": labels},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "terminationGracePeriodSeconds": 5,
                    "securityContext": {"runAsNonRoot": True, "runAsUser": 65532},
                    "containers": [
                        {
                            "name": "web",
                            "image": WEB_IMAGE,
                            "imagePullPolicy": "Never",
                            "command": ["python", "/app/server.py"],
                            "env": [
                                {"name": "NAME", "value": name},
                                {"name": "ROLE", "value": role},
                            ],
                            "ports": [{"containerPort": 8080, "name": "http"}],
                            "readinessProbe": {
                                "httpGet": {"path": "/healthz", "port": 8080},
                                "periodSeconds": readiness_period,
                                "failureThreshold": 1,
                                "successThreshold": 1,
                            },
                            "resources": {"requests": {"cpu": "10m", "memory": "32Mi"}},
                            "securityContext": RESTRICTED_CONTAINER,
                        }
                    ],
                },
            },
        },
    }


def web_service(name: str, selector: dict[str, str]) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name},
        "spec": {"selector": selector, "ports": [{"port": 8080, "targetPort": 8080}]},
    }


def job_template(script: str, *, backoff_limit: int = 0) -> dict[str, Any]:
    """A `job` step's template: ``script`` run by the web image's Python."""
    return {
        "backoffLimit": backoff_limit,
        "template": {
            "spec": {
                "restartPolicy": "Never",
                "securityContext": {"runAsNonRoot": True, "runAsUser": 65532},
                "containers": [
                    {
                        "name": "task",
                        "image": WEB_IMAGE,
                        "imagePullPolicy": "Never",
                        "command": ["python", "-c", script],
                        "securityContext": RESTRICTED_CONTAINER,
                    }
                ],
            }
        },
    }


def create(kube: Any, namespace: str, body: dict[str, Any]) -> None:
    from kubernetes import utils

    utils.create_from_dict(kube, body, namespace=namespace)


def ready_replicas(kube: Any, namespace: str, name: str) -> int:
    from kubernetes import client

    status = client.AppsV1Api(kube).read_namespaced_deployment_status(name, namespace).status
    return int(status.ready_replicas or 0)


def pods(kube: Any, namespace: str, selector: str) -> list[Any]:
    from kubernetes import client

    items = client.CoreV1Api(kube).list_namespaced_pod(namespace, label_selector=selector).items
    return [p for p in items if p.metadata.deletion_timestamp is None]


def running_ready_pods(kube: Any, namespace: str, selector: str) -> list[Any]:
    return [
        p
        for p in pods(kube, namespace, selector)
        if p.status.phase == "Running"
        and any(c.type == "Ready" and c.status == "True" for c in p.status.conditions or [])
    ]


def pod_post(pod: Any, path: str) -> None:
    """POST to one pod's web server at its pod IP (reachable: the tests share its network)."""
    request = urllib.request.Request(f"http://{pod.status.pod_ip}:8080{path}", method="POST")
    with urllib.request.urlopen(request, timeout=5):
        pass


def get_json(url: str, timeout: float = 2.0) -> dict[str, Any] | None:
    """The JSON a web pod answers, or None on an error or a refusal."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return json.loads(response.read())  # type: ignore[no-any-return]
    except (urllib.error.URLError, OSError, ValueError):
        return None


def cluster_ip(kube: Any, namespace: str, name: str) -> str:
    from kubernetes import client

    return str(client.CoreV1Api(kube).read_namespaced_service(name, namespace).spec.cluster_ip)


# -- the operator's custom objects ------------------------------------------------------------


def custom_api(kube: Any) -> Any:
    from kubernetes import client

    return client.CustomObjectsApi(kube)


def service_status(kube: Any, namespace: str, name: str) -> dict[str, Any]:
    obj = custom_api(kube).get_namespaced_custom_object(
        GROUP, VERSION, namespace, "orchestratedservices", name
    )
    return obj.get("status") or {}


def workflow(kube: Any, namespace: str, name: str) -> dict[str, Any]:
    return custom_api(kube).get_namespaced_custom_object(  # type: ignore[no-any-return]
        GROUP, VERSION, namespace, "orchestrationworkflows", name
    )


def workflow_phase(kube: Any, namespace: str, name: str) -> str | None:
    return (workflow(kube, namespace, name).get("status") or {}).get("phase")


def create_custom(kube: Any, namespace: str, body: dict[str, Any]) -> None:
    plural = {
        "OrchestratedService": "orchestratedservices",
        "OrchestrationWorkflow": "orchestrationworkflows",
    }[body["kind"]]
    body = {"apiVersion": f"{GROUP}/{VERSION}", **body}
    custom_api(kube).create_namespaced_custom_object(GROUP, VERSION, namespace, plural, body)


# -- helm -------------------------------------------------------------------------------------


def helm(kubeconfig: Path, *args: str, timeout: float = 300) -> str:
    result = subprocess.run(
        [str(helm_binary()), "--kubeconfig", str(kubeconfig), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"helm {' '.join(args)} failed:\n{result.stdout}{result.stderr}")
    return result.stdout


def operator_values(*, image_tag: str = OPERATOR_TAG, **extra: Any) -> list[str]:
    """`--set` arguments for the chart as the e2e tier installs it: the local image (never
    pulled), the store on the PersistentVolume the test made (no dynamic provisioner here)."""
    values = [
        "--set",
        f"image.repository={OPERATOR_REPOSITORY}",
        "--set",
        f"image.tag={image_tag}",
        "--set",
        "image.pullPolicy=Never",
        "--set",
        "persistence.storageClass=-",
        "--set",
        "persistence.size=1Gi",
        # A failed test service clears its halt in seconds, not a minute: tests run one
        # after another against one operator.
        "--set-json",
        'operator.extraArgs=["--halt-settle-seconds=5"]',
    ]
    for key, value in extra.items():
        values += ["--set-json", f"{key}={json.dumps(value)}"]
    return values
