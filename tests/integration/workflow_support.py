"""Helpers for the workflow integration tests: step bodies, readers, and playing the
kubelet's part for Jobs (the objects come from tests/builders.py, the counting HTTP server
from tests/http_support.py)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from integration_support import GROUP, VERSION, wait_for

import builders
from builders import workflow
from orchestration_engine.actions.base import WORKFLOW_LABEL

__all__ = ["workflow"]  # the builder, for the workflow tests' vocabulary in one import

PLURAL = "orchestrationworkflows"
TERMINAL = {"Succeeded", "Failed", "RolledBack", "Cancelled"}


def create_service(custom: Any, namespace: str, name: str, spec: dict[str, Any]) -> None:
    """An OrchestratedService with this spec."""
    custom.create_namespaced_custom_object(
        GROUP,
        VERSION,
        namespace,
        "orchestratedservices",
        builders.service(name, spec),
    )


def delay(name: str, seconds: float, **step: Any) -> dict[str, Any]:
    return {"name": name, "action": "delay", "params": {"seconds": seconds}, **step}


def create(custom: Any, namespace: str, body: dict[str, Any]) -> None:
    custom.create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, body)


def read(custom: Any, namespace: str, name: str) -> dict[str, Any]:
    return custom.get_namespaced_custom_object(  # type: ignore[no-any-return]
        GROUP, VERSION, namespace, PLURAL, name
    )


def status(custom: Any, namespace: str, name: str) -> dict[str, Any]:
    return read(custom, namespace, name).get("status") or {}


def phase(custom: Any, namespace: str, name: str) -> str | None:
    return status(custom, namespace, name).get("phase")


def wait_phase(
    custom: Any, namespace: str, name: str, wanted: str | set[str], timeout: float = 30
) -> dict[str, Any]:
    wanted_set = {wanted} if isinstance(wanted, str) else wanted
    return wait_for(  # type: ignore[no-any-return]
        lambda: (s := status(custom, namespace, name)).get("phase") in wanted_set and s,
        timeout=timeout,
        what=f"workflow {name} in {sorted(wanted_set)} "
        f"(now {status(custom, namespace, name).get('phase')})",
    )


def conditions(status_: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["type"]: c for c in status_.get("conditions") or []}


def steps(status_: dict[str, Any], key: str = "steps") -> dict[str, dict[str, Any]]:
    return {s["name"]: s for s in status_.get(key) or []}


def moment(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def start_job_workflow(custom: Any, kube_api: Any, namespace: str, name: str, step: str) -> Any:
    """A workflow of one ``job`` step, once its Job exists; returns the Job."""
    from kubernetes import client

    create(
        custom,
        namespace,
        workflow(name, [gate(step)]),
    )
    batch = client.BatchV1Api(kube_api)
    return wait_for(lambda: batch.list_namespaced_job(namespace).items, what="the step's Job")[0]


def finish_job(kube_api: Any, namespace: str, name: str, *, succeed: bool = True) -> None:
    """Play the Job controller and kubelet: mark the Job finished through its status."""
    from kubernetes import client

    batch = client.BatchV1Api(kube_api)
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    if succeed:
        job_conditions = [
            {"type": "SuccessCriteriaMet", "status": "True", "lastTransitionTime": now},
            {"type": "Complete", "status": "True", "lastTransitionTime": now},
        ]
        body = {
            "status": {
                "startTime": now,
                "completionTime": now,
                "succeeded": 1,
                "conditions": job_conditions,
            }
        }
    else:
        job_conditions = [
            {
                "type": "FailureTarget",
                "status": "True",
                "reason": "BackoffLimitExceeded",
                "lastTransitionTime": now,
            },
            {
                "type": "Failed",
                "status": "True",
                "reason": "BackoffLimitExceeded",
                "message": "Job has reached the specified backoff limit",
                "lastTransitionTime": now,
            },
        ]
        body = {"status": {"startTime": now, "failed": 1, "conditions": job_conditions}}
    batch.patch_namespaced_job_status(name, namespace, body)


JOB_TEMPLATE = {
    "backoffLimit": 0,
    "template": {
        "spec": {
            "restartPolicy": "Never",
            "containers": [{"name": "main", "image": "busybox", "command": ["true"]}],
        }
    },
}


def gate(name: str, **step: Any) -> dict[str, Any]:
    """A ``job`` step: it runs until the test ends it with ``open_gate``, so a test can look
    at what waits behind it for as long as it needs, however slow the machine."""
    return {"name": name, "action": "job", "params": {"template": JOB_TEMPLATE}, **step}


def open_gate(kube_api: Any, namespace: str, workflow_name: str) -> None:
    """End the ``gate`` Job of that workflow successfully (it must be its only Job)."""
    from kubernetes import client

    batch = client.BatchV1Api(kube_api)
    selector = f"{WORKFLOW_LABEL}={workflow_name}"
    jobs = wait_for(
        lambda: batch.list_namespaced_job(namespace, label_selector=selector).items,
        what=f"the Job of {workflow_name}",
    )
    finish_job(kube_api, namespace, jobs[0].metadata.name)
