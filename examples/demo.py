"""`make demo`: the operator on a cluster, end to end, in one command.

Uses the cluster your kubeconfig names if one answers; otherwise a real single-node cluster
of its own (tests/localcluster: API server, scheduler, controllers, a kubelet running pods,
kube-proxy and DNS), which lives in a network namespace: `make demo` starts it there with

    python3 tests/localcluster/netns.py run --label demo --host-link -- \\
        .venv/bin/python examples/demo.py [--once] [--namespace eoe-demo]

Then it installs the CRDs, runs the operator on SQLite, applies examples/ (the workloads in
examples/workloads first), and shows what the operator did: the services HEALTHY, the
maintenance workflow Succeeded, and, on the local cluster, a failover it provokes by breaking
the primary, with the traffic through the Service moving to the standby. `--once` stops after
that; otherwise everything keeps running until Ctrl-C.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml
from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from localcluster import netns  # noqa: E402
from localcluster.node import CLUSTER_DOMAIN, DNS_SERVICE_IP, NodeCluster  # noqa: E402

GROUP, VERSION = "orchestration.eoe.dev", "v1alpha1"
PLURALS = {
    "OrchestratedService": "orchestratedservices",
    "OrchestrationWorkflow": "orchestrationworkflows",
    "OrchestrationEngine": "orchestrationengines",
}
# The namespace the examples' health checks name (their Services' DNS names); the demo
# rewrites it to the one it applies them to.
EXAMPLES_NAMESPACE = "eoe-demo"
# Pod Security's restricted level on the demo's namespace: the example workloads pass it.
RESTRICTED = {
    "pod-security.kubernetes.io/enforce": "restricted",
    "pod-security.kubernetes.io/enforce-version": "latest",
}
WORKFLOW_ENDS = {"Succeeded", "Failed", "RolledBack", "Cancelled"}
# Bounds on what a busy machine may take, not expectations of how fast it is.
WORKLOADS_TIMEOUT_S = 240.0
SETTLE_TIMEOUT_S = 300.0
FAILOVER_TIMEOUT_S = 180.0
console = Console()


class DemoFailed(Exception):
    """Something the demo shows did not happen within its bound."""


def configured_kubeconfig() -> Path | None:
    """The user's kubeconfig if it names a cluster that answers, else None."""
    from kubernetes import client, config

    candidate = os.environ.get("KUBECONFIG", "").split(os.pathsep)[0] or str(
        Path.home() / ".kube/config"
    )
    if not Path(candidate).is_file():
        return None
    try:
        api = config.new_client_from_config(config_file=candidate, persist_config=False)
        client.VersionApi(api).get_code(_request_timeout=3)
    except Exception as error:  # any failure means "no usable cluster": start our own
        console.print(
            f"[yellow]{candidate} does not answer ({type(error).__name__}); "
            "using the local cluster[/yellow]"
        )
        return None
    return Path(candidate)


def apply_crds(api: Any) -> None:
    from kubernetes import client

    extensions = client.ApiextensionsV1Api(api)
    for path in sorted((ROOT / "crds").glob("*.yaml")):
        body = yaml.safe_load(path.read_text())
        name = body["metadata"]["name"]
        try:
            body["metadata"]["resourceVersion"] = extensions.read_custom_resource_definition(
                name
            ).metadata.resource_version
            extensions.replace_custom_resource_definition(name, body)
        except client.ApiException as error:
            if error.status != 404:
                raise
            extensions.create_custom_resource_definition(body)
        for _ in range(100):
            crd = extensions.read_custom_resource_definition(name)
            if any(
                c.type == "Established" and c.status == "True" for c in crd.status.conditions or []
            ):
                break
            time.sleep(0.1)
        console.print(f"CRD {name} installed")


def load(paths: list[Path], namespace: str) -> list[dict[str, Any]]:
    documents = []
    for path in paths:
        text = path.read_text().replace(f".{EXAMPLES_NAMESPACE}.svc", f".{namespace}.svc")
        documents.extend(d for d in yaml.safe_load_all(text) if d)
    return documents


def apply_workload(api: Any, namespace: str, body: dict[str, Any]) -> None:
    """Server-side apply: a second run puts the Service's selector back on the primary."""
    from kubernetes import dynamic

    resource = dynamic.DynamicClient(api).resources.get(
        api_version=body["apiVersion"], kind=body["kind"]
    )
    resource.server_side_apply(
        body=body,
        name=body["metadata"]["name"],
        namespace=namespace,
        field_manager="eoe-demo",
        force_conflicts=True,
    )
    console.print(f"{body['kind']} {body['metadata']['name']} applied")


def apply_object(custom: Any, namespace: str, body: dict[str, Any]) -> None:
    from kubernetes import client

    plural = PLURALS[body["kind"]]
    name = body["metadata"]["name"]
    cluster_scoped = body["kind"] == "OrchestrationEngine"
    try:
        if cluster_scoped:
            custom.create_cluster_custom_object(GROUP, VERSION, plural, body)
        else:
            custom.create_namespaced_custom_object(GROUP, VERSION, namespace, plural, body)
    except client.ApiException as error:
        if error.status != 409:
            raise
        patch = {"spec": body["spec"]}
        if cluster_scoped:
            custom.patch_cluster_custom_object(GROUP, VERSION, plural, name, patch)
        else:
            custom.patch_namespaced_custom_object(GROUP, VERSION, namespace, plural, name, patch)
    console.print(f"{body['kind']} {name} applied")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def read_all(custom: Any, namespace: str, documents: list[dict[str, Any]]) -> list[dict[str, Any]]:
    objects = []
    for body in documents:
        plural, name = PLURALS[body["kind"]], body["metadata"]["name"]
        if body["kind"] == "OrchestrationEngine":
            objects.append(custom.get_cluster_custom_object(GROUP, VERSION, plural, name))
        else:
            objects.append(
                custom.get_namespaced_custom_object(GROUP, VERSION, namespace, plural, name)
            )
    return objects


def state_of(obj: dict[str, Any]) -> str:
    status = obj.get("status") or {}
    return str(status.get("health") or status.get("phase") or "")


def settled(obj: dict[str, Any]) -> bool:
    """The operator has said something about it; a workflow has also finished."""
    status = obj.get("status") or {}
    if not status.get("conditions"):
        return False
    return obj["kind"] != "OrchestrationWorkflow" or status.get("phase") in WORKFLOW_ENDS


def done(obj: dict[str, Any]) -> bool:
    """What the demo waits for where pods run: services HEALTHY, workflows finished."""
    if obj["kind"] == "OrchestratedService":
        return state_of(obj) == "HEALTHY"
    return settled(obj)


def show(objects: list[dict[str, Any]]) -> None:
    table = Table(title="What the operator did")
    for column in ("Kind", "Name", "Ready", "Reason", "State", "Message"):
        table.add_column(column)
    for obj in objects:
        status = obj.get("status") or {}
        ready = next((c for c in status.get("conditions") or [] if c["type"] == "Ready"), {})
        table.add_row(
            obj["kind"],
            obj["metadata"]["name"],
            ready.get("status", "-"),
            ready.get("reason", "-"),
            state_of(obj),
            ready.get("message", ""),
        )
    console.print(table)


class Operator:
    """`orchestration-engine run` as a local process on SQLite, its log in ``workdir``."""

    def __init__(self, kubeconfig: Path, workdir: Path, wrap: list[str]) -> None:
        self.database_url = f"sqlite:///{workdir / 'orchestration.db'}"
        self.log_path = workdir / "operator.log"
        self._log = self.log_path.open("wb")
        self.process = subprocess.Popen(
            [
                *wrap,
                sys.executable,
                "-m",
                "orchestration_engine",
                "run",
                "--database-url",
                self.database_url,
                "--metrics-port",
                str(free_port()),
                "--health-port",
                str(free_port()),
            ],
            env={**os.environ, "KUBECONFIG": str(kubeconfig)},
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    def check(self) -> None:
        if self.process.poll() is not None:
            raise DemoFailed(f"the operator exited:\n{self.log_path.read_text()[-3000:]}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()


def cluster_dns_wrap(workdir: Path, namespace: str) -> list[str]:
    """A prefix giving the operator the cluster's DNS, as a pod has it.

    The machine's /etc/resolv.conf names a resolver outside the network namespace, so the
    Services' names in the health checks would not resolve: the operator gets a mount
    namespace of its own with a resolv.conf naming the cluster's DNS bind-mounted over it.
    """
    resolv = workdir / "resolv.conf"
    resolv.write_text(
        f"search {namespace}.svc.{CLUSTER_DOMAIN} svc.{CLUSTER_DOMAIN} {CLUSTER_DOMAIN}\n"
        f"nameserver {DNS_SERVICE_IP}\n"
        "options timeout:1 attempts:3\n"
    )
    script = 'mount --bind "$1" /etc/resolv.conf && shift && exec "$@"'
    return ["unshare", "--mount", "--", "sh", "-c", script, "sh", str(resolv)]


def wait_until(
    what: str, predicate: Callable[[], bool], timeout: float, stop: threading.Event,
    check: Callable[[], None] = lambda: None,
) -> None:  # fmt: skip
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if stop.is_set():
            raise KeyboardInterrupt
        check()
        # An exception is "not yet": an API hiccup on a busy machine.
        with contextlib.suppress(Exception):
            if predicate():
                return
        time.sleep(0.5)
    raise DemoFailed(f"timed out after {timeout:g} s waiting for {what}")


def workloads_ready(api: Any, namespace: str, workloads: list[dict[str, Any]]) -> bool:
    from kubernetes import client

    apps = client.AppsV1Api(api)
    for body in workloads:
        name = body["metadata"]["name"]
        if body["kind"] == "Deployment":
            status = apps.read_namespaced_deployment_status(name, namespace).status
        elif body["kind"] == "StatefulSet":
            status = apps.read_namespaced_stateful_set_status(name, namespace).status
        else:
            continue
        if not status.ready_replicas:
            return False
    return True


def call(url: str, timeout: float = 1.0) -> tuple[dict[str, Any] | None, str]:
    """What a client of the Service gets: the JSON answer if any, and a word on it."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 - http:// built here
            answer = json.loads(response.read())
    except urllib.error.HTTPError as error:
        return None, f"HTTP {error.code}"
    except (urllib.error.URLError, OSError, ValueError) as error:
        return None, f"no answer ({type(getattr(error, 'reason', error)).__name__})"
    if not isinstance(answer, dict):
        return None, "not the web image's answer"
    return answer, f"role {answer.get('role')} ({answer.get('name')}, pod {answer.get('pod')})"


def break_primaries(core: Any, namespace: str, broken: set[str]) -> None:
    """POST /break to every primary pod not broken yet: a replacement the autoscaler starts
    meanwhile (it keeps minReplicas) is part of the broken primary too."""
    pods = core.list_namespaced_pod(namespace, label_selector="app=payments,role=primary").items
    for pod in pods:
        name, ip = pod.metadata.name, pod.status.pod_ip
        if name in broken or not ip or pod.metadata.deletion_timestamp is not None:
            continue
        request = urllib.request.Request(f"http://{ip}:8080/break", method="POST")
        try:
            with urllib.request.urlopen(request, timeout=5):  # noqa: S310 - http:// built here
                pass
        except OSError:
            continue  # not listening yet: the next round
        broken.add(name)
        console.print(f"broke primary pod {name} (POST http://{ip}:8080/break)")


def provoke_failover(api: Any, namespace: str, stop: threading.Event) -> None:
    """Break the primary's pods and follow a client of the Service until the standby answers.

    Pod IPs and the ClusterIP are reachable here: the demo runs in the cluster's network
    namespace, so every request goes through kube-proxy's rules, as a pod's would.
    """
    from kubernetes import client

    core = client.CoreV1Api(api)
    custom = client.CustomObjectsApi(api)
    cluster_ip = core.read_namespaced_service("payments", namespace).spec.cluster_ip
    url = f"http://{cluster_ip}:8080/"
    console.rule("Failover")
    console.print(f"a client calls the Service payments at {url}: {call(url)[1]}")
    broken: set[str] = set()
    started = time.monotonic()
    break_primaries(core, namespace, broken)
    last, moved = "", False
    status: dict[str, Any] = {}
    deadline = started + FAILOVER_TIMEOUT_S
    while time.monotonic() < deadline:
        if stop.is_set():
            raise KeyboardInterrupt
        answer, seen = call(url, timeout=0.5)
        if seen != last:
            console.print(f"  +{time.monotonic() - started:5.1f} s  the Service answers: {seen}")
            last = seen
        if answer and answer.get("role") == "standby":
            if not moved:
                moved = True
                console.print(
                    f"traffic moved to the standby {time.monotonic() - started:.1f} s after "
                    "the primary broke"
                )
            # The Service's selector is switched first, the status written after it.
            obj = custom.get_namespaced_custom_object(
                GROUP, VERSION, namespace, "orchestratedservices", "payments"
            )
            status = obj.get("status") or {}
            if status.get("activeTarget") == "standby":
                break
        elif not moved:
            break_primaries(core, namespace, broken)
        time.sleep(0.2)
    else:
        raise DemoFailed(
            f"the failover to the standby did not complete within {FAILOVER_TIMEOUT_S:g} s"
        )
    console.print(
        f"payments: activeTarget={status.get('activeTarget')}, "
        f"failoverCount={status.get('failoverCount')}"
    )


def print_report(operator: Operator, kubeconfig: Path) -> None:
    console.rule("orchestration-engine report")
    sys.stdout.flush()
    subprocess.run(
        [sys.executable, "-m", "orchestration_engine", "report", "--database-url",
         operator.database_url],
        env={**os.environ, "KUBECONFIG": str(kubeconfig)}, check=False, timeout=120,
    )  # fmt: skip


def how_to_look_around(
    cluster: NodeCluster | None, kubeconfig: Path, operator: Operator, namespace: str
) -> None:
    outside = cluster.host_kubeconfig if cluster is not None else kubeconfig
    console.rule("Look around")
    if outside is None:
        console.print(
            "the cluster has no link to this machine (run the demo with netns.py --host-link)"
        )
        return
    where = "from another terminal on this machine" if cluster is not None else "with"
    console.print(f"{where}:", highlight=False)
    console.print(
        f"  export KUBECONFIG={outside}\n"
        f"  kubectl get pods,services,orchestratedservices,orchestrationworkflows -n {namespace}\n"
        f"  {ROOT / '.venv/bin/orchestration-engine'} watch -n {namespace}\n"
        f"  {ROOT / '.venv/bin/orchestration-engine'} report --database-url "
        f"{operator.database_url}\n"
        f"  operator log: {operator.log_path}",
        highlight=False,
        soft_wrap=True,
    )


def run(args: argparse.Namespace, stop: threading.Event, stack: contextlib.ExitStack) -> int:
    from kubernetes import client, config

    started = time.monotonic()
    cluster: NodeCluster | None = None
    kubeconfig = configured_kubeconfig()
    if kubeconfig is None:
        if netns.current() is None:
            console.print(
                "[red]no configured cluster answers, and the local cluster needs a network "
                "namespace of its own:[/red] run `make demo` (as root), or\n"
                f"  python3 tests/localcluster/netns.py run --label demo --host-link -- "
                f"{sys.executable} examples/demo.py",
                highlight=False,
            )
            return 1
        cluster = NodeCluster()
        stack.callback(cluster.stop)
        console.print("starting the local cluster (a real node, in this network namespace)")
        cluster.start()
        kubeconfig = cluster.kubeconfig
        console.print(f"local cluster ready in {cluster.startup_seconds:.1f} s")
    else:
        console.print(f"using the cluster of {kubeconfig}")
    api = config.new_client_from_config(config_file=str(kubeconfig), persist_config=False)
    apply_crds(api)
    core = client.CoreV1Api(api)
    with contextlib.suppress(client.ApiException):
        core.create_namespace({"metadata": {"name": args.namespace, "labels": RESTRICTED}})
    # Pods can run only where there is a node; a bare control plane (tests/envtest) has none,
    # and there the services are FAILED, which the table then shows.
    has_nodes = bool(core.list_node().items)

    workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="eoe-demo-")))
    wrap = cluster_dns_wrap(workdir, args.namespace) if cluster is not None else []
    operator = Operator(kubeconfig, workdir, wrap)
    stack.callback(operator.stop)
    console.print(f"operator started (pid {operator.process.pid}, log {operator.log_path})")

    examples = ROOT / "examples"
    workloads = load(sorted((examples / "workloads").glob("*.yaml")), args.namespace)
    documents = load(sorted(examples.glob("*.yaml")), args.namespace)
    for body in workloads:
        apply_workload(api, args.namespace, body)
    if has_nodes:
        # The services are applied once their pods are ready: before, the checks would find
        # them FAILED and the engine would halt the maintenance workflow.
        wait_until(
            "the example workloads' pods to be ready",
            lambda: workloads_ready(api, args.namespace, workloads),
            WORKLOADS_TIMEOUT_S, stop, operator.check,
        )  # fmt: skip
        console.print("the workloads' pods are ready")
    else:
        console.print("[yellow]the cluster has no nodes: the workloads cannot run[/yellow]")

    custom = client.CustomObjectsApi(api)
    for body in documents:
        apply_object(custom, args.namespace, body)

    states: dict[str, str] = {}

    def progressed() -> bool:
        objects = read_all(custom, args.namespace, documents)
        for obj in objects:
            key = f"{obj['kind']} {obj['metadata']['name']}"
            if state_of(obj) and states.get(key) != state_of(obj):
                states[key] = state_of(obj)
                console.print(f"  +{time.monotonic() - started:5.1f} s  {key}: {states[key]}")
        return all((done if has_nodes else settled)(o) for o in objects)

    try:
        wait_until(
            "the services HEALTHY and the workflows finished" if has_nodes
            else "the operator's verdicts",
            progressed, SETTLE_TIMEOUT_S if has_nodes else 60, stop, operator.check,
        )  # fmt: skip
    except DemoFailed as error:
        if has_nodes:
            show(read_all(custom, args.namespace, documents))
            raise
        console.print(f"[yellow]{error}[/yellow]")
    show(read_all(custom, args.namespace, documents))

    if cluster is not None:
        provoke_failover(api, args.namespace, stop)
        show(read_all(custom, args.namespace, documents))
    else:
        console.print(
            "(the failover demo runs on the local cluster, whose pod and Service addresses "
            "the demo reaches)"
        )
    print_report(operator, kubeconfig)
    how_to_look_around(cluster, kubeconfig, operator, args.namespace)
    console.print(f"demo shown in {time.monotonic() - started:.1f} s")
    if args.once:
        return 0
    console.print("The operator keeps running; press Ctrl-C to stop everything.")
    while not stop.wait(1):
        operator.check()
    console.print("stopping")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description="Run the operator end to end.")
    parser.add_argument("--once", action="store_true", help="show the result and stop")
    parser.add_argument("--namespace", default=EXAMPLES_NAMESPACE)
    parser.add_argument(
        "--cluster-answers",
        action="store_true",
        help="only say (exit status 0) whether the kubeconfig's cluster answers",
    )
    args = parser.parse_args()
    if args.cluster_answers:
        return 0 if configured_kubeconfig() is not None else 1

    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    with contextlib.ExitStack() as stack:
        try:
            return run(args, stop, stack)
        except DemoFailed as error:
            console.print(f"[red]{error}[/red]", highlight=False)
            return 1
        except KeyboardInterrupt:
            console.print("stopping")
            return 0


if __name__ == "__main__":
    sys.exit(main())
