"""Workflows run against the real API server: order, concurrency, retries, rollback,
success criteria, deadline, suspend, Events, and Jobs cleaned up with their workflow."""

from __future__ import annotations

from typing import Any

import pytest
from integration_support import GROUP, VERSION, OperatorProcess, wait_for
from workflow_support import (
    conditions,
    create,
    create_service,
    delay,
    finish_job,
    moment,
    start_job_workflow,
    status,
    steps,
    wait_phase,
    workflow,
)

from http_support import CountingServer

pytestmark = pytest.mark.cluster


def test_a_chain_runs_in_order_and_succeeds(
    module_operator: OperatorProcess, custom: Any, namespace: str
) -> None:
    create(
        custom,
        namespace,
        workflow(
            "chain",
            [
                delay("a", 0.3),
                delay("b", 0.3, dependsOn=["a"]),
                delay("c", 0.3, dependsOn=["b"]),
            ],
        ),
    )
    final = wait_phase(custom, namespace, "chain", "Succeeded")
    by_name = steps(final)
    assert [by_name[n]["phase"] for n in "abc"] == ["Succeeded"] * 3
    assert moment(by_name["a"]["finishedAt"]) <= moment(by_name["b"]["startedAt"])
    assert moment(by_name["b"]["finishedAt"]) <= moment(by_name["c"]["startedAt"])
    assert all(by_name[n]["attempts"] == 1 for n in "abc")
    assert final["progress"] == 100.0
    found = conditions(final)
    assert found["Ready"]["status"] == "True"
    assert found["Succeeded"]["status"] == "True"
    assert found["Admitted"]["status"] == "True"
    assert final["observedGeneration"] == 1
    assert final.get("queuePosition") is None


def test_independent_branches_run_concurrently(
    module_operator: OperatorProcess, custom: Any, namespace: str
) -> None:
    create(
        custom,
        namespace,
        workflow(
            "branches",
            [
                delay("left", 2),
                delay("right", 2),
                delay("join", 0, dependsOn=["left", "right"]),
            ],
        ),
    )
    final = wait_phase(custom, namespace, "branches", "Succeeded")
    by_name = steps(final)
    left, right = by_name["left"], by_name["right"]
    # Both started before either finished: they overlapped.
    assert moment(left["startedAt"]) < moment(right["finishedAt"])
    assert moment(right["startedAt"]) < moment(left["finishedAt"])
    assert moment(by_name["join"]["startedAt"]) >= max(
        moment(left["finishedAt"]), moment(right["finishedAt"])
    )


def test_a_failing_step_retries_then_rolls_back_in_reverse(
    module_operator: OperatorProcess, custom: Any, namespace: str, server: CountingServer
) -> None:
    server.answers["/fail"] = 500
    create(
        custom,
        namespace,
        workflow(
            "rollback",
            [
                delay("prepare", 0),
                {
                    "name": "call",
                    "action": "http",
                    "params": {"url": server.url("/fail"), "method": "POST"},
                    "retries": 1,
                    "dependsOn": ["prepare"],
                },
                delay("never", 0, dependsOn=["call"]),
            ],
            rollback=[
                {"name": "undo-1", "action": "http", "params": {"url": server.url("/undo-1")}},
                {"name": "undo-2", "action": "http", "params": {"url": server.url("/undo-2")}},
            ],
        ),
    )
    final = wait_phase(custom, namespace, "rollback", {"RolledBack", "Failed"})
    assert final["phase"] == "RolledBack", final
    assert server.hits["/fail"] == 2  # the first attempt and one retry
    assert steps(final)["call"]["attempts"] == 2
    assert steps(final)["call"]["phase"] == "Failed"
    assert "500" in steps(final)["call"]["message"]
    assert steps(final)["never"]["phase"] == "Skipped"
    assert [p for p in server.order if p.startswith("/undo")] == ["/undo-2", "/undo-1"]
    assert [s["name"] for s in final["rollbackSteps"]] == ["undo-2", "undo-1"]
    assert final["reason"] == "StepFailed"
    assert "step call failed" in final["message"]
    found = conditions(final)
    assert found["Succeeded"]["status"] == "False"
    assert found["Succeeded"]["reason"] == "StepFailed"
    assert found["Ready"]["status"] == "False"
    # Distinct attempts carry distinct idempotency keys.
    fail_keys = [k for p, k in zip(server.order, server.keys, strict=True) if p == "/fail"]
    assert len(set(fail_keys)) == 2


def test_unmet_success_criteria_fail_the_workflow(
    module_operator: OperatorProcess, custom: Any, namespace: str
) -> None:
    # Nothing listens on port 1: the service is not HEALTHY.
    create_service(
        custom, namespace, "payments", {"healthCheck": {"tcp": {"host": "127.0.0.1", "port": 1}}}
    )
    create(
        custom,
        namespace,
        workflow(
            "criteria",
            [delay("a", 0)],
            successCriteria={"servicesHealthy": ["payments"]},
        ),
    )
    final = wait_phase(custom, namespace, "criteria", {"Failed", "Succeeded"})
    assert final["phase"] == "Failed"
    assert final["reason"] == "SuccessCriteriaUnmet"
    assert "payments is" in final["message"]
    assert conditions(final)["Succeeded"]["reason"] == "SuccessCriteriaUnmet"


def test_a_passed_deadline_stops_the_workflow(
    module_operator: OperatorProcess, custom: Any, namespace: str
) -> None:
    create(custom, namespace, workflow("late", [delay("long", 60)], deadlineSeconds=2))
    final = wait_phase(custom, namespace, "late", {"Failed", "Succeeded"}, timeout=20)
    assert final["phase"] == "Failed"
    assert final["reason"] == "DeadlineExceeded"
    assert steps(final)["long"]["phase"] == "Failed"
    assert (moment(final["finishedAt"]) - moment(final["startedAt"])).total_seconds() < 10


def test_suspend_parks_a_workflow_and_unsuspending_runs_it(
    module_operator: OperatorProcess, custom: Any, namespace: str
) -> None:
    create(custom, namespace, workflow("parked", [delay("a", 0)], suspend=True))
    parked = wait_phase(custom, namespace, "parked", "Suspended")
    assert "suspend" in parked["message"]
    assert conditions(parked)["Admitted"]["status"] == "False"
    custom.patch_namespaced_custom_object(
        GROUP, VERSION, namespace, "orchestrationworkflows", "parked", {"spec": {"suspend": False}}
    )
    final = wait_phase(custom, namespace, "parked", "Succeeded")
    assert final["observedGeneration"] == 2


def test_each_phase_change_is_an_event(
    module_operator: OperatorProcess, custom: Any, kube_api: Any, namespace: str
) -> None:
    from kubernetes import client

    create(custom, namespace, workflow("evented", [delay("a", 0.2)]))
    wait_phase(custom, namespace, "evented", "Succeeded")

    def reasons() -> list[str]:
        events = client.CoreV1Api(kube_api).list_namespaced_event(
            namespace, field_selector="involvedObject.name=evented"
        )
        return [e.reason for e in events.items]

    found = wait_for(lambda: "Succeeded" in reasons() and reasons(), what="events")
    assert "Running" in found


def test_a_job_step_and_deletion_cleans_up_its_job(
    module_operator: OperatorProcess, custom: Any, kube_api: Any, namespace: str
) -> None:
    from kubernetes import client

    batch = client.BatchV1Api(kube_api)
    job = start_job_workflow(custom, kube_api, namespace, "jobs", "migrate")
    assert job.metadata.name == "jobs-migrate"
    assert job.metadata.owner_references[0].kind == "OrchestrationWorkflow"
    finish_job(kube_api, namespace, "jobs-migrate")
    final = wait_phase(custom, namespace, "jobs", "Succeeded")
    assert "completed" in steps(final)["migrate"]["message"]

    custom.delete_namespaced_custom_object(
        GROUP, VERSION, namespace, "orchestrationworkflows", "jobs"
    )
    wait_for(
        lambda: (
            not [
                j
                for j in batch.list_namespaced_job(namespace).items
                if j.metadata.deletion_timestamp is None
            ]
        ),
        what="the Job deleted with its workflow",
    )


def test_a_failed_job_fails_its_step(
    module_operator: OperatorProcess, custom: Any, kube_api: Any, namespace: str
) -> None:
    start_job_workflow(custom, kube_api, namespace, "badjob", "run")
    finish_job(kube_api, namespace, "badjob-run", succeed=False)
    final = wait_phase(custom, namespace, "badjob", {"Failed", "Succeeded"})
    assert final["phase"] == "Failed"
    assert "BackoffLimitExceeded" in steps(final)["run"]["message"]
    assert status(custom, namespace, "badjob")["reason"] == "StepFailed"
