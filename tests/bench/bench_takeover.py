"""Benchmark: how long a standby takes to replace a leader that died (``run --leader-elect``).

The timings users get: lease 15 s, renew deadline 10 s, retry period 2 s. Ten runs; each has
a leader and a standby that has already seen the leader's lease, and SIGKILLs the leader at a
random moment of its renewal cycle. Two figures per run, both from the kill:

- the standby holds the Lease (the benchmark reads the Lease every 0.1 s);
- a workflow created right after the kill is Running, i.e. the new leader has started the
  operator (listings, kopf's watches) and admitted it.

The survivor of one run is the leader of the next, with a fresh standby beside it.

Run alone: ``python tests/bench/bench_takeover.py`` (its own control plane; prints the table).
"""

from __future__ import annotations

import os
import random
import signal
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from support import OperatorProcess, met, run_alone

GROUP, VERSION, PLURAL = "orchestration.eoe.dev", "v1alpha1", "orchestrationworkflows"
NAMESPACE = "bench-takeover"
LEASE_NAME = "orchestration-engine-leader"
LEASE_NAMESPACE = "default"  # no POD_NAMESPACE in the benchmark's environment
RUNS = 10
POLL_S = 0.1
LEASE_S, RENEW_S, RETRY_S = 15.0, 10.0, 2.0
GIVE_UP_S = 60.0


@dataclass
class TakeoverResults:
    lease_s: list[float] = field(default_factory=list)
    admitted_s: list[float] = field(default_factory=list)


def holder_pid(leases: Any) -> int | None:
    """Identities are ``host_pid_suffix``."""
    lease = leases.read_namespaced_lease(LEASE_NAME, LEASE_NAMESPACE)
    parts = (lease.spec.holder_identity or "").rsplit("_", 2)
    return int(parts[1]) if len(parts) == 3 and parts[1].isdigit() else None


def phase(custom: Any, name: str) -> str | None:
    body = custom.get_namespaced_custom_object(GROUP, VERSION, NAMESPACE, PLURAL, name)
    return (body.get("status") or {}).get("phase")


def workflow(name: str) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "OrchestrationWorkflow",
        "metadata": {"name": name},
        "spec": {"steps": [{"name": "wait", "action": "delay", "params": {"seconds": 1}}]},
    }


def wait(predicate: Any, what: str, process: OperatorProcess, timeout: float = GIVE_UP_S) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} not reached in {timeout} s:\n{process.log()}")
        time.sleep(POLL_S)


def candidate(kubeconfig: Path, workdir: Path) -> OperatorProcess:
    return OperatorProcess(
        kubeconfig,
        workdir,
        "--namespace",
        NAMESPACE,
        "--leader-elect",
        "--lease-duration-seconds",
        str(LEASE_S),
        "--renew-deadline-seconds",
        str(RENEW_S),
        "--retry-period-seconds",
        str(RETRY_S),
    )


def one_takeover(
    index: int, leader: OperatorProcess, standby: OperatorProcess, api: Any, r: TakeoverResults
) -> None:
    from kubernetes import client

    leases = client.CoordinationV1Api(api)
    custom = client.CustomObjectsApi(api)
    standby.wait_ready()
    wait(lambda: "held by" in standby.text(), "the standby to see the lease", standby)
    time.sleep(random.uniform(0, RETRY_S))  # noqa: S311 - a random phase of the renewal cycle
    os.killpg(leader.pid, signal.SIGKILL)
    killed = time.monotonic()
    name = f"takeover-{index:02d}"
    custom.create_namespaced_custom_object(GROUP, VERSION, NAMESPACE, PLURAL, workflow(name))
    lease_at: float | None = None
    admitted_at: float | None = None
    while lease_at is None or admitted_at is None:
        now = time.monotonic()
        if now - killed > GIVE_UP_S:
            raise TimeoutError(f"no takeover in {GIVE_UP_S} s:\n{standby.log()}")
        if lease_at is None and holder_pid(leases) == standby.pid:
            lease_at = now
        if admitted_at is None and phase(custom, name) in {"Running", "Succeeded"}:
            admitted_at = now
        time.sleep(POLL_S)
    r.lease_s.append(lease_at - killed)
    r.admitted_s.append(admitted_at - killed)
    print(
        f"takeover {index}: lease {lease_at - killed:.1f} s, admitted {admitted_at - killed:.1f} s"
    )


def run(kubeconfig: Path, api: Any) -> TakeoverResults:
    from kubernetes import client

    client.CoreV1Api(api).create_namespace({"metadata": {"name": NAMESPACE}})
    results = TakeoverResults()
    with tempfile.TemporaryDirectory() as workdir:
        leader = candidate(kubeconfig, Path(workdir) / "first")
        processes = [leader]
        try:
            leader.wait_ready()
            leases = client.CoordinationV1Api(api)
            wait(lambda: holder_pid(leases) == leader.pid, "the first leader", leader)
            for index in range(RUNS):
                standby = candidate(kubeconfig, Path(workdir) / f"standby-{index}")
                processes.append(standby)
                one_takeover(index, leader, standby, api, results)
                leader.stop()  # reaped; its log closed
                leader = standby
        finally:
            for process in processes:
                process.stop()
    client.CustomObjectsApi(api).delete_collection_namespaced_custom_object(
        GROUP, VERSION, NAMESPACE, PLURAL
    )
    return results


def markdown(r: TakeoverResults) -> str:
    def row(label: str, values: list[float], bound: str, ok: bool | None) -> str:
        return (
            f"| {label} | {min(values):.1f} s | {statistics.median(values):.1f} s |"
            f" {max(values):.1f} s | {bound} | {'' if ok is None else met(ok)} |"
        )

    return "\n".join(
        [
            "## Leader election: takeover after the leader is killed",
            "",
            f"Two operators with `--leader-elect` at the default timings (lease {LEASE_S:g} s,"
            f" renew deadline {RENEW_S:g} s, retry period {RETRY_S:g} s); the leader SIGKILLed"
            f" {len(r.lease_s)} times at a random moment of its renewal cycle.",
            "",
            "| from the kill to | min | median | max | expected | met? |",
            "|---|---:|---:|---:|---|---|",
            row(
                "the standby holds the Lease",
                r.lease_s,
                f"lease ± one retry period: {LEASE_S - RETRY_S:g} to {LEASE_S + RETRY_S:g} s",
                all(LEASE_S - RETRY_S <= v <= LEASE_S + RETRY_S for v in r.lease_s),
            ),
            row(
                "a workflow created at the kill is Running",
                r.admitted_s,
                "the above + start-up",
                None,
            ),
            "",
            "The standby counts the lease from when it saw the last renewal, up to a retry period"
            " after it was written, and the kill falls up to a retry period after that renewal;"
            " the standby wakes exactly when the lease runs out rather than on its next beat.",
            "",
        ]
    )


if __name__ == "__main__":
    run_alone(run, markdown)
    sys.exit(0)
