"""OrchestrationWorkflow steps against real pods: a `restart` is a real rollout, a `scale`
changes how many pods run, `waitHealthy` waits on real readiness probes, a `job` step's Job
runs in a real pod, and a failed Job rolls the workflow back on the real workload.

Every workflow here is CRITICAL: an emergency halt (a test service broken on purpose, or
another module's leftovers while its namespace is being deleted) would otherwise turn a
running workflow `Halted`, and the tests assert on Running and on the steps' results, not on
the halt (docs/engine.md, "Emergency halt").
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import pytest
from e2e_support import (
    create,
    create_custom,
    job_template,
    pod_post,
    pods,
    running_ready_pods,
    service_status,
    wait_for,
    web_deployment,
    workflow,
)

# The first test also starts the cluster and installs the operator.
pytestmark = pytest.mark.timeout(600)

FINISHED = {"Succeeded", "Failed", "RolledBack", "Cancelled"}


def _service(name: str) -> dict[str, Any]:
    """An OrchestratedService whose health is its workload's readiness alone: no check of its
    own, so health follows the kubelet's probes and the Deployment's status."""
    return {
        "kind": "OrchestratedService",
        "metadata": {"name": name},
        "spec": {
            "serviceType": "web",
            "priority": "CRITICAL",
            "workloadRef": {"kind": "Deployment", "name": name},
            "healthCheck": {"periodSeconds": 1},
        },
    }


def _workflow(
    name: str, steps: list[dict[str, Any]], rollback: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    spec: dict[str, Any] = {"priority": "CRITICAL", "steps": steps}
    if rollback:
        spec["rollback"] = rollback
    return {"kind": "OrchestrationWorkflow", "metadata": {"name": name}, "spec": spec}


def _shop(kube: Any, namespace: str, *, replicas: int) -> list[Any]:
    """The web Deployment `shop` and its OrchestratedService, HEALTHY: the operator has seen
    the service (a step naming it resolves it) and its pods are ready. Returns the pods."""
    create(kube, namespace, web_deployment("shop", app="shop", role="primary", replicas=replicas))
    create_custom(kube, namespace, _service("shop"))
    wait_for(
        lambda: service_status(kube, namespace, "shop").get("health") == "HEALTHY",
        180,
        "the service HEALTHY",
    )
    return wait_for(
        lambda: (p := running_ready_pods(kube, namespace, "app=shop")) and len(p) == replicas and p,
        60,
        f"{replicas} ready shop pods",
    )


def _finished(kube: Any, namespace: str, name: str, timeout: float = 180) -> dict[str, Any]:
    return wait_for(
        lambda: (
            (w := workflow(kube, namespace, name)).get("status", {}).get("phase") in FINISHED and w
        ),
        timeout,
        f"workflow {name} to finish",
    )["status"]


def _steps(status: dict[str, Any], key: str = "steps") -> dict[str, dict[str, Any]]:
    return {s["name"]: s for s in status.get(key) or []}


def _deployment(kube: Any, namespace: str, name: str) -> Any:
    from kubernetes import client

    return client.AppsV1Api(kube).read_namespaced_deployment(name, namespace)


def _rollout_complete(kube: Any, namespace: str, name: str) -> bool:
    """What `kubectl rollout status` waits for: the controller saw the latest template, every
    replica runs it and is available, and no pod of an older ReplicaSet is left."""
    deployment = _deployment(kube, namespace, name)
    status, want = deployment.status, deployment.spec.replicas
    return bool(
        (status.observed_generation or 0) >= deployment.metadata.generation
        and (status.updated_replicas or 0) == want
        and (status.replicas or 0) == want
        and (status.available_replicas or 0) == want
        and any(
            c.type == "Progressing" and c.reason == "NewReplicaSetAvailable"
            for c in status.conditions or []
        )
    )


def _job(kube: Any, namespace: str, name: str) -> Any:
    from kubernetes import client

    return client.BatchV1Api(kube).read_namespaced_job(name, namespace)


def _holds(predicate: Any, seconds: float, what: str) -> None:
    """``predicate`` stays true for ``seconds``: fails at the first moment it is not."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = predicate()
        assert value, f"{what} stopped holding: {value!r}"
        time.sleep(0.5)


def _uids(items: list[Any]) -> set[str]:
    return {p.metadata.uid for p in items}


def test_restart_step_rolls_every_pod(kube_api: Any, namespace: str) -> None:
    before = _uids(_shop(kube_api, namespace, replicas=2))
    create_custom(
        kube_api,
        namespace,
        _workflow(
            "roll", [{"name": "restart", "action": "restart", "params": {"service": "shop"}}]
        ),
    )
    status = _finished(kube_api, namespace, "roll")
    assert status["phase"] == "Succeeded", status
    assert "restartedAt" in _steps(status)["restart"]["message"]
    template = _deployment(kube_api, namespace, "shop").spec.template.metadata
    assert "kubectl.kubernetes.io/restartedAt" in (template.annotations or {})

    # The Deployment controller rolled the pods: the rollout completes with two new pods,
    # ready, and none of the pods from before the step.
    wait_for(lambda: _rollout_complete(kube_api, namespace, "shop"), 180, "the rollout")
    after = wait_for(
        lambda: (
            (p := _uids(running_ready_pods(kube_api, namespace, "app=shop")))
            and len(p) == 2
            and len(_uids(pods(kube_api, namespace, "app=shop"))) == 2
            and p
        ),
        120,
        "two ready pods and no old one",
    )
    assert not after & before, f"pods kept through the restart: {after & before}"


def test_scale_step_changes_the_running_pods(kube_api: Any, namespace: str) -> None:
    (first,) = _shop(kube_api, namespace, replicas=1)
    create_custom(
        kube_api,
        namespace,
        _workflow(
            "grow",
            [
                {"name": "up", "action": "scale", "params": {"service": "shop", "replicas": 3}},
                # docs/workflows.md: a scale step does not wait for the replicas; this does.
                {"name": "ready", "action": "waitHealthy", "dependsOn": ["up"],
                 "params": {"services": ["shop"]}, "timeoutSeconds": 300},
            ],
        ),
    )  # fmt: skip
    status = _finished(kube_api, namespace, "grow", timeout=300)
    # Read at once, not waited for: the waitHealthy step said the service was HEALTHY, which
    # at three desired replicas means three ready pods, and ready pods stay ready here.
    ready = running_ready_pods(kube_api, namespace, "app=shop")
    assert status["phase"] == "Succeeded", status
    assert len(ready) == 3, f"{len(ready)} ready pods when the workflow succeeded"
    assert first.metadata.uid in _uids(ready), "scaling replaced the pod that was running"
    assert _deployment(kube_api, namespace, "shop").spec.replicas == 3


def test_wait_healthy_waits_for_real_readiness(kube_api: Any, namespace: str) -> None:
    shop = _shop(kube_api, namespace, replicas=2)
    for pod in shop:
        pod_post(pod, "/break")
    wait_for(
        lambda: service_status(kube_api, namespace, "shop").get("health") == "FAILED",
        90,
        "the service FAILED once the kubelet finds no pod ready",
    )
    create_custom(
        kube_api,
        namespace,
        _workflow(
            "gate",
            [{"name": "healthy", "action": "waitHealthy", "params": {"services": ["shop"]},
              "timeoutSeconds": 300}],
        ),
    )  # fmt: skip

    def waiting() -> dict[str, Any] | None:
        status = workflow(kube_api, namespace, "gate").get("status") or {}
        step = _steps(status).get("healthy") or {}
        ok = status.get("phase") == "Running" and step.get("phase") == "Running"
        return status if ok else None

    wait_for(waiting, 120, "the workflow Running in its waitHealthy step")
    # While no pod is ready the step keeps waiting: over this window (ten readiness
    # probes and health decisions) it neither succeeds nor fails.
    _holds(
        lambda: waiting() and not running_ready_pods(kube_api, namespace, "app=shop"),
        10,
        "the step waiting while no pod is ready",
    )

    healed = datetime.now(UTC).replace(microsecond=0)
    for pod in pods(kube_api, namespace, "app=shop"):
        pod_post(pod, "/heal")
    status = _finished(kube_api, namespace, "gate")
    assert status["phase"] == "Succeeded", status
    step = _steps(status)["healthy"]
    assert step["message"] == "shop HEALTHY"
    assert step["attempts"] == 1
    finished_at = datetime.fromisoformat(step["finishedAt"].replace("Z", "+00:00"))
    assert finished_at >= healed, f"the step ended at {finished_at}, before the heal at {healed}"
    assert len(running_ready_pods(kube_api, namespace, "app=shop")) == 2


def test_job_step_runs_a_real_job(kube_api: Any, namespace: str) -> None:
    from kubernetes import client

    script = "import os; print('migrated by', os.environ['HOSTNAME'])"
    create_custom(
        kube_api,
        namespace,
        _workflow("migrate", [{"name": "schema", "action": "job",
                               "params": {"template": job_template(script)}}]),
    )  # fmt: skip
    status = _finished(kube_api, namespace, "migrate")
    assert status["phase"] == "Succeeded", status
    assert _steps(status)["schema"]["message"] == "job migrate-schema completed"

    job = _job(kube_api, namespace, "migrate-schema")
    assert job.status.succeeded == 1
    assert not job.status.failed
    (pod,) = (
        client.CoreV1Api(kube_api)
        .list_namespaced_pod(namespace, label_selector="job-name=migrate-schema")
        .items
    )
    assert pod.status.phase == "Succeeded"
    # The kubelet ran the script in that pod: its log, read back through the API server.
    log = client.CoreV1Api(kube_api).read_namespaced_pod_log(pod.metadata.name, namespace)
    assert log.strip() == f"migrated by {pod.metadata.name}"


def test_failed_job_rolls_back_on_real_pods(kube_api: Any, namespace: str) -> None:
    from kubernetes import client

    _shop(kube_api, namespace, replicas=1)
    create_custom(
        kube_api,
        namespace,
        _workflow(
            "upgrade",
            [
                {"name": "up", "action": "scale", "params": {"service": "shop", "replicas": 3}},
                {"name": "ready", "action": "waitHealthy", "dependsOn": ["up"],
                 "params": {"services": ["shop"]}, "timeoutSeconds": 300},
                {"name": "migrate", "action": "job", "dependsOn": ["ready"],
                 "params": {"template": job_template("import sys; sys.exit(1)")}},
                {"name": "after", "action": "scale", "dependsOn": ["migrate"],
                 "params": {"service": "shop", "replicas": 5}},
            ],
            rollback=[
                {"name": "down", "action": "scale", "params": {"service": "shop", "replicas": 1}},
            ],
        ),
    )  # fmt: skip
    status = _finished(kube_api, namespace, "upgrade", timeout=300)
    # docs/workflows.md: a failed step with a rollback that completes ends RolledBack, with
    # the failure's reason kept.
    assert status["phase"] == "RolledBack", status
    assert status["reason"] == "StepFailed"
    steps = _steps(status)
    assert [steps[n]["phase"] for n in ("up", "ready", "migrate", "after")] == [
        "Succeeded", "Succeeded", "Failed", "Skipped",
    ]  # fmt: skip
    assert "job upgrade-migrate failed: BackoffLimitExceeded" in steps["migrate"]["message"]
    assert _steps(status, "rollbackSteps")["down"]["phase"] == "Succeeded"

    # The Job really ran and failed: one failed pod whose container exited 1; a finished Job
    # is left for its logs.
    job = _job(kube_api, namespace, "upgrade-migrate")
    assert job.status.failed == 1
    assert not job.status.succeeded
    (pod,) = (
        client.CoreV1Api(kube_api)
        .list_namespaced_pod(namespace, label_selector="job-name=upgrade-migrate")
        .items
    )
    assert pod.status.container_statuses[0].state.terminated.exit_code == 1

    # The rollback scaled the real workload back: one pod left running, the others gone.
    assert _deployment(kube_api, namespace, "shop").spec.replicas == 1
    wait_for(
        lambda: (
            len(running_ready_pods(kube_api, namespace, "app=shop")) == 1
            and (_deployment(kube_api, namespace, "shop").status.replicas or 0) == 1
            and len(pods(kube_api, namespace, "app=shop")) == 1
        ),
        120,
        "one shop pod after the rollback",
    )
