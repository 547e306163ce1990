"""A step that ends stops what it started, and a transient API fault never fails a step
(docs/fmea.md, "A step that ends").

The operator runs as a real process and reaches the real API server through a proxy on
127.0.0.1 (answering_proxy.AnsweringProxy) that records each request it passes on and
answers chosen ones itself with the API server's own 429 (with ``Retry-After``) or 503.
There is no kubelet, Job controller or garbage collector here: the tests write a Job's
status themselves (workflow_support.finish_job) and a Job "stopped" means deleted from the
API server, with background propagation (so, here, gone at once: the Job has no finalizer).

Asserted, for a ``job`` step: when its timeout passes, the Job is deleted before the
rollback's first request; when the workflow's deadline passes, or an emergency halt stops
it, or the workflow is deleted (through 503s on the cleanup's own requests), the Job is
deleted; a halted step resumes as the same attempt in a fresh Job of the same name; faults
while the step polls its Job neither fail the attempt nor make a second Job (``-2``). And
``scale``, ``patch``, ``restart`` steps and the traffic switch behind ``failover`` get
through 429s and 503s within their timeouts, and an ``http`` step's retried request carries
the attempt's Idempotency-Key.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from answering_proxy import AnsweringProxy, Fault
from fmea_inputs_support import GROUP, VERSION, OperatorProcess, wait_for, workflow
from workflow_support import create, finish_job, gate, steps, wait_phase

import builders
from http_support import LocalServer, QuietHandler

pytestmark = pytest.mark.cluster

WORKFLOWS = "orchestrationworkflows"
THROTTLED = Fault(429, retry_after=1)
UNAVAILABLE = Fault(503)


@pytest.fixture(scope="module")
def proxy(control_plane: Any) -> Iterator[AnsweringProxy]:
    answering = AnsweringProxy(Path(control_plane.kubeconfig))
    yield answering
    answering.close()


@pytest.fixture(scope="module")
def operator(
    proxy: AnsweringProxy,
    crds: None,
    module_namespace: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[OperatorProcess]:
    workdir = tmp_path_factory.mktemp("step-endings")
    kubeconfig = proxy.write_kubeconfig(workdir / "proxied-kubeconfig")
    process = OperatorProcess(kubeconfig, workdir / "operator", "--namespace", module_namespace)
    try:
        process.wait_ready()
        yield process
    finally:
        process.stop()


@pytest.fixture(autouse=True)
def _rules_cleared(proxy: AnsweringProxy) -> Iterator[None]:
    yield
    proxy.clear()


def batch(kube_api: Any) -> Any:
    from kubernetes import client

    return client.BatchV1Api(kube_api)


def job_path(namespace: str, name: str = "") -> str:
    base = f"/apis/batch/v1/namespaces/{namespace}/jobs"
    return f"{base}/{name}" if name else base


def job_or_none(kube_api: Any, namespace: str, name: str) -> Any:
    from kubernetes.client import ApiException

    try:
        return batch(kube_api).read_namespaced_job(name, namespace)
    except ApiException as error:
        if error.status == 404:
            return None
        raise


def job_names(kube_api: Any, namespace: str, workflow_name: str) -> list[str]:
    jobs = batch(kube_api).list_namespaced_job(
        namespace, label_selector=f"orchestration.eoe.dev/workflow={workflow_name}"
    )
    return sorted(j.metadata.name for j in jobs.items)


def wait_job(kube_api: Any, namespace: str, name: str) -> Any:
    return wait_for(lambda: job_or_none(kube_api, namespace, name), what=f"Job {name}")


def assert_stopped(proxy: AnsweringProxy, kube_api: Any, namespace: str, name: str) -> None:
    """The Job is gone, deleted by the operator with background propagation."""
    wait_for(
        lambda: job_or_none(kube_api, namespace, name) is None,
        what=f"Job {name} deleted",
    )
    # Recorded once its answer is back: a moment after the Job is gone.
    deletes = wait_for(
        lambda: proxy.requests("DELETE", job_path(namespace, name)),
        what=f"the operator's DELETE of Job {name}",
    )
    assert deletes[0].body["propagationPolicy"] == "Background", deletes[0].body


def set_halt(custom: Any, halt: bool) -> None:
    custom.patch_cluster_custom_object(
        GROUP, VERSION, "orchestrationengines", "default", {"spec": {"halt": halt}}
    )


# --- a job step that ends stops its Job ---------------------------------------------------


def test_a_timed_out_job_step_deletes_its_job_before_the_rollback_runs(
    operator: OperatorProcess,
    proxy: AnsweringProxy,
    custom: Any,
    kube_api: Any,
    module_namespace: str,
) -> None:
    from kubernetes import client

    ns = module_namespace
    client.CoreV1Api(kube_api).create_namespaced_config_map(
        ns, {"metadata": {"name": "flags"}, "data": {"migrated": "no"}}
    )
    undo = {
        "name": "undo",
        "action": "patch",
        "params": {
            "target": {"apiVersion": "v1", "kind": "ConfigMap", "name": "flags"},
            "patch": {"data": {"undone": "yes"}},
        },
    }
    # The Job never finishes (nothing runs it): the step's 3 s timeout ends it.
    create(custom, ns, workflow("slow", [gate("migrate", timeoutSeconds=3)], rollback=[undo]))
    final = wait_phase(custom, ns, "slow", {"RolledBack", "Failed", "Succeeded"}, timeout=40)
    assert final["phase"] == "RolledBack", final
    assert "timed out after 3s" in steps(final)["migrate"]["message"]

    assert_stopped(proxy, kube_api, ns, "slow-migrate")
    # The rollback's patch went out only after the Job was deleted.
    deleted = proxy.requests("DELETE", job_path(ns, "slow-migrate"))[0]
    [undone] = proxy.requests("PATCH", f"/api/v1/namespaces/{ns}/configmaps/flags")
    assert deleted.at < undone.at
    assert job_names(kube_api, ns, "slow") == []


def test_a_passed_deadline_deletes_the_running_job(
    operator: OperatorProcess,
    proxy: AnsweringProxy,
    custom: Any,
    kube_api: Any,
    module_namespace: str,
) -> None:
    ns = module_namespace
    create(custom, ns, workflow("late", [gate("migrate")], deadlineSeconds=3))
    wait_job(kube_api, ns, "late-migrate")
    final = wait_phase(custom, ns, "late", {"Failed", "Succeeded"}, timeout=30)
    assert final["reason"] == "DeadlineExceeded", final
    assert_stopped(proxy, kube_api, ns, "late-migrate")


def test_a_halt_deletes_the_job_and_the_step_resumes_in_a_fresh_one(
    operator: OperatorProcess,
    proxy: AnsweringProxy,
    custom: Any,
    kube_api: Any,
    module_namespace: str,
) -> None:
    ns = module_namespace
    create(custom, ns, workflow("held", [gate("migrate")]))
    first = wait_job(kube_api, ns, "held-migrate")
    set_halt(custom, True)
    try:
        wait_phase(custom, ns, "held", "Halted")
        assert_stopped(proxy, kube_api, ns, "held-migrate")
    finally:
        set_halt(custom, False)
    # The same attempt again, in a Job of the same name made afresh.
    second = wait_job(kube_api, ns, "held-migrate")
    assert second.metadata.uid != first.metadata.uid
    finish_job(kube_api, ns, "held-migrate")
    final = wait_phase(custom, ns, "held", "Succeeded", timeout=30)
    assert steps(final)["migrate"]["attempts"] == 1
    assert job_names(kube_api, ns, "held") == ["held-migrate"]


def test_a_deleted_workflows_job_is_deleted_through_api_faults(
    operator: OperatorProcess,
    proxy: AnsweringProxy,
    custom: Any,
    kube_api: Any,
    module_namespace: str,
) -> None:
    ns = module_namespace
    create(custom, ns, workflow("dropped", [gate("migrate")]))
    wait_job(kube_api, ns, "dropped-migrate")
    # Every way the operator finds and deletes the Job meets faults first.
    proxy.fail("GET", job_path(ns), UNAVAILABLE, THROTTLED)
    proxy.fail("GET", job_path(ns, "dropped-migrate"), UNAVAILABLE, THROTTLED)
    proxy.fail("DELETE", job_path(ns, "dropped-migrate"), UNAVAILABLE, UNAVAILABLE)
    custom.delete_namespaced_custom_object(GROUP, VERSION, ns, WORKFLOWS, "dropped")
    wait_for(
        lambda: job_or_none(kube_api, ns, "dropped-migrate") is None,
        timeout=30,
        what="the deleted workflow's Job deleted",
    )
    deletes = wait_for(
        lambda: proxy.requests("DELETE", job_path(ns, "dropped-migrate")),
        what="the operator's DELETE of the Job",
    )
    assert all(d.body["propagationPolicy"] == "Background" for d in deletes)


def test_an_operator_that_stops_leaves_the_job_for_the_next_one(
    proxy: AnsweringProxy,
    crds: None,
    custom: Any,
    kube_api: Any,
    namespace: str,
    tmp_path: Path,
) -> None:
    """SIGTERM (a rolling update, a drain) is not the workflow's end: the Job runs on and
    the next operator adopts it as the same attempt."""
    kubeconfig = proxy.write_kubeconfig(tmp_path / "proxied-kubeconfig")
    first = OperatorProcess(kubeconfig, tmp_path / "first", "--namespace", namespace)
    try:
        first.wait_ready()
        create(custom, namespace, workflow("handover", [gate("migrate")]))
        job = wait_job(kube_api, namespace, "handover-migrate")
    finally:
        first.stop()
    assert first.process.returncode == 0, first.log()
    assert job_or_none(kube_api, namespace, "handover-migrate").metadata.uid == job.metadata.uid
    second = OperatorProcess(kubeconfig, tmp_path / "second", "--namespace", namespace)
    try:
        second.wait_ready()
        finish_job(kube_api, namespace, "handover-migrate")
        final = wait_phase(custom, namespace, "handover", "Succeeded", timeout=30)
    finally:
        second.stop()
    assert steps(final)["migrate"]["attempts"] == 1
    assert "(adopted)" in steps(final)["migrate"]["message"]
    assert not proxy.requests("DELETE", job_path(namespace, "handover-migrate"))


# --- transient faults are not failures ----------------------------------------------------


def test_faults_while_polling_a_job_neither_fail_the_step_nor_make_a_second_job(
    operator: OperatorProcess,
    proxy: AnsweringProxy,
    custom: Any,
    kube_api: Any,
    module_namespace: str,
) -> None:
    ns = module_namespace
    # retries: 1, so that a fault taken for a failed attempt would show as a Job polled-2.
    create(custom, ns, workflow("polled", [gate("migrate", retries=1)]))
    wait_job(kube_api, ns, "polled-migrate")
    rule = proxy.fail(
        "GET", job_path(ns, "polled-migrate"), UNAVAILABLE, THROTTLED, UNAVAILABLE, THROTTLED
    )
    wait_for(
        lambda: not rule.answers or len(job_names(kube_api, ns, "polled")) > 1,
        what="the faults all met by the step's polling",
    )
    assert job_names(kube_api, ns, "polled") == ["polled-migrate"]
    finish_job(kube_api, ns, "polled-migrate")
    final = wait_phase(custom, ns, "polled", {"Succeeded", "Failed", "RolledBack"}, timeout=30)
    assert final["phase"] == "Succeeded", final
    assert steps(final)["migrate"]["attempts"] == 1
    assert job_names(kube_api, ns, "polled") == ["polled-migrate"]
    assert not proxy.requests("DELETE", job_path(ns, "polled-migrate"))


def test_scale_patch_and_restart_steps_get_through_429_and_503(
    operator: OperatorProcess,
    proxy: AnsweringProxy,
    custom: Any,
    kube_api: Any,
    module_namespace: str,
) -> None:
    from kubernetes import client

    ns = module_namespace
    apps = client.AppsV1Api(kube_api)
    for name in ("web", "api"):
        apps.create_namespaced_deployment(
            ns,
            {
                "metadata": {"name": name},
                "spec": {
                    "replicas": 1,
                    "selector": {"matchLabels": {"app": name}},
                    "template": {
                        "metadata": {"labels": {"app": name}},
                        "spec": {"containers": [{"name": "app", "image": "nginx"}]},
                    },
                },
            },
        )
    client.CoreV1Api(kube_api).create_namespaced_config_map(
        ns, {"metadata": {"name": "tuning"}, "data": {"workers": "2"}}
    )
    deployments = f"/apis/apps/v1/namespaces/{ns}/deployments"
    for path in (
        f"{deployments}/web",
        f"{deployments}/api",
        f"/api/v1/namespaces/{ns}/configmaps/tuning",
    ):
        proxy.fail("PATCH", path, THROTTLED, UNAVAILABLE, THROTTLED)
    create(
        custom,
        ns,
        workflow(
            "tuned",
            [
                {
                    "name": "grow",
                    "action": "scale",
                    "params": {"workloadRef": {"kind": "Deployment", "name": "web"}, "replicas": 3},
                    "timeoutSeconds": 20,
                },
                {
                    "name": "tune",
                    "action": "patch",
                    "params": {
                        "target": {"apiVersion": "v1", "kind": "ConfigMap", "name": "tuning"},
                        "patch": {"data": {"workers": "8"}},
                    },
                    "timeoutSeconds": 20,
                },
                {
                    "name": "bounce",
                    "action": "restart",
                    "params": {"workloadRef": {"kind": "Deployment", "name": "api"}},
                    "timeoutSeconds": 20,
                },
            ],
        ),
    )
    final = wait_phase(custom, ns, "tuned", {"Succeeded", "Failed", "RolledBack"}, timeout=40)
    assert final["phase"] == "Succeeded", final
    assert {n: s["attempts"] for n, s in steps(final).items()} == {
        "grow": 1,
        "tune": 1,
        "bounce": 1,
    }
    assert apps.read_namespaced_deployment("web", ns).spec.replicas == 3
    tuning = client.CoreV1Api(kube_api).read_namespaced_config_map("tuning", ns)
    assert tuning.data["workers"] == "8"
    annotations = apps.read_namespaced_deployment("api", ns).spec.template.metadata.annotations
    assert "kubectl.kubernetes.io/restartedAt" in annotations
    # Each got its three faults, then one request through (a patch is sent once it passes).
    for path in (f"{deployments}/web", f"{deployments}/api"):
        assert len(proxy.requests("PATCH", path)) == 1, path


# --- http: the same key on a request sent again --------------------------------------------


class SequencedServer(LocalServer):
    """Answers each request to a path with the next status set for it (then 200), and
    records the Idempotency-Key of each."""

    def __init__(self) -> None:
        self.answers: dict[str, list[int]] = {}
        self.keys: dict[str, list[str | None]] = {}
        lock = threading.Lock()
        owner = self

        class Handler(QuietHandler):
            def do_POST(self) -> None:
                self.read_body()
                with lock:
                    owner.keys.setdefault(self.path, []).append(self.headers.get("Idempotency-Key"))
                    queue = owner.answers.get(self.path) or []
                    code = queue.pop(0) if queue else 200
                self.send_response(code)
                if code == 503:
                    self.send_header("Retry-After", "1")
                self.send_header("Content-Length", "0")
                self.end_headers()

        super().__init__(Handler)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"


def test_an_http_request_sent_again_carries_the_attempts_key(
    operator: OperatorProcess, custom: Any, module_namespace: str
) -> None:
    ns = module_namespace
    server = SequencedServer()
    try:
        server.answers["/drain"] = [503, 502]
        step = {
            "name": "drain",
            "action": "http",
            "params": {"url": server.url("/drain"), "method": "POST"},
            "timeoutSeconds": 20,
            "retries": 1,
        }
        create(custom, ns, workflow("drained", [step]))
        final = wait_phase(custom, ns, "drained", {"Succeeded", "Failed"}, timeout=40)
        assert final["phase"] == "Succeeded", final
        assert steps(final)["drain"]["attempts"] == 1
        keys = server.keys["/drain"]
        assert len(keys) == 3
        assert keys[0] is not None
        assert keys[0].endswith("/step/drain/1")
        assert set(keys) == {keys[0]}
    finally:
        server.close()


# --- the traffic switch behind failover ----------------------------------------------------


def deployment(kube_api: Any, namespace: str, name: str, labels: dict[str, str], n: int) -> None:
    from kubernetes import client

    client.AppsV1Api(kube_api).create_namespaced_deployment(
        namespace, builders.deployment(name, n, selector=labels, image="nginx")
    )


async def test_a_traffic_switch_gets_through_429_and_503(
    proxy: AnsweringProxy,
    kube_api: Any,
    module_namespace: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The switch a ``failover`` step (and automatic failover) makes, in this process, with
    the operator's own client through the proxy: every request it makes meets faults."""
    from kubernetes import client

    from orchestration_engine.api.service import ServiceSpec
    from orchestration_engine.kube.client import make_api_client
    from orchestration_engine.kube.traffic_switch import switch_traffic

    ns = module_namespace
    deployment(kube_api, ns, "pay", {"app": "pay"}, 2)
    deployment(kube_api, ns, "pay-standby", {"app": "pay", "role": "standby"}, 0)
    client.CoreV1Api(kube_api).create_namespaced_service(
        ns,
        builders.kube_service("pay", {"app": "pay"}),
    )
    spec = ServiceSpec.model_validate(
        {
            "workloadRef": {"name": "pay"},
            "failover": {"standbyRef": {"name": "pay-standby"}, "serviceRef": {"name": "pay"}},
        }
    )
    deployments = f"/apis/apps/v1/namespaces/{ns}/deployments"
    proxy.fail("GET", f"{deployments}/pay-standby", UNAVAILABLE, THROTTLED)
    proxy.fail("GET", f"{deployments}/pay", THROTTLED)
    proxy.fail("PATCH", f"{deployments}/pay-standby", UNAVAILABLE)
    proxy.fail("PATCH", f"/api/v1/namespaces/{ns}/services/pay", THROTTLED, UNAVAILABLE)
    monkeypatch.setenv("KUBECONFIG", str(proxy.write_kubeconfig(tmp_path / "proxied")))
    api = await make_api_client()
    try:
        message = await switch_traffic(api, ns, "pay", spec, "standby", timeout_s=20)
    finally:
        await api.close()
    assert message.endswith("Deployment pay-standby scaled from 0 to 2")
    selector = client.CoreV1Api(kube_api).read_namespaced_service("pay", ns).spec.selector
    assert selector == {"app": "pay", "role": "standby"}
    standby = client.AppsV1Api(kube_api).read_namespaced_deployment("pay-standby", ns)
    assert standby.spec.replicas == 2
