"""The operator's pod killed outright (`kubectl delete pod --force --grace-period=0`) while a
workflow's Job runs: no SIGTERM, no Lease released. The Deployment's new pod waits out the
Lease, takes it, and resumes the workflow as the same attempt: the Job is adopted, not made
again, and the store on the PersistentVolume keeps the rows written before the kill."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from e2e_operator_support import (
    holder_pod,
    job_complete,
    job_pods,
    job_workflow,
    lease_holder,
    operator_pods,
    ready,
    sqlite_workflow_rows,
    step_statuses,
    workflow_jobs,
)
from e2e_support import RELEASE_NAMESPACE, create_custom, wait_for, workflow

NAME = "migrate"


def test_operator_pod_force_deleted_mid_job_resumes_without_running_a_step_twice(
    kube_api: Any, namespace: str, store_volume: Path
) -> None:
    from kubernetes import client

    core = client.CoreV1Api(kube_api)
    create_custom(kube_api, namespace, job_workflow(NAME, job_seconds=25))
    uid = workflow(kube_api, namespace, NAME)["metadata"]["uid"]

    # The Job's pod running: the operator is in the middle of the step.
    wait_for(
        lambda: (
            step_statuses(workflow(kube_api, namespace, NAME)).get("work", {}).get("phase")
            == "Running"
            and any(
                p.status.phase == "Running" for p in job_pods(kube_api, namespace, f"{NAME}-work")
            )
        ),
        180,
        "the work step Running with its Job's pod running",
    )
    db = store_volume / "orchestration.db"
    before = wait_for(
        lambda: [r for r in sqlite_workflow_rows(db, namespace, NAME) if r[1] == "Running"],
        60,
        "the workflow's Running row in the SQLite store",
    )
    (old,) = [p for p in operator_pods(kube_api, RELEASE_NAMESPACE) if ready(p)]
    assert holder_pod(lease_holder(kube_api, RELEASE_NAMESPACE)) == old.metadata.name
    (job,) = workflow_jobs(kube_api, namespace, uid)
    assert not job_complete(job), "the Job finished before the kill: nothing was interrupted"

    core.delete_namespaced_pod(
        old.metadata.name, RELEASE_NAMESPACE, grace_period_seconds=0,
        body=client.V1DeleteOptions(grace_period_seconds=0),
    )  # fmt: skip

    # The Deployment's replacement: a pod of another name, leading once the dead pod's claim
    # on the Lease (never released) has run out.
    new = wait_for(
        lambda: [
            p for p in operator_pods(kube_api, RELEASE_NAMESPACE)
            if p.metadata.name != old.metadata.name and ready(p)
        ],
        240,
        "the replacement operator pod ready",
    )[0]  # fmt: skip
    wait_for(
        lambda: holder_pod(lease_holder(kube_api, RELEASE_NAMESPACE)) == new.metadata.name,
        120,
        "the replacement holding the Lease",
    )
    final = wait_for(
        lambda: (
            (w := workflow(kube_api, namespace, NAME)).get("status", {}).get("phase")
            in ("Succeeded", "Failed", "RolledBack")
            and w
        ),
        300,
        "the workflow finished under the new operator",
    )
    assert final["status"]["phase"] == "Succeeded", final["status"]

    # Exactly once: one Job for the step, under the first attempt's name, which ran one pod.
    jobs = workflow_jobs(kube_api, namespace, uid)
    assert [j.metadata.name for j in jobs] == [f"{NAME}-work"]
    assert jobs[0].metadata.uid == job.metadata.uid, "the Job was made again"
    assert (jobs[0].status.succeeded or 0) == 1
    assert not jobs[0].status.failed
    assert len(job_pods(kube_api, namespace, f"{NAME}-work")) == 1
    steps = step_statuses(final)
    assert {name: s.get("attempts") for name, s in steps.items()} == {"work": 1, "after": 1}
    assert all(s.get("phase") == "Succeeded" for s in steps.values())

    # The store is the same file on the PersistentVolume: the rows from before the kill are
    # still there, and the new pod added the workflow's end to them.
    rows = wait_for(
        lambda: (
            (r := sqlite_workflow_rows(db, namespace, NAME))
            and any(status == "Succeeded" for _, status in r)
            and r
        ),
        60,
        "the Succeeded row in the store",
    )
    assert set(before) <= set(rows)
