"""Benchmark: failover in a real cluster, from the primary's failure to traffic served by the
standby, beside the selector switch and the cluster's own floor, all measured in one run.

The local single-node cluster (tests/localcluster: kubelet, controllers, kube-proxy, CoreDNS)
with the operator installed by its chart from its image. Twenty runs, each with its own
OrchestratedService (``periodSeconds: 1``, ``failureThreshold: 3``, an HTTP check through the
Service's DNS name), a primary and a standby Deployment of the web image and a Service on the
primary. Once the service is HEALTHY the benchmark waits a random fraction of a period, makes
the primary's pod fail (POST /break: /healthz and / answer 503, so kubelet's readiness probe
fails too), and from then on

- calls the Service's ClusterIP every 10 ms until the standby answers (*traffic served*), and
- reads the Service every 10 ms until its selector is the standby's (*selector switched*).

The floor: the same Service's selector moved back and forth by hand (no operator), timed from
the write to the first answer of the other Deployment: what the endpoints controller and
kube-proxy take in this cluster, the part of the figure the operator cannot move.

Runs inside the cluster's network namespace:
``python tests/localcluster/netns.py run -- python tests/bench/bench_failover_traffic.py``
(`make bench` does, and writes the section into docs/benchmarks.md).
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "tests" / "e2e"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from e2e_support import (  # noqa: E402
    RELEASE,
    RESTRICTED,
    cluster_ip,
    create,
    create_custom,
    get_json,
    helm,
    operator_values,
    pod_post,
    running_ready_pods,
    service_status,
    wait_for,
    web_deployment,
    web_service,
)

from localcluster.node import NodeCluster  # noqa: E402

RUNS = 20
FLOOR_RUNS = 20
PERIOD_S, THRESHOLD = 1, 3
POLL_S = 0.01
GIVE_UP_S = 60.0
NAMESPACE = "bench-traffic"


@dataclass
class TrafficResults:
    traffic: list[float] = field(default_factory=list)
    selector: list[float] = field(default_factory=list)
    floor: list[float] = field(default_factory=list)


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    rank = q / 100 * (len(ordered) - 1)
    low, high = int(rank), min(int(rank) + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def _role(url: str) -> str | None:
    return (get_json(url, timeout=0.5) or {}).get("role")


def _until(predicate: Any, started: float, what: str) -> float:
    while not predicate():
        if time.monotonic() - started > GIVE_UP_S:
            raise TimeoutError(f"{what} not within {GIVE_UP_S} s")
        time.sleep(POLL_S)
    return time.monotonic() - started


def one_failover(kube: Any, index: int, results: TrafficResults) -> None:
    from kubernetes import client

    name = f"svc-{index:02d}"
    create(kube, NAMESPACE, web_deployment(name, app=name, role="primary"))
    create(kube, NAMESPACE, web_deployment(f"{name}-standby", app=name, role="standby"))
    create(kube, NAMESPACE, web_service(name, {"app": name, "role": "primary"}))
    create_custom(
        kube,
        NAMESPACE,
        {
            "kind": "OrchestratedService",
            "metadata": {"name": name},
            "spec": {
                "serviceType": "web",
                "priority": "CRITICAL",
                "workloadRef": {"kind": "Deployment", "name": name},
                "healthCheck": {
                    "http": {"url": f"http://{name}.{NAMESPACE}.svc.cluster.local:8080/healthz"},
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
    wait_for(
        lambda: service_status(kube, NAMESPACE, name).get("health") == "HEALTHY", 120, "HEALTHY"
    )
    url = f"http://{cluster_ip(kube, NAMESPACE, name)}:8080/"
    wait_for(lambda: _role(url) == "primary", 60, "the primary serving")
    primary = running_ready_pods(kube, NAMESPACE, f"app={name},role=primary")[0]
    core = client.CoreV1Api(kube)
    switched: list[float] = []

    def watch_selector(started: float) -> None:
        switched.append(
            _until(
                lambda: (
                    core.read_namespaced_service(name, NAMESPACE).spec.selector.get("role")
                    == "standby"
                ),
                started,
                "the selector switch",
            )
        )

    time.sleep(random.uniform(0, PERIOD_S))  # noqa: S311 - a random phase of the check cycle
    started = time.monotonic()
    pod_post(primary, "/break")
    watcher = threading.Thread(target=watch_selector, args=(started,), daemon=True)
    watcher.start()
    results.traffic.append(_until(lambda: _role(url) == "standby", started, "standby traffic"))
    watcher.join(GIVE_UP_S)
    results.selector.extend(switched)
    print(
        f"failover {index}: selector {switched[0] if switched else float('nan'):.2f} s, "
        f"traffic {results.traffic[-1]:.2f} s",
        flush=True,
    )


def floor(kube: Any, results: TrafficResults) -> None:
    """A Service's selector moved by hand between two ready Deployments: the write to the
    first answer of the other one."""
    from kubernetes import client

    name = "floor"
    create(kube, NAMESPACE, web_deployment(name, app=name, role="primary"))
    create(kube, NAMESPACE, web_deployment(f"{name}-standby", app=name, role="standby"))
    create(kube, NAMESPACE, web_service(name, {"app": name, "role": "primary"}))
    url = f"http://{cluster_ip(kube, NAMESPACE, name)}:8080/"
    wait_for(lambda: _role(url) == "primary", 120, "the floor's primary serving")
    wait_for(
        lambda: running_ready_pods(kube, NAMESPACE, f"app={name},role=standby"), 120, "standby"
    )
    core = client.CoreV1Api(kube)
    role = "primary"
    for _ in range(FLOOR_RUNS):
        role = "standby" if role == "primary" else "primary"
        time.sleep(random.uniform(0, 0.5))  # noqa: S311
        started = time.monotonic()
        core.patch_namespaced_service(name, NAMESPACE, {"spec": {"selector": {"role": role}}})
        results.floor.append(_until(lambda r=role: _role(url) == r, started, "floor traffic"))


def run() -> TrafficResults:
    from kubernetes import client, config

    results = TrafficResults()
    with NodeCluster() as cluster:
        kube = config.new_client_from_config(str(cluster.kubeconfig), persist_config=False)
        core = client.CoreV1Api(kube)
        for namespace in ("eoe-system", NAMESPACE):
            core.create_namespace({"metadata": {"name": namespace, "labels": RESTRICTED}})
        # The store on an emptyDir (the later --set wins): this measures failover, not history.
        helm(
            cluster.kubeconfig,
            "install",
            RELEASE,
            str(ROOT / "charts/orchestration-engine"),
            "--namespace",
            "eoe-system",
            *operator_values(),
            "--set",
            "persistence.enabled=false",
            "--wait",
            "--timeout",
            "300s",
        )
        floor(kube, results)
        for index in range(RUNS):
            one_failover(kube, index, results)
    return results


def markdown(r: TrafficResults) -> str:
    def row(label: str, values: list[float]) -> str:
        return (
            f"| {label} | {len(values)} | {min(values):.2f} s | {statistics.median(values):.2f} s"
            f" | {_percentile(values, 99):.2f} s | {max(values):.2f} s |"
        )

    return "\n".join(
        [
            "## Failover in a real cluster: to traffic served",
            "",
            "The local single-node cluster (kubelet, containerd, kube-proxy, CoreDNS; `make e2e`'s),"
            " the operator installed by its chart from its image. Each run: its own service"
            f" (`periodSeconds: {PERIOD_S}`, `failureThreshold: {THRESHOLD}`, an HTTP check through"
            " the Service's DNS name), a primary and a standby Deployment of real pods; the"
            " primary's pod made to fail at a random moment of the check cycle (its /healthz and /"
            f" answer 503). Polled every {POLL_S * 1000:g} ms from then on: the Service's selector,"
            " and its ClusterIP until the standby answers. The floor, in the same run: the"
            " selector moved by hand, from the write to the other Deployment's first answer"
            " (the endpoints controller and kube-proxy).",
            "",
            "| from the primary's failure to | runs | min | p50 | p99 | max |",
            "|---|---:|---:|---:|---:|---:|",
            row("the selector on the standby", r.selector),
            row("traffic served by the standby", r.traffic),
            row("floor: selector written by hand → traffic", r.floor),
            "",
            "The selector moves within about a second: kubelet's readiness probe (every second)"
            " takes the primary's pod out, and the operator judges the service FAILED on \"no"
            ' replica ready" without waiting for three failed checks (the API-only figure'
            " above waits for them). Traffic follows the selector by more than the floor: the"
            " primary's endpoint has just been removed, and kube-proxy applies changes at most"
            " once a second (its `minSyncPeriod`, 1 s by default), so the standby's endpoint"
            " waits for the next sync. That part is the cluster's, not the operator's.",
            "",
        ]
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--json", type=Path, help="write the figures here as JSON")
    args = parser.parse_args()
    results = run()
    if args.json:
        args.json.write_text(json.dumps(asdict(results)))
    print(markdown(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
