"""Benchmark: nothing grows without bound (finished workflows are collected).

Two measurements, one operator each, watching one namespace:

- **Churn**: BENCH_RETENTION_WORKFLOWS workflows (default 50,000) of one ``delay 0`` step are
  created and run to Succeeded, at most IN_FLIGHT unfinished at a time, with the engine's
  default retention (no TTL, the newest 100 Succeeded and 100 failed per namespace). The
  operator's RSS is sampled throughout: the curve, and whether it stays flat (the last
  quarter's median within FLAT_MB of the second quarter's, after the warm-up); the number of
  workflows in the cluster stays near the history limit.
- **Start-up with finished workflows present**: BENCH_RETENTION_FINISHED (default 20,000)
  finished workflows are written straight to the API server (create, then a Succeeded status
  as the operator writes one) with the history limits raised so that all of them stay. An
  operator is then started; timed from its launch: /healthz answering, and a workflow created
  at the launch Succeeded. The floor: one paged LIST of all of them from this process, what
  any start-up must read.

Run alone: ``python tests/bench/bench_retention.py`` (its own control plane; prints the
table). BENCH_RETENTION_WORKFLOWS and BENCH_RETENTION_FINISHED shrink it.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import os
import sys
import tempfile
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil
from support import OperatorProcess, median, met, run_alone, tree_rss_mb

GROUP, VERSION, PLURAL = "orchestration.eoe.dev", "v1alpha1", "orchestrationworkflows"
CHURN_NAMESPACE = "bench-retention-churn"
STARTUP_NAMESPACE = "bench-retention-startup"
IN_FLIGHT = 200
SAMPLE_EVERY_S = 5.0
FLAT_MB = 25.0
STARTUP_TARGET_S = 10.0
FILL_THREADS = 8
CURVE_ROWS = 10


@dataclass
class RetentionResults:
    workflows: int = 0
    churn_seconds: float = 0.0
    # (workflows finished so far, seconds, operator RSS MiB, workflows in the cluster)
    curve: list[tuple[int, float, float, int]] = field(default_factory=list)
    max_in_cluster: int = 0
    collected: float = 0.0
    finished_present: int = 0
    fill_seconds: float = 0.0
    list_floor_s: float = 0.0
    ready_s: float = 0.0
    first_run_s: float = 0.0
    startup_rss_mb: float = 0.0

    def flat(self) -> tuple[float, float, bool]:
        """(second quarter's median RSS, last quarter's, flat?)."""
        rss = [r for _, _, r, _ in self.curve]
        if len(rss) < 4:
            return float("nan"), float("nan"), False
        quarter = len(rss) // 4
        early = median(rss[quarter : 2 * quarter])
        late = median(rss[-quarter:])
        return early, late, late - early <= FLAT_MB


class Counter:
    """A watch of the namespace: how many workflows finished and how many exist."""

    def __init__(self, api: Any, namespace: str) -> None:
        self.api = api
        self.namespace = namespace
        self.succeeded: set[str] = set()
        self.present: set[str] = set()
        self.failed: list[str] = []
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> None:
        self._thread.start()
        self._ready.wait(10)

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        from kubernetes import client, watch

        custom = client.CustomObjectsApi(self.api)
        listing = custom.list_namespaced_custom_object(GROUP, VERSION, self.namespace, PLURAL)
        version = listing["metadata"]["resourceVersion"]
        self._ready.set()
        while not self._stop.is_set():
            for event in watch.Watch().stream(
                custom.list_namespaced_custom_object,
                GROUP,
                VERSION,
                self.namespace,
                PLURAL,
                resource_version=version,
                timeout_seconds=30,
                allow_watch_bookmarks=True,
            ):
                obj = event["object"]
                version = obj["metadata"]["resourceVersion"]
                if event["type"] == "BOOKMARK":
                    continue
                name = obj["metadata"]["name"]
                if event["type"] == "DELETED":
                    self.present.discard(name)
                    continue
                self.present.add(name)
                phase = (obj.get("status") or {}).get("phase")
                if phase == "Succeeded":
                    self.succeeded.add(name)
                elif phase in ("Failed", "RolledBack", "Cancelled") and name not in self.failed:
                    self.failed.append(name)
                if self._stop.is_set():
                    break


def workflow(name: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "OrchestrationWorkflow",
        "metadata": {"name": name},
        "spec": {
            "steps": [{"name": "wait", "action": "delay", "params": {"seconds": 0}}],
            **spec,
        },
    }


def set_retention(custom: Any, retention: dict[str, Any]) -> None:
    """The engine's spec.workflowRetention; the engine created if no operator has yet."""
    from kubernetes.client import ApiException

    spec = {"spec": {"workflowRetention": retention}}
    try:
        custom.patch_cluster_custom_object(GROUP, VERSION, "orchestrationengines", "default", spec)
    except ApiException as error:
        if error.status != 404:
            raise
        custom.create_cluster_custom_object(
            GROUP,
            VERSION,
            "orchestrationengines",
            {
                "apiVersion": f"{GROUP}/{VERSION}",
                "kind": "OrchestrationEngine",
                "metadata": {"name": "default"},
                **spec,
            },
        )


def measure_churn(kubeconfig: Path, api: Any, results: RetentionResults, total: int) -> None:
    from kubernetes import client

    client.CoreV1Api(api).create_namespace({"metadata": {"name": CHURN_NAMESPACE}})
    custom = client.CustomObjectsApi(api)
    counter = Counter(api, CHURN_NAMESPACE)
    with tempfile.TemporaryDirectory() as workdir:
        operator = OperatorProcess(
            kubeconfig, Path(workdir), "--namespace", CHURN_NAMESPACE, "--max-workflows", "1000"
        )
        try:
            operator.wait_ready()
            set_retention(custom, {})  # the defaults
            process = psutil.Process(operator.pid)
            counter.start()
            started = time.monotonic()
            next_sample = started
            created = 0
            while len(counter.succeeded) < total:
                now = time.monotonic()
                if now >= next_sample:
                    point = (
                        len(counter.succeeded),
                        now - started,
                        tree_rss_mb(process),
                        len(counter.present),
                    )
                    results.curve.append(point)
                    print("churn", *point, file=sys.stderr, flush=True)  # a long run's progress
                    next_sample = now + SAMPLE_EVERY_S
                results.max_in_cluster = max(results.max_in_cluster, len(counter.present))
                if created < total and created - len(counter.succeeded) < IN_FLIGHT:
                    custom.create_namespaced_custom_object(
                        GROUP, VERSION, CHURN_NAMESPACE, PLURAL, workflow(f"w-{created:06d}")
                    )
                    created += 1
                else:
                    if counter.failed:
                        raise RuntimeError(f"workflows failed: {counter.failed[:5]}")
                    if now - started > total * 0.5 + 120:
                        raise TimeoutError(f"churn stalled at {len(counter.succeeded)}")
                    time.sleep(0.02)
            results.churn_seconds = time.monotonic() - started
            # The last ones collected: down to the history limit (plus any still in flight).
            deadline = time.monotonic() + 60
            while len(counter.present) > 100 and time.monotonic() < deadline:
                time.sleep(0.5)
            results.curve.append(
                (
                    len(counter.succeeded),
                    time.monotonic() - started,
                    tree_rss_mb(process),
                    len(counter.present),
                )
            )
            results.workflows = len(counter.succeeded)
            metrics = operator.metrics()
            results.collected = sum(
                float(line.rsplit(" ", 1)[1])
                for line in metrics.splitlines()
                if line.startswith("eoe_workflows_collected_total{")
            )
        finally:
            counter.stop()
            operator.stop()
    custom.delete_collection_namespaced_custom_object(GROUP, VERSION, CHURN_NAMESPACE, PLURAL)


def finished_status(stamp: str) -> dict[str, Any]:
    """A Succeeded status of the size the operator writes for a one-step workflow."""
    return {
        "phase": "Succeeded",
        "progress": 100.0,
        "startedAt": stamp,
        "finishedAt": stamp,
        "observedGeneration": 1,
        "message": "all steps succeeded",
        "steps": [
            {
                "name": "wait",
                "phase": "Succeeded",
                "attempts": 1,
                "startedAt": stamp,
                "finishedAt": stamp,
                "message": "waited 0 s",
            }
        ],
        "conditions": [
            {
                "type": kind,
                "status": "True",
                "reason": "Succeeded",
                "message": "all steps succeeded",
                "lastTransitionTime": stamp,
                "observedGeneration": 1,
            }
            for kind in ("Ready", "Admitted", "Succeeded")
        ],
    }


def fill(api: Any, count: int) -> None:
    from kubernetes import client

    custom = client.CustomObjectsApi(api)
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

    def one(i: int) -> None:
        name = f"done-{i:06d}"
        custom.create_namespaced_custom_object(
            GROUP, VERSION, STARTUP_NAMESPACE, PLURAL, workflow(name)
        )
        custom.patch_namespaced_custom_object_status(
            GROUP, VERSION, STARTUP_NAMESPACE, PLURAL, name, {"status": finished_status(stamp)}
        )

    with concurrent.futures.ThreadPoolExecutor(FILL_THREADS) as pool:
        for future in concurrent.futures.as_completed([pool.submit(one, i) for i in range(count)]):
            future.result()


def list_all(custom: Any) -> int:
    count, token = 0, None
    while True:
        page = custom.list_namespaced_custom_object(
            GROUP,
            VERSION,
            STARTUP_NAMESPACE,
            PLURAL,
            limit=500,
            **({"_continue": token} if token else {}),
        )
        count += len(page["items"])
        token = page["metadata"].get("continue")
        if not token:
            return count


def measure_startup(kubeconfig: Path, api: Any, results: RetentionResults, count: int) -> None:
    from kubernetes import client

    client.CoreV1Api(api).create_namespace({"metadata": {"name": STARTUP_NAMESPACE}})
    custom = client.CustomObjectsApi(api)
    # All of them stay: the worst case for a start-up (and what a cluster had before
    # retention existed).
    set_retention(
        custom, {"successfulWorkflowsHistoryLimit": 100_000, "failedWorkflowsHistoryLimit": 100_000}
    )
    started = time.monotonic()
    fill(api, count)
    results.fill_seconds = time.monotonic() - started
    print(f"filled {count} in {results.fill_seconds:.0f} s", file=sys.stderr, flush=True)
    floors = []
    for _ in range(3):
        started = time.monotonic()
        results.finished_present = list_all(custom)
        floors.append(time.monotonic() - started)
    results.list_floor_s = median(floors)
    with tempfile.TemporaryDirectory() as workdir:
        launched = time.monotonic()
        operator = OperatorProcess(kubeconfig, Path(workdir), "--namespace", STARTUP_NAMESPACE)
        try:
            custom.create_namespaced_custom_object(
                GROUP, VERSION, STARTUP_NAMESPACE, PLURAL, workflow("probe")
            )
            url = f"http://127.0.0.1:{operator.health_port}/healthz"
            while not results.ready_s:
                if time.monotonic() - launched > 120:
                    raise TimeoutError(f"operator not ready:\n{operator.log()}")
                with contextlib.suppress(OSError), urllib.request.urlopen(url, timeout=1):
                    results.ready_s = time.monotonic() - launched
                time.sleep(0.05)
            while True:
                body = custom.get_namespaced_custom_object(
                    GROUP, VERSION, STARTUP_NAMESPACE, PLURAL, "probe"
                )
                if (body.get("status") or {}).get("phase") == "Succeeded":
                    results.first_run_s = time.monotonic() - launched
                    break
                if time.monotonic() - launched > 180:
                    raise TimeoutError(f"probe workflow never ran:\n{operator.log()}")
                time.sleep(0.05)
            time.sleep(5)  # kopf's own listing of every object handled
            results.startup_rss_mb = tree_rss_mb(psutil.Process(operator.pid))
        finally:
            operator.stop()
    print(
        f"startup: ready {results.ready_s:.1f} s, first run {results.first_run_s:.1f} s, "
        f"list floor {results.list_floor_s:.1f} s, rss {results.startup_rss_mb:.0f} MB",
        file=sys.stderr,
        flush=True,
    )
    # Clean-up only (the control plane is thrown away after): a collection delete of 20,000
    # objects can outlast the API server's request timeout on a busy machine.
    with contextlib.suppress(Exception):
        set_retention(custom, {})
        custom.delete_collection_namespaced_custom_object(GROUP, VERSION, STARTUP_NAMESPACE, PLURAL)


def run(kubeconfig: Path, api: Any) -> RetentionResults:
    results = RetentionResults()
    total = int(os.environ.get("BENCH_RETENTION_WORKFLOWS", "50000"))
    finished = int(os.environ.get("BENCH_RETENTION_FINISHED", "20000"))
    if total:
        measure_churn(kubeconfig, api, results, total)
    if finished:
        measure_startup(kubeconfig, api, results, finished)
    return results


def markdown(r: RetentionResults) -> str:
    early, late, flat = r.flat()
    lines = [
        "## Bounded growth: finished workflows collected",
        "",
        "One operator watching one namespace, one run. **Churn**: workflows of one `delay 0` step"
        f" created and run to Succeeded, at most {IN_FLIGHT} unfinished at a time, with the"
        " engine's default retention (no TTL; the newest 100 Succeeded and 100 failed per"
        " namespace); the operator's RSS sampled every"
        f" {SAMPLE_EVERY_S:g} s. **Start-up**: finished workflows written straight to the API"
        " server with the history limits raised so that all stay, then an operator launched.",
        "",
        "| measure | figure | target | met? |",
        "|---|---:|---|---|",
    ]
    if r.curve:
        lines += [
            f"| workflows created and finished | {r.workflows:,} in {r.churn_seconds:.0f} s"
            f" ({r.workflows / max(r.churn_seconds, 1e-9):.0f}/s) | | |",
            f"| finished workflows deleted by the operator | {r.collected:,.0f} | | |",
            f"| most workflows in the cluster at once (100 kept, up to {IN_FLIGHT} unfinished,"
            f" the rest finished and not yet deleted) | {r.max_in_cluster:,} | | |",
            f"| operator RSS, median of the 2nd quarter → of the last quarter | {early:.0f} →"
            f" {late:.0f} MB | flat: grows ≤ {FLAT_MB:g} MB | {met(flat)} |",
        ]
    if r.finished_present:
        lines += [
            f"| start-up with {r.finished_present:,} finished workflows present: /healthz answers"
            f" | {r.ready_s:.1f} s | | |",
            f"| … a workflow created at the launch Succeeded | {r.first_run_s:.1f} s |"
            f" < {STARTUP_TARGET_S:g} s | {met(r.first_run_s < STARTUP_TARGET_S)} |",
            f"| floor: one paged LIST of them all from the benchmark (median of 3) |"
            f" {r.list_floor_s:.1f} s | | |",
            f"| operator RSS after that start-up | {r.startup_rss_mb:.0f} MB | < 512 Mi (the"
            f" chart's limit) | {met(r.startup_rss_mb < 512)} |",
        ]
    if r.curve:
        lines += [
            "",
            "The RSS curve of the churn (workflows finished so far, time, operator RSS, workflows"
            " in the cluster):",
            "",
            "| finished | time | RSS | in the cluster |",
            "|---:|---:|---:|---:|",
        ]
        step = max(1, len(r.curve) // CURVE_ROWS)
        points = r.curve[::step]
        if points[-1] is not r.curve[-1]:
            points.append(r.curve[-1])
        lines += [
            f"| {n:,} | {t:.0f} s | {rss:.0f} MB | {present:,} |" for n, t, rss, present in points
        ]
    lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    run_alone(run, markdown)
    sys.exit(0)
