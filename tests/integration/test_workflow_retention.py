"""Finished workflows are deleted by their TTL and the engine's history limits, against the
real API server with the operator running; the store keeps their history.

The API server alone runs no garbage collector, so the ownerReference cascade (background
propagation deleting a workflow's Jobs and their pods) cannot be seen here. What is seen:
the workflow deleted, its Job deleted too (the controller's own clean-up on the DELETED
event, by the workflow's uid label), and the store's rows of it still there.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from integration_support import GROUP, VERSION, OperatorProcess, wait_for
from kubernetes.client import ApiException
from workflow_support import (
    PLURAL,
    create,
    delay,
    finish_job,
    read,
    start_job_workflow,
    wait_phase,
    workflow,
)

pytestmark = pytest.mark.cluster


def exists(custom: Any, namespace: str, name: str) -> bool:
    try:
        read(custom, namespace, name)
    except ApiException as error:
        if error.status == 404:
            return False
        raise
    return True


def names(custom: Any, namespace: str) -> set[str]:
    listing = custom.list_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL)
    return {item["metadata"]["name"] for item in listing["items"]}


def set_retention(custom: Any, retention: dict[str, Any]) -> None:
    custom.patch_cluster_custom_object(
        GROUP,
        VERSION,
        "orchestrationengines",
        "default",
        {"spec": {"workflowRetention": retention}},
    )


def store_rows(workdir: Path, namespace: str) -> dict[str, list[tuple[str, dict[str, Any]]]]:
    """Each workflow's ``events`` rows in the operator's SQLite store: (reason, data)."""
    with sqlite3.connect(workdir / "orchestration.db") as db:
        rows = db.execute(
            "SELECT name, reason, data FROM events WHERE kind = 'OrchestrationWorkflow' "
            "AND namespace = ? ORDER BY id",
            (namespace,),
        ).fetchall()
    found: dict[str, list[tuple[str, dict[str, Any]]]] = {}
    for name, reason, data in rows:
        found.setdefault(name, []).append((reason, json.loads(data)))
    return found


def managed_statuses(workdir: Path, namespace: str) -> dict[str, str]:
    """The latest ``workflow_management`` status of each workflow in the namespace."""
    with sqlite3.connect(workdir / "orchestration.db") as db:
        rows = db.execute(
            "SELECT workflow_name, status FROM workflow_management WHERE namespace = ? ORDER BY id",
            (namespace,),
        ).fetchall()
    return dict(rows)


def test_a_ttl_deletes_the_workflow_and_its_job_and_the_store_keeps_it(
    operator: OperatorProcess, custom: Any, kube_api: Any, namespace: str
) -> None:
    from kubernetes import client

    # Kept: no TTL of its own and the engine's default is none.
    create(custom, namespace, workflow("kept", [delay("a", 0)]))
    wait_phase(custom, namespace, "kept", "Succeeded")
    job = start_job_workflow(custom, kube_api, namespace, "short", "migrate")
    custom.patch_namespaced_custom_object(
        GROUP, VERSION, namespace, PLURAL, "short", {"spec": {"ttlSecondsAfterFinished": 1}}
    )
    finish_job(kube_api, namespace, job.metadata.name)
    wait_for(
        lambda: not exists(custom, namespace, "short"),
        timeout=30,
        what="the workflow deleted 1 s after it finished",
    )
    batch = client.BatchV1Api(kube_api)
    wait_for(
        lambda: not batch.list_namespaced_job(namespace).items,
        timeout=30,
        what="its Job deleted with it",
    )
    assert exists(custom, namespace, "kept")
    rows = wait_for(
        lambda: (
            (r := store_rows(operator.workdir, namespace)).get("short")
            and r["short"][-1][0] == "Succeeded"
            and r
        ),
        what="the deleted workflow's rows in the store",
    )
    _reason, data = rows["short"][-1]
    assert data["finishedAt"] is not None
    assert [(s["name"], s["phase"], s["attempts"]) for s in data["steps"]] == [
        ("migrate", "Succeeded", 1)
    ]
    assert managed_statuses(operator.workdir, namespace)["short"] == "Succeeded"
    assert "Traceback" not in operator.text()


def report(workdir: Path, kubeconfig: Path) -> dict[str, Any]:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "orchestration_engine",
            "report",
            "--format",
            "json",
            "--database-url",
            f"sqlite:///{workdir / 'orchestration.db'}",
        ],
        env={**os.environ, "KUBECONFIG": str(kubeconfig)},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return json.loads(result.stdout)["orchestration_report"]  # type: ignore[no-any-return]


def test_history_limits_keep_the_newest_of_each_outcome(
    operator: OperatorProcess, custom: Any, namespace: str, control_plane: Any
) -> None:
    set_retention(custom, {"successfulWorkflowsHistoryLimit": 2, "failedWorkflowsHistoryLimit": 1})
    try:
        for i in range(4):
            create(custom, namespace, workflow(f"ok-{i}", [delay("a", 0)]))
            wait_phase(custom, namespace, f"ok-{i}", "Succeeded")
        failing = {"name": "a", "action": "scale", "params": {"service": "ghost", "replicas": 1}}
        for i in range(2):
            create(custom, namespace, workflow(f"bad-{i}", [failing]))
            wait_phase(custom, namespace, f"bad-{i}", "Failed")
        wait_for(
            lambda: names(custom, namespace) == {"ok-2", "ok-3", "bad-1"},
            timeout=30,
            what="the newest two Succeeded and the newest Failed kept",
        )
        statuses = wait_for(
            lambda: (
                (s := managed_statuses(operator.workdir, namespace)).get("bad-1") == "Failed" and s
            ),
            what="every workflow's last row in the store",
        )
        assert statuses == {
            **{f"ok-{i}": "Succeeded" for i in range(4)},
            **{f"bad-{i}": "Failed" for i in range(2)},
        }
        # The report: the cluster's count is what exists, the store's has the deleted too.
        summary = report(operator.workdir, control_plane.kubeconfig)["workflow_summary"]
        assert summary["history_by_status"]["Succeeded"] >= 4
        assert summary["history_by_status"]["Failed"] >= 2
        # A new finish pushes the oldest kept one out.
        create(custom, namespace, workflow("ok-4", [delay("a", 0)]))
        wait_for(
            lambda: names(custom, namespace) == {"ok-3", "ok-4", "bad-1"},
            timeout=30,
            what="ok-2 deleted once ok-4 finished",
        )
    finally:
        set_retention(custom, {"successfulWorkflowsHistoryLimit": 100})


def test_a_restart_with_finished_workflows_writes_none_of_them(
    control_plane: Any, crds: None, custom: Any, namespace: str, tmp_path: Path
) -> None:
    first = OperatorProcess(control_plane.kubeconfig, tmp_path / "first")
    try:
        first.wait_ready()
        for i in range(5):
            create(custom, namespace, workflow(f"done-{i}", [delay("a", 0)]))
        for i in range(5):
            wait_phase(custom, namespace, f"done-{i}", "Succeeded")
    finally:
        first.stop()
    versions = {
        n: read(custom, namespace, n)["metadata"]["resourceVersion"]
        for n in names(custom, namespace)
    }
    second = OperatorProcess(control_plane.kubeconfig, tmp_path / "second")
    try:
        second.wait_ready()
        # Once a workflow created after the start has run, the start-up listing is long done.
        create(custom, namespace, workflow("after", [delay("a", 0)]))
        wait_phase(custom, namespace, "after", "Succeeded")
        assert {
            n: read(custom, namespace, n)["metadata"]["resourceVersion"] for n in versions
        } == versions
    finally:
        second.stop()
