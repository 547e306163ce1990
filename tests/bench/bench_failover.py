"""Benchmark: how long a failover takes, from the primary's endpoint going away to the
Service's selector on the standby.

Twenty runs, each with its own OrchestratedService (``periodSeconds: 1``,
``failureThreshold: 3``, ``timeoutSeconds: 1``), a primary Deployment with ready replicas, an
idle standby and a Service on the primary; the primary's health endpoint is a real HTTP server
on 127.0.0.1. Once the service is HEALTHY the benchmark waits a random fraction of a period
(so the stop falls anywhere in the check cycle), stops the server, and reads the Service every
10 ms until its selector is the standby's. The expected time: the first failed check comes
within one period, the third one two periods later, then the switch (two API writes).

Run alone: ``python tests/bench/bench_failover.py`` (its own control plane; prints the table).
"""

from __future__ import annotations

import random
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any

from support import OperatorProcess, met, percentile, run_alone

from builders import deployment
from envtest.workloads import set_ready
from http_support import OkHandler

GROUP, VERSION, PLURAL = "orchestration.eoe.dev", "v1alpha1", "orchestratedservices"
NAMESPACE = "bench-failover"
RUNS = 20
PERIOD_S, THRESHOLD = 1, 3
POLL_S = 0.01
GIVE_UP_S = 30.0


@dataclass
class FailoverResults:
    seconds: list[float] = field(default_factory=list)


def wait(predicate: Any, what: str, process: OperatorProcess, timeout: float = GIVE_UP_S) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} not reached in {timeout} s:\n{process.log()}")
        time.sleep(0.05)


def one_failover(index: int, api: Any, operator: OperatorProcess, r: FailoverResults) -> None:
    from kubernetes import client

    apps, core = client.AppsV1Api(api), client.CoreV1Api(api)
    custom = client.CustomObjectsApi(api)
    name = f"svc-{index:02d}"
    server = ThreadingHTTPServer(("127.0.0.1", 0), OkHandler)
    # A short poll interval: shutdown() returns within 10 ms, so the stop is sharp.
    threading.Thread(target=server.serve_forever, args=(0.01,), daemon=True).start()
    try:
        apps.create_namespaced_deployment(NAMESPACE, deployment(name, 2))
        set_ready(api, NAMESPACE, name, 2, 2)
        apps.create_namespaced_deployment(NAMESPACE, deployment(f"{name}-standby", 0))
        core.create_namespaced_service(
            NAMESPACE,
            {
                "metadata": {"name": name},
                "spec": {"selector": {"app": name}, "ports": [{"port": 80}]},
            },
        )
        url = f"http://127.0.0.1:{server.server_address[1]}/healthz"
        custom.create_namespaced_custom_object(
            GROUP,
            VERSION,
            NAMESPACE,
            PLURAL,
            {
                "apiVersion": f"{GROUP}/{VERSION}",
                "kind": "OrchestratedService",
                "metadata": {"name": name},
                "spec": {
                    "workloadRef": {"kind": "Deployment", "name": name},
                    "healthCheck": {
                        "http": {"url": url},
                        "periodSeconds": PERIOD_S,
                        "timeoutSeconds": 1,
                        "failureThreshold": THRESHOLD,
                    },
                    "failover": {
                        "standbyRef": {"kind": "Deployment", "name": f"{name}-standby"},
                        "serviceRef": {"name": name},
                    },
                },
            },
        )

        def health() -> str | None:
            body = custom.get_namespaced_custom_object(GROUP, VERSION, NAMESPACE, PLURAL, name)
            return (body.get("status") or {}).get("health")

        wait(lambda: health() == "HEALTHY", f"{name} HEALTHY", operator)
        time.sleep(random.uniform(0, PERIOD_S))  # noqa: S311 - a random phase of the check cycle
    finally:
        stopped = time.monotonic()
        server.shutdown()
        server.server_close()
    while True:
        selector = core.read_namespaced_service(name, NAMESPACE).spec.selector
        if selector == {"app": f"{name}-standby"}:
            break
        if time.monotonic() - stopped > GIVE_UP_S:
            raise TimeoutError(f"no failover of {name} in {GIVE_UP_S} s:\n{operator.log()}")
        time.sleep(POLL_S)
    took = time.monotonic() - stopped
    r.seconds.append(took)
    print(f"failover {index}: {took:.2f} s")


def run(kubeconfig: Path, api: Any) -> FailoverResults:
    from kubernetes import client

    client.CoreV1Api(api).create_namespace({"metadata": {"name": NAMESPACE}})
    results = FailoverResults()
    with tempfile.TemporaryDirectory() as workdir:
        operator = OperatorProcess(kubeconfig, Path(workdir), "--namespace", NAMESPACE)
        try:
            operator.wait_ready()
            for index in range(RUNS):
                one_failover(index, api, operator, results)
        finally:
            operator.stop()
    client.CustomObjectsApi(api).delete_collection_namespaced_custom_object(
        GROUP, VERSION, NAMESPACE, PLURAL
    )
    return results


def markdown(r: FailoverResults) -> str:
    values = r.seconds
    detection = PERIOD_S * THRESHOLD
    return "\n".join(
        [
            "## Failover time",
            "",
            f"{len(values)} failovers, each of its own service (`periodSeconds: {PERIOD_S}`,"
            f" `failureThreshold: {THRESHOLD}`), from stopping the primary's health endpoint at"
            " a random moment of the check cycle to the Service's selector on the standby (read"
            f" every {POLL_S * 1000:g} ms).",
            "",
            "| min | p50 | p99 | max | target | met? |",
            "|---:|---:|---:|---:|---|---|",
            f"| {min(values):.2f} s | {statistics.median(values):.2f} s |"
            f" {percentile(values, 99):.2f} s | {max(values):.2f} s | p99 < 5 s |"
            f" {met(percentile(values, 99) < 5)} |",
            "",
            f"Detection takes {detection - PERIOD_S} to {detection} s by construction (the first"
            " failed check within a period of the stop, the third two periods later); the rest"
            " is the switch: the standby's replicas and the Service's selector, two API writes.",
            "",
        ]
    )


if __name__ == "__main__":
    run_alone(run, markdown)
    sys.exit(0)
