"""What the scenarios about the operator's own pods read: its pods, the leader-election Lease
and each pod's leader gauge, a workflow's Jobs and their pods, and the store's rows."""

from __future__ import annotations

import sqlite3
import urllib.request
from pathlib import Path
from typing import Any

from e2e_support import RESTRICTED_CONTAINER, WEB_IMAGE

LEASE_NAME = "orchestration-engine-leader"
WORKFLOW_UID_LABEL = "orchestration.eoe.dev/workflow-uid"
OPERATOR_SELECTOR = "app.kubernetes.io/component=operator"


def sleeping_job(seconds: int) -> dict[str, Any]:
    """A `job` step's template that runs for ``seconds``: long enough for an operator to die
    and be replaced while it runs."""
    return {
        "backoffLimit": 0,
        "template": {
            "spec": {
                "restartPolicy": "Never",
                "terminationGracePeriodSeconds": 1,
                "securityContext": {"runAsNonRoot": True, "runAsUser": 65532},
                "containers": [
                    {
                        "name": "task",
                        "image": WEB_IMAGE,
                        "imagePullPolicy": "Never",
                        "command": ["python", "-c", f"import time; time.sleep({seconds})"],
                        "securityContext": RESTRICTED_CONTAINER,
                    }
                ],
            }
        },
    }


def job_workflow(name: str, job_seconds: int) -> dict[str, Any]:
    """A `job` step, then a step that can only start once the Job's step has Succeeded."""
    return {
        "kind": "OrchestrationWorkflow",
        "metadata": {"name": name},
        "spec": {
            "priority": "HIGH",
            "steps": [
                {"name": "work", "action": "job", "timeoutSeconds": 600,
                 "params": {"template": sleeping_job(job_seconds)}},
                {"name": "after", "action": "delay", "params": {"seconds": 1},
                 "dependsOn": ["work"]},
            ],
        },
    }  # fmt: skip


def step_statuses(obj: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {s["name"]: s for s in (obj.get("status") or {}).get("steps") or []}


def operator_pods(kube: Any, namespace: str) -> list[Any]:
    """Every operator pod of the namespace, terminating ones too: a pod that is stopping may
    still act, and the leadership checks must see it."""
    from kubernetes import client

    return list(
        client.CoreV1Api(kube)
        .list_namespaced_pod(namespace, label_selector=OPERATOR_SELECTOR)
        .items
    )


def ready(pod: Any) -> bool:
    return pod.metadata.deletion_timestamp is None and any(
        c.type == "Ready" and c.status == "True" for c in pod.status.conditions or []
    )


def lease_holder(kube: Any, namespace: str) -> str | None:
    from kubernetes import client

    try:
        lease = client.CoordinationV1Api(kube).read_namespaced_lease(LEASE_NAME, namespace)
    except client.ApiException as error:
        if error.status == 404:
            return None
        raise
    return lease.spec.holder_identity or None


def holder_pod(holder: str | None) -> str | None:
    """The pod name in a holder identity (``<hostname>_<pid>_<random>``; a pod's hostname is
    its name)."""
    return holder.rsplit("_", 2)[0] if holder else None


def leader_gauge(pod: Any, port: int = 8080) -> float | None:
    """The pod's eoe_leader gauge from its /metrics, or None when it does not answer."""
    if not pod.status.pod_ip:
        return None
    try:
        with urllib.request.urlopen(f"http://{pod.status.pod_ip}:{port}/metrics", timeout=2) as r:
            text = r.read().decode()
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith("eoe_leader ") or line.startswith("eoe_leader{"):
            return float(line.rsplit(" ", 1)[1])
    return None


def workflow_jobs(kube: Any, namespace: str, uid: str) -> list[Any]:
    from kubernetes import client

    selector = f"{WORKFLOW_UID_LABEL}={uid}"
    return list(
        client.BatchV1Api(kube).list_namespaced_job(namespace, label_selector=selector).items
    )


def job_pods(kube: Any, namespace: str, job: str) -> list[Any]:
    """Every pod the Job made, finished or deleting ones included."""
    from kubernetes import client

    core = client.CoreV1Api(kube)
    return list(core.list_namespaced_pod(namespace, label_selector=f"job-name={job}").items)


def job_complete(job: Any) -> bool:
    return any(c.type == "Complete" and c.status == "True" for c in job.status.conditions or [])


def sqlite_workflow_rows(db: Path, namespace: str, name: str) -> list[tuple[int, str]]:
    """(id, status) of the workflow's rows in the SQLite store, read-only beside the operator."""
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10) as connection:
        return [
            (int(row[0]), str(row[1]))
            for row in connection.execute(
                "SELECT id, status FROM workflow_management"
                " WHERE namespace = ? AND workflow_name = ? ORDER BY id",
                (namespace, name),
            )
        ]


def namespace_gone(kube: Any, name: str) -> bool:
    from kubernetes import client

    try:
        client.CoreV1Api(kube).read_namespace(name)
    except client.ApiException as error:
        if error.status == 404:
            return True
        raise
    return False
