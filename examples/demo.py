"""`make demo`: the operator on a cluster, end to end, in one command.

Uses the cluster your kubeconfig names if one answers; otherwise starts a local control
plane (etcd + kube-apiserver, see tests/envtest). Then installs the CRDs, runs the operator
on SQLite, applies examples/, and shows what the operator did. Ctrl-C stops everything.

    python examples/demo.py [--once] [--namespace eoe-demo]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import yaml
from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from envtest.controlplane import LocalControlPlane, cache_root  # noqa: E402

GROUP, VERSION = "orchestration.eoe.dev", "v1alpha1"
PLURALS = {
    "OrchestratedService": "orchestratedservices",
    "OrchestrationWorkflow": "orchestrationworkflows",
    "OrchestrationEngine": "orchestrationengines",
}
console = Console()


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
            "starting a local control plane[/yellow]"
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


WORKFLOW_ENDS = {"Succeeded", "Failed", "RolledBack", "Cancelled"}


def settled(obj: dict[str, Any]) -> bool:
    """The operator has said something about it; a workflow has also finished."""
    status = obj.get("status") or {}
    if not status.get("conditions"):
        return False
    return obj["kind"] != "OrchestrationWorkflow" or status.get("phase") in WORKFLOW_ENDS


def show(objects: list[dict[str, Any]]) -> None:
    table = Table(title="What the operator did")
    for column in ("Kind", "Name", "Ready", "Reason", "State", "Message"):
        table.add_column(column)
    for obj in objects:
        status = obj.get("status") or {}
        ready = next((c for c in status.get("conditions") or [] if c["type"] == "Ready"), {})
        state = status.get("health") or status.get("phase") or ""
        table.add_row(
            obj["kind"],
            obj["metadata"]["name"],
            ready.get("status", "-"),
            ready.get("reason", "-"),
            state,
            ready.get("message", ""),
        )
    console.print(table)


def main() -> int:
    parser = argparse.ArgumentParser(description="Run the operator end to end.")
    parser.add_argument("--once", action="store_true", help="show the result and stop")
    parser.add_argument("--namespace", default="eoe-demo")
    args = parser.parse_args()

    from kubernetes import client, config

    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())

    with contextlib.ExitStack() as stack:
        kubeconfig = configured_kubeconfig()
        if kubeconfig is None:
            local = LocalControlPlane(kubeconfig_path=cache_root() / "demo.kubeconfig")
            stack.callback(local.stop)
            local.start()
            kubeconfig = local.kubeconfig
            console.print(
                f"local control plane ready in {local.startup_seconds:.1f} s; "
                f"export KUBECONFIG={kubeconfig} to look around"
            )
        else:
            console.print(f"using the cluster of {kubeconfig}")
        api = config.new_client_from_config(config_file=str(kubeconfig), persist_config=False)
        apply_crds(api)
        with contextlib.suppress(client.ApiException):
            client.CoreV1Api(api).create_namespace({"metadata": {"name": args.namespace}})

        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="eoe-demo-")))
        log_path = workdir / "operator.log"
        log = stack.enter_context(log_path.open("wb"))
        operator = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "orchestration_engine",
                "run",
                "--database-url",
                f"sqlite:///{workdir / 'orchestration.db'}",
                "--metrics-port",
                str(free_port()),
                "--health-port",
                str(free_port()),
            ],
            env={**os.environ, "KUBECONFIG": str(kubeconfig)},
            stdout=log,
            stderr=subprocess.STDOUT,
        )

        def stop_operator() -> None:
            if operator.poll() is None:
                operator.send_signal(signal.SIGTERM)
                try:
                    operator.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    operator.kill()

        stack.callback(stop_operator)
        console.print(f"operator started (pid {operator.pid}, log {log_path})")

        custom = client.CustomObjectsApi(api)
        documents = []
        for path in sorted((ROOT / "examples").glob("*.yaml")):
            documents.extend(d for d in yaml.safe_load_all(path.read_text()) if d)
        for body in documents:
            apply_object(custom, args.namespace, body)

        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not stop.is_set():
            objects = read_all(custom, args.namespace, documents)
            if all(settled(o) for o in objects):
                break
            if operator.poll() is not None:
                console.print(f"[red]the operator exited:[/red]\n{log_path.read_text()[-3000:]}")
                return 1
            time.sleep(0.5)
        show(read_all(custom, args.namespace, documents))
        if args.once:
            return 0
        console.print("The operator keeps running; press Ctrl-C to stop everything.")
        while not stop.wait(1):
            if operator.poll() is not None:
                console.print(f"[red]the operator exited:[/red]\n{log_path.read_text()[-3000:]}")
                return 1
        console.print("stopping")
    return 0


if __name__ == "__main__":
    sys.exit(main())
