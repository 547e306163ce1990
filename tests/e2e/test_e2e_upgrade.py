"""Two replicas with leader election on PostgreSQL, and a `helm upgrade` to a new image while a
workflow's Job runs: the rolling update replaces both pods, and through it no two pods lead at
once, no step runs twice, the workflow Succeeds and the store keeps the rows from before.

This module installs a release of its own in its own namespace. The session's operator (the
root conftest's module fixtures install it with the CRDs) is scaled to zero for the module and
back after: two operators watching every namespace must never act at once."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import pytest
from e2e_operator_support import (
    holder_pod,
    job_complete,
    job_pods,
    job_workflow,
    leader_gauge,
    lease_holder,
    namespace_gone,
    operator_pods,
    ready,
    step_statuses,
    workflow_jobs,
)
from e2e_postgres_support import NodePostgres, expose, node_postgres
from e2e_support import (
    CHART,
    RELEASE,
    RELEASE_NAMESPACE,
    RESTRICTED,
    create_custom,
    helm,
    operator_values,
    wait_for,
    workflow,
)

from localcluster.node import NodeCluster

UPGRADE_RELEASE = "eoe-upgrade"
UPGRADE_NAMESPACE = "eoe-upgrade-system"
WORKLOADS = "e2e-upgrade-workflows"
DATABASE = "eoe"
NEW_TAG = "upgrade"
SESSION_DEPLOYMENT = f"{RELEASE}-orchestration-engine"
DEPLOYMENT = f"{UPGRADE_RELEASE}-orchestration-engine"


def _namespace(kube: Any, name: str) -> None:
    from kubernetes import client

    client.CoreV1Api(kube).create_namespace(
        client.V1Namespace(metadata=client.V1ObjectMeta(name=name, labels=RESTRICTED))
    )


def _scale(kube: Any, namespace: str, name: str, replicas: int) -> bool:
    """Scale a Deployment if it exists; whether it does."""
    from kubernetes import client

    try:
        client.AppsV1Api(kube).patch_namespaced_deployment_scale(
            name, namespace, {"spec": {"replicas": replicas}}
        )
    except client.ApiException as error:
        if error.status == 404:
            return False
        raise
    return True


def _available(kube: Any, namespace: str, name: str, replicas: int) -> bool:
    from kubernetes import client

    status = client.AppsV1Api(kube).read_namespaced_deployment_status(name, namespace).status
    return (
        (status.updated_replicas or 0)
        == (status.ready_replicas or 0)
        == replicas
        == (status.replicas or 0)
    )


@pytest.fixture(scope="module")
def session_operator_stopped(kube_api: Any) -> Iterator[None]:
    scaled = _scale(kube_api, RELEASE_NAMESPACE, SESSION_DEPLOYMENT, 0)
    if scaled:
        wait_for(
            lambda: not operator_pods(kube_api, RELEASE_NAMESPACE), 120, "session operator gone"
        )
    yield
    if scaled:
        _scale(kube_api, RELEASE_NAMESPACE, SESSION_DEPLOYMENT, 1)
        wait_for(
            lambda: _available(kube_api, RELEASE_NAMESPACE, SESSION_DEPLOYMENT, 1),
            300,
            "the session operator back",
        )


@pytest.fixture(scope="module")
def postgres(node_cluster: NodeCluster) -> Iterator[NodePostgres]:
    with node_postgres() as server:
        server.sql(f"CREATE DATABASE {DATABASE}")
        yield server


@pytest.fixture(scope="module")
def release(
    node_cluster: NodeCluster, kube_api: Any, session_operator_stopped: None, postgres: NodePostgres
) -> Iterator[str]:
    from kubernetes import client

    core = client.CoreV1Api(kube_api)
    _namespace(kube_api, UPGRADE_NAMESPACE)
    host = expose(kube_api, UPGRADE_NAMESPACE, "store-postgres", postgres.port)
    core.create_namespaced_secret(UPGRADE_NAMESPACE, {
        "apiVersion": "v1", "kind": "Secret", "metadata": {"name": "store-db"},
        "stringData": {"url": f"postgresql://postgres@{host}:5432/{DATABASE}"},
    })  # fmt: skip
    helm(
        node_cluster.kubeconfig,
        "install", UPGRADE_RELEASE, str(CHART), "--namespace", UPGRADE_NAMESPACE,
        *operator_values(), "--set", "replicaCount=2",
        "--set", "database.existingSecret.name=store-db", "--set", "database.maxSize=1Gi",
        "--wait", "--timeout", "300s",
    )  # fmt: skip
    wait_for(lambda: _available(kube_api, UPGRADE_NAMESPACE, DEPLOYMENT, 2), 300, "two replicas")
    _namespace(kube_api, WORKLOADS)
    yield UPGRADE_NAMESPACE
    # The workflows' namespace goes while its operator still runs, to take its finalizers off.
    core.delete_namespace(WORKLOADS)
    wait_for(lambda: namespace_gone(kube_api, WORKLOADS), 180, f"{WORKLOADS} gone")
    helm(node_cluster.kubeconfig, "uninstall", UPGRADE_RELEASE, "--namespace", UPGRADE_NAMESPACE,
         "--wait", "--timeout", "180s")  # fmt: skip
    core.delete_namespace(UPGRADE_NAMESPACE)
    wait_for(lambda: namespace_gone(kube_api, UPGRADE_NAMESPACE), 180, "release namespace gone")


@dataclass
class Leadership:
    """Who claims to lead, sampled until stopped: every operator pod's leader gauge, read at
    once, and the Lease's holder."""

    kube: Any
    namespace: str
    samples: int = 0
    double: list[tuple[float, list[str], str | None]] = field(default_factory=list)
    leaders_seen: set[str] = field(default_factory=set)
    holders_seen: set[str] = field(default_factory=set)
    errors: list[str] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        with ThreadPoolExecutor(max_workers=8) as pool:
            while not self.stop.is_set():
                try:
                    self.sample(pool)
                except Exception as error:  # an API hiccup is not a verdict
                    self.errors.append(f"{type(error).__name__}: {error}")
                time.sleep(0.25)

    def sample(self, pool: ThreadPoolExecutor) -> None:
        found = operator_pods(self.kube, self.namespace)
        gauges = list(pool.map(leader_gauge, found))
        claiming = [p.metadata.name for p, g in zip(found, gauges, strict=True) if g == 1]
        holder = holder_pod(lease_holder(self.kube, self.namespace))
        self.samples += 1
        self.leaders_seen.update(claiming)
        if holder:
            self.holders_seen.add(holder)
        if len(claiming) > 1:
            self.double.append((time.time(), claiming, holder))


def test_helm_upgrade_with_two_replicas_never_two_leaders_and_no_step_twice(
    node_cluster: NodeCluster, kube_api: Any, release: str, postgres: NodePostgres
) -> None:
    from kubernetes import client

    # History from before the upgrade: a workflow that finished, and its rows in PostgreSQL.
    create_custom(kube_api, WORKLOADS, {
        "kind": "OrchestrationWorkflow", "metadata": {"name": "earlier"},
        "spec": {"steps": [{"name": "pause", "action": "delay", "params": {"seconds": 1}}]},
    })  # fmt: skip
    wait_for(
        lambda: (
            (workflow(kube_api, WORKLOADS, "earlier").get("status") or {}).get("phase")
            == "Succeeded"
        ),
        180,
        "the earlier workflow Succeeded",
    )

    def rows(name: str) -> list[tuple[str, str]]:
        # The test's own constant names, not input: formatting them in is safe.
        where = f"namespace = '{WORKLOADS}' AND workflow_name = '{name}'"
        query = f"SELECT id, status FROM workflow_management WHERE {where} ORDER BY id"  # noqa: S608
        out = postgres.sql(query, DATABASE)
        return [tuple(line.split("|")) for line in out.splitlines()]  # type: ignore[misc]

    earlier = wait_for(
        lambda: (r := rows("earlier")) and any(s == "Succeeded" for _, s in r) and r,
        60,
        "the earlier workflow's rows in PostgreSQL",
    )

    watch = Leadership(kube_api, release)
    sampler = threading.Thread(target=watch.run, daemon=True)
    sampler.start()
    try:
        before_pods = {p.metadata.name for p in operator_pods(kube_api, release)}
        create_custom(kube_api, WORKLOADS, job_workflow("rollout", job_seconds=60))
        uid = workflow(kube_api, WORKLOADS, "rollout")["metadata"]["uid"]
        wait_for(
            lambda: any(
                p.status.phase == "Running" for p in job_pods(kube_api, WORKLOADS, "rollout-work")
            ),
            180,
            "the workflow's Job running",
        )
        running_rows = wait_for(lambda: rows("rollout"), 60, "the running workflow's rows")

        # The new image: the same build under a new tag, as a release would bring one.
        node_cluster._ctr(
            "images", "tag", "--force",
            "docker.io/library/orchestration-engine:dev",
            f"docker.io/library/orchestration-engine:{NEW_TAG}",
        )  # fmt: skip
        started = time.monotonic()
        helm(
            node_cluster.kubeconfig,
            "upgrade", UPGRADE_RELEASE, str(CHART), "--namespace", release,
            *operator_values(image_tag=NEW_TAG), "--set", "replicaCount=2",
            "--set", "database.existingSecret.name=store-db", "--set", "database.maxSize=1Gi",
            "--wait", "--timeout", "300s",
        )  # fmt: skip
        wait_for(lambda: _available(kube_api, release, DEPLOYMENT, 2), 300, "the rollout done")
        print(f"helm upgrade and rollout: {time.monotonic() - started:.1f} s")
        # Every pod that ran when the Job started is gone and the Job still runs: the new pods
        # finish the step the old ones started.
        (job,) = workflow_jobs(kube_api, WORKLOADS, uid)
        assert not job_complete(job), "the Job finished before the rollout: nothing was handed over"
        after = [p for p in operator_pods(kube_api, release) if ready(p)]
        assert {p.spec.containers[0].image for p in after} == {f"orchestration-engine:{NEW_TAG}"}
        assert not before_pods & {p.metadata.name for p in after}, "a pod was not replaced"

        final = wait_for(
            lambda: (
                (w := workflow(kube_api, WORKLOADS, "rollout")).get("status", {}).get("phase")
                in ("Succeeded", "Failed", "RolledBack")
                and w
            ),
            300,
            "the workflow finished",
        )
        # A new pod leads at the end, and the sampler has seen it do so.
        wait_for(
            lambda: holder_pod(lease_holder(kube_api, release)) in {p.metadata.name for p in after},
            120,
            "a new pod holding the Lease",
        )
        wait_for(lambda: watch.leaders_seen & {p.metadata.name for p in after}, 60, "a new leader")
    finally:
        watch.stop.set()
        sampler.join(timeout=30)

    print(
        f"leadership: {watch.samples} samples, leaders {sorted(watch.leaders_seen)}, "
        f"holders {sorted(watch.holders_seen)}, {len(watch.errors)} sampling errors"
    )
    assert watch.samples > 20
    assert not watch.double, f"two pods claimed leadership at once: {watch.double}"
    assert final["status"]["phase"] == "Succeeded", final["status"]

    jobs = workflow_jobs(kube_api, WORKLOADS, uid)
    assert [j.metadata.name for j in jobs] == ["rollout-work"]
    assert jobs[0].metadata.uid == job.metadata.uid, "the Job was made again"
    assert (jobs[0].status.succeeded or 0) == 1
    assert len(job_pods(kube_api, WORKLOADS, "rollout-work")) == 1
    steps = step_statuses(final)
    assert {name: s.get("attempts") for name, s in steps.items()} == {"work": 1, "after": 1}

    # The store's history: every row from before the upgrade is still in PostgreSQL.
    assert set(earlier) <= set(rows("earlier"))
    assert set(running_rows) <= set(rows("rollout"))
    wait_for(lambda: any(s == "Succeeded" for _, s in rows("rollout")), 60, "the Succeeded row")
    assert client.CoreV1Api(kube_api).read_namespace(WORKLOADS)
