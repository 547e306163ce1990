"""`make bench`: every benchmark in one command; writes docs/benchmarks.md.

Environment: BENCH_RUNS (5: latency figures are the medians of this many runs, each measured
against its floors in the same run), BENCH_SERVICE_SIZES (default "200,1000,2000"; empty:
skip), BENCH_WINDOW_SECONDS (30, each of the BENCH_RUNS windows per size), BENCH_WORKFLOWS (1; 0: skip), BENCH_TAKEOVER (1; 0: skip), BENCH_STORE (1; 0: skip),
BENCH_FAILOVER (1; 0: skip), BENCH_ANOMALY (1; 0: skip), BENCH_SCALING (1; 0: skip),
BENCH_OPTIMIZER (1; 0: skip), BENCH_TRAFFIC (1; 0: skip: failover to traffic served in the
real local cluster, bench_failover_traffic), BENCH_RETENTION (1; 0: skip; BENCH_RETENTION_WORKFLOWS and
BENCH_RETENTION_FINISHED size it, see bench_retention), BENCH_OUTPUT (docs/benchmarks.md: where
the report is written, relative to the checkout; a partial run for a comparison goes elsewhere).
Sections: health checks at fleet scale (bench_services), workflows (bench_workflows), leader
election's takeover (bench_takeover), failover time (bench_failover), the metrics store
(bench_store), anomaly detection
(bench_anomaly), predictive against reactive scaling (bench_scaling, simulated), the
resource optimiser's solvers (bench_optimizer), finished workflows collected and start-up
among them (bench_retention).
"""

from __future__ import annotations

import os
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_anomaly
import bench_failover
import bench_failover_traffic
import bench_optimizer
import bench_retention
import bench_scaling
import bench_services
import bench_store
import bench_takeover
import bench_workflows
from support import ROOT, LocalControlPlane, apply_crds, machine


def failover_traffic() -> bench_failover_traffic.TrafficResults:
    """The real-cluster section runs in a network namespace of its own (a child process):
    the cluster's addresses and kube-proxy's rules must not touch this machine's network."""
    import json
    import subprocess
    import tempfile

    with tempfile.TemporaryDirectory() as workdir:
        out = Path(workdir) / "traffic.json"
        subprocess.run(
            [
                sys.executable,
                str(ROOT / "tests/localcluster/netns.py"),
                "run",
                "--label",
                "bench",
                "--",
                sys.executable,
                str(Path(__file__).with_name("bench_failover_traffic.py")),
                "--json",
                str(out),
            ],
            check=True,
        )
        return bench_failover_traffic.TrafficResults(**json.loads(out.read_text()))


def main() -> int:
    sizes = [int(s) for s in os.environ.get("BENCH_SERVICE_SIZES", "200,1000,2000").split(",") if s]
    window = float(os.environ.get("BENCH_WINDOW_SECONDS", "30"))
    started = time.monotonic()
    from kubernetes import config

    # One control plane per service size: deleting the previous size's objects keeps the API
    # server and etcd busy (compaction included) into the next size's window.
    services = []
    for size in sizes:
        with LocalControlPlane() as control_plane:
            api = config.new_client_from_config(
                config_file=str(control_plane.kubeconfig), persist_config=False
            )
            apply_crds(api)
            services += bench_services.run(control_plane.kubeconfig, api, [size], window)
    with LocalControlPlane() as control_plane:
        api = config.new_client_from_config(
            config_file=str(control_plane.kubeconfig), persist_config=False
        )
        apply_crds(api)
        workflows = (
            bench_workflows.run(control_plane.kubeconfig, api)
            if os.environ.get("BENCH_WORKFLOWS", "1") == "1"
            else None
        )
        takeover = (
            bench_takeover.run(control_plane.kubeconfig, api)
            if os.environ.get("BENCH_TAKEOVER", "1") == "1"
            else None
        )
        failover = (
            bench_failover.run(control_plane.kubeconfig, api)
            if os.environ.get("BENCH_FAILOVER", "1") == "1"
            else None
        )
    retention = None
    if os.environ.get("BENCH_RETENTION", "1") == "1":
        # A control plane of its own: 50,000 workflows created and deleted, then 20,000 kept.
        with LocalControlPlane() as control_plane:
            api = config.new_client_from_config(
                config_file=str(control_plane.kubeconfig), persist_config=False
            )
            apply_crds(api)
            retention = bench_retention.run(control_plane.kubeconfig, api)
    traffic = failover_traffic() if os.environ.get("BENCH_TRAFFIC", "1") == "1" else None
    store = bench_store.run() if os.environ.get("BENCH_STORE", "1") == "1" else None
    anomaly = bench_anomaly.run() if os.environ.get("BENCH_ANOMALY", "1") != "0" else None
    scaling = bench_scaling.run() if os.environ.get("BENCH_SCALING", "1") != "0" else None
    optimizer = bench_optimizer.run() if os.environ.get("BENCH_OPTIMIZER", "1") != "0" else None

    report = [
        "# Benchmarks",
        "",
        "Written by `make bench` (tests/bench/) on the machine below. Each section says whether"
        " its figures are medians of several runs or one run; every ratio is taken against a"
        " floor measured in the same run.",
        "",
        f"- Date: {datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')}",
        f"- Machine: {machine()}",
        f"- Wall time of the whole run: {time.monotonic() - started:.0f} s",
        "",
        bench_services.markdown(services),
        bench_workflows.markdown(workflows) if workflows else "",
        bench_takeover.markdown(takeover) if takeover else "",
        bench_failover.markdown(failover) if failover else "",
        bench_failover_traffic.markdown(traffic) if traffic else "",
        bench_retention.markdown(retention) if retention else "",
        bench_store.markdown(store) if store else "",
        bench_anomaly.markdown(anomaly) if anomaly else "",
        bench_scaling.markdown(scaling) if scaling else "",
        bench_optimizer.markdown(optimizer) if optimizer else "",
    ]
    notes = ROOT / "docs" / "benchmark-notes.md"
    if notes.exists():
        report.append(notes.read_text())
    path = ROOT / os.environ.get("BENCH_OUTPUT", "docs/benchmarks.md")
    path.write_text("\n".join(report))
    print(path.read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
