"""Benchmark: the workflow scheduler and runner (issue: workflow engine).

One operator watching one namespace, ``--max-workflows 1000``. Three measurements:

- **Latency**: workflows created one at a time with free capacity. A bare watch of the
  namespace, in this process, sees each one appear (ADDED: the API server's own floor) and
  then sees it ``Running``; both are timed from the create call, for the same objects.
- **Admissions per second**: with the engine halted, 1,000 workflows are created and wait
  Queued; the halt is released and the watch times until the last one is ``Running``.
- **Concurrency**: 500 workflows of one 20 s ``delay`` step are created at once; the figure is
  how many were Running at the same time, and that all of them then Succeeded.

Operator RSS and CPU are read from the process after each part.
"""

from __future__ import annotations

import contextlib
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
from support import (
    OperatorProcess,
    median,
    met,
    percentile,
    runs,
    tree_cpu_seconds,
    tree_rss_mb,
)

GROUP, VERSION, PLURAL = "orchestration.eoe.dev", "v1alpha1", "orchestrationworkflows"
LATENCY_SAMPLES = 200
LATENCY_INTERVAL_S = 0.05
QUEUED = 1000
CONCURRENT = 500
CONCURRENT_DELAY_S = 20


@dataclass
class Watcher:
    """A bare watch: when each object was first seen, and first seen in each phase."""

    api: Any
    namespace: str
    added: dict[str, float] = field(default_factory=dict)
    phases: dict[str, dict[str, float]] = field(default_factory=dict)
    running_now: set[str] = field(default_factory=set)
    max_running: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    _ready: threading.Event = field(default_factory=threading.Event)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        self._ready.wait(10)

    def _run(self) -> None:
        from kubernetes import client, watch

        custom = client.CustomObjectsApi(self.api)
        listing = custom.list_namespaced_custom_object(GROUP, VERSION, self.namespace, PLURAL)
        version = listing["metadata"]["resourceVersion"]
        self._ready.set()
        while not self._stop.is_set():
            stream = watch.Watch()
            for event in stream.stream(
                custom.list_namespaced_custom_object,
                GROUP,
                VERSION,
                self.namespace,
                PLURAL,
                resource_version=version,
                timeout_seconds=30,
                allow_watch_bookmarks=True,
            ):
                now = time.monotonic()
                obj = event["object"]
                version = obj["metadata"]["resourceVersion"]
                if event["type"] == "BOOKMARK":
                    continue
                name = obj["metadata"]["name"]
                if event["type"] == "ADDED":
                    self.added.setdefault(name, now)
                phase = (obj.get("status") or {}).get("phase")
                if phase:
                    self.phases.setdefault(name, {}).setdefault(phase, now)
                if phase == "Running":
                    self.running_now.add(name)
                    self.max_running = max(self.max_running, len(self.running_now))
                else:
                    self.running_now.discard(name)
                if self._stop.is_set():
                    break

    def seen(self, name: str, phase: str) -> float | None:
        return self.phases.get(name, {}).get(phase)

    def stop(self) -> None:
        self._stop.set()


@dataclass
class LatencyRun:
    """One run of the latency measurement: the operator and both floors, p50 and p99 ms."""

    running: tuple[float, float]
    floor: tuple[float, float]  # create → ADDED seen by a bare watch, the same objects
    kopf: tuple[float, float]  # the minimal kopf operator's one status patch


@dataclass
class WorkflowResults:
    latency_runs: list[LatencyRun] = field(default_factory=list)
    samples: int = 0
    admissions_per_second: float = 0.0
    admissions_seconds: float = 0.0
    max_running: int = 0
    concurrent_succeeded: int = 0
    concurrent_seconds_to_all_running: float = 0.0
    rss_mb: dict[str, float] = field(default_factory=dict)
    cpu_seconds: dict[str, float] = field(default_factory=dict)


def body(name: str, seconds: float, priority: str = "NORMAL") -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "OrchestrationWorkflow",
        "metadata": {"name": name},
        "spec": {
            "priority": priority,
            "steps": [{"name": "wait", "action": "delay", "params": {"seconds": seconds}}],
        },
    }


def wait_until(predicate: Any, timeout: float, what: str, operator: OperatorProcess) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} not reached in {timeout} s:\n{operator.log()}")
        time.sleep(0.2)


def set_halt(custom: Any, halt: bool) -> None:
    custom.patch_cluster_custom_object(
        GROUP, VERSION, "orchestrationengines", "default", {"spec": {"halt": halt}}
    )


def sample(process: psutil.Process, results: WorkflowResults, part: str) -> None:
    results.rss_mb[part] = tree_rss_mb(process)
    results.cpu_seconds[part] = tree_cpu_seconds(process)


def measure_latency(
    custom: Any, watcher: Watcher, results: WorkflowResults, operator: OperatorProcess, run: int
) -> tuple[tuple[float, float], tuple[float, float]]:
    """(running p50, p99), (floor p50, p99) in ms, for one run of LATENCY_SAMPLES creates."""
    created: dict[str, float] = {}
    for i in range(LATENCY_SAMPLES):
        name = f"lat-{run}-{i:04d}"
        created[name] = time.monotonic()
        custom.create_namespaced_custom_object(
            GROUP, VERSION, watcher.namespace, PLURAL, body(name, 0.5)
        )
        time.sleep(LATENCY_INTERVAL_S)
    wait_until(
        lambda: all(watcher.seen(n, "Running") for n in created), 60, "all Running", operator
    )
    floor = [(watcher.added[n] - t) * 1000 for n, t in created.items()]
    running = [(watcher.seen(n, "Running") - t) * 1000 for n, t in created.items()]  # type: ignore[operator]
    results.samples = len(created)
    wait_until(
        lambda: all(watcher.seen(n, "Succeeded") for n in created), 60, "all Succeeded", operator
    )
    return (percentile(running, 50), percentile(running, 99)), (
        percentile(floor, 50),
        percentile(floor, 99),
    )


class KopfFloor:
    """A minimal kopf operator that only patches each workflow's phase: the framework's floor,
    measured with the same creates as the operator, in the same run."""

    namespace = "bench-kopf-floor"

    def __init__(self, kubeconfig: Path, api: Any) -> None:
        from kubernetes import client

        self.api = api
        self.kubeconfig = kubeconfig
        client.CoreV1Api(api).create_namespace({"metadata": {"name": self.namespace}})
        self.custom = client.CustomObjectsApi(api)
        self.watcher = Watcher(api, self.namespace)

    def __enter__(self) -> KopfFloor:
        import os
        import subprocess
        import sys
        import urllib.request

        from envtest.operator_process import free_port

        port = free_port()
        script = Path(__file__).resolve().parent / "kopf_floor.py"
        self.process = subprocess.Popen(
            [sys.executable, str(script), self.namespace, str(port)],
            env={**os.environ, "KUBECONFIG": str(self.kubeconfig)},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        self.watcher.start()
        time.sleep(2)
        return self

    def measure(self, run: int) -> tuple[float, float]:
        created: dict[str, float] = {}
        for i in range(LATENCY_SAMPLES):
            name = f"kopf-{run}-{i:04d}"
            created[name] = time.monotonic()
            self.custom.create_namespaced_custom_object(
                GROUP, VERSION, self.namespace, PLURAL, body(name, 0)
            )
            time.sleep(LATENCY_INTERVAL_S)
        deadline = time.monotonic() + 60
        while not all(self.watcher.seen(n, "Running") for n in created):
            if time.monotonic() > deadline:
                raise TimeoutError("the minimal kopf operator did not mark every workflow")
            time.sleep(0.2)
        running = [(self.watcher.seen(n, "Running") - t) * 1000 for n, t in created.items()]  # type: ignore[operator]
        return percentile(running, 50), percentile(running, 99)

    def __exit__(self, *exc: object) -> None:
        self.watcher.stop()
        self.process.terminate()
        self.process.wait(timeout=20)
        self.custom.delete_collection_namespaced_custom_object(
            GROUP, VERSION, self.namespace, PLURAL
        )


def measure_admissions(
    custom: Any, watcher: Watcher, results: WorkflowResults, operator: OperatorProcess
) -> None:
    set_halt(custom, True)
    time.sleep(2)
    names = [f"queued-{i:04d}" for i in range(QUEUED)]
    for name in names:
        custom.create_namespaced_custom_object(
            GROUP, VERSION, watcher.namespace, PLURAL, body(name, 1)
        )
    wait_until(lambda: all(watcher.seen(n, "Queued") for n in names), 300, "all Queued", operator)
    released = time.monotonic()
    set_halt(custom, False)
    wait_until(
        lambda: all(watcher.seen(n, "Running") for n in names), 300, "all admitted", operator
    )
    last = max(watcher.seen(n, "Running") or 0.0 for n in names)
    results.admissions_seconds = last - released
    results.admissions_per_second = QUEUED / results.admissions_seconds
    wait_until(
        lambda: all(watcher.seen(n, "Succeeded") for n in names),
        300,
        "queued all Succeeded",
        operator,
    )


def measure_concurrency(
    custom: Any, watcher: Watcher, results: WorkflowResults, operator: OperatorProcess
) -> None:
    watcher.max_running = len(watcher.running_now)
    names = [f"conc-{i:04d}" for i in range(CONCURRENT)]
    started = time.monotonic()
    for name in names:
        custom.create_namespaced_custom_object(
            GROUP, VERSION, watcher.namespace, PLURAL, body(name, CONCURRENT_DELAY_S)
        )
    wait_until(lambda: all(watcher.seen(n, "Running") for n in names), 120, "500 Running", operator)
    results.concurrent_seconds_to_all_running = (
        max(watcher.seen(n, "Running") or 0.0 for n in names) - started
    )
    results.max_running = watcher.max_running
    wait_until(
        lambda: all(watcher.seen(n, "Succeeded") for n in names), 180, "500 Succeeded", operator
    )
    results.concurrent_succeeded = sum(1 for n in names if watcher.seen(n, "Succeeded"))


def run(kubeconfig: Path, api: Any) -> WorkflowResults:
    from kubernetes import client

    namespace = "bench-workflows"
    client.CoreV1Api(api).create_namespace({"metadata": {"name": namespace}})
    custom = client.CustomObjectsApi(api)
    results = WorkflowResults()
    with tempfile.TemporaryDirectory() as workdir, KopfFloor(kubeconfig, api) as kopf:
        operator = OperatorProcess(
            kubeconfig, Path(workdir), "--namespace", namespace, "--max-workflows", "1000"
        )
        watcher = Watcher(api, namespace)
        try:
            operator.wait_ready()
            process = psutil.Process(operator.pid)
            watcher.start()
            time.sleep(2)
            sample(process, results, "idle")
            # Run by run, the floors right before the operator: a ratio compares figures of
            # one run, and the table gives the medians over the runs.
            for run_number in range(runs()):
                kopf_figures = kopf.measure(run_number)
                running, floor = measure_latency(custom, watcher, results, operator, run_number)
                results.latency_runs.append(LatencyRun(running, floor, kopf_figures))
            sample(process, results, "latency")
            measure_admissions(custom, watcher, results, operator)
            sample(process, results, "admissions")
            measure_concurrency(custom, watcher, results, operator)
            sample(process, results, "concurrency")
        finally:
            watcher.stop()
            operator.stop()
            with contextlib.suppress(Exception):  # cleanup only
                set_halt(custom, False)
    custom.delete_collection_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL)
    return results


def markdown(r: WorkflowResults) -> str:
    def med(pick: Any) -> float:
        return median([pick(run) for run in r.latency_runs])

    running50, running99 = med(lambda x: x.running[0]), med(lambda x: x.running[1])
    floor50, floor99 = med(lambda x: x.floor[0]), med(lambda x: x.floor[1])
    kopf50, kopf99 = med(lambda x: x.kopf[0]), med(lambda x: x.kopf[1])
    # Ratios per run (each against its own run's floor), then their median.
    ratio50 = med(lambda x: x.running[0] / x.floor[0])
    ratio99 = med(lambda x: x.running[1] / x.floor[1])
    kopf_ratio50 = med(lambda x: x.running[0] / x.kopf[0])
    kopf_ratio99 = med(lambda x: x.running[1] / x.kopf[1])
    n = len(r.latency_runs)
    cpu = r.cpu_seconds
    return "\n".join(
        [
            "## Workflows (OrchestrationWorkflow)",
            "",
            "One operator, one namespace, `--max-workflows 1000`; a bare watch in the benchmark"
            " process times every object from its create call.",
            "",
            f"Latency rows: the medians of {n} runs of {r.samples} creates each (50 ms apart, free"
            " capacity); in each run the minimal kopf operator and then ours get the same creates,"
            " and each ratio is taken within a run before its median. The other rows are one run.",
            "",
            "| measure | figure | target | met? |",
            "|---|---:|---|---|",
            f"| create → Running p50 / p99 | {running50:.1f} / {running99:.1f} ms | p99 < 500 ms |"
            f" {met(running99 < 500)} |",
            f"| floor 1: create → ADDED seen by a bare watch (the API server's round trip), p50 / p99 |"
            f" {floor50:.1f} / {floor99:.1f} ms | | |",
            f"| ratio to floor 1, p50 / p99 | {ratio50:.1f}x / {ratio99:.1f}x | ≤ 2x |"
            f" {met(ratio99 <= 2 and ratio50 <= 2)} |",
            f"| floor 2: a minimal kopf operator's one status patch (the framework's floor), p50 / p99 |"
            f" {kopf50:.1f} / {kopf99:.1f} ms | | |",
            f"| ratio to floor 2, p50 / p99 | {kopf_ratio50:.2f}x / {kopf_ratio99:.2f}x | | |",
            f"| admissions per second, {QUEUED:,} queued then released at once |"
            f" {r.admissions_per_second:.0f} /s ({r.admissions_seconds:.1f} s for all) | ≥ 50/s |"
            f" {met(r.admissions_per_second >= 50)} |",
            f"| concurrent workflows ({CONCURRENT} of one {CONCURRENT_DELAY_S} s delay step) |"
            f" {r.max_running} Running at once, {r.concurrent_succeeded} Succeeded;"
            f" all Running {r.concurrent_seconds_to_all_running:.1f} s after the first create | 500 |"
            f" {met(r.max_running >= CONCURRENT and r.concurrent_succeeded == CONCURRENT)} |",
            f"| operator RSS idle / after latency / after 1,000 queued / with 500 running |"
            f" {r.rss_mb.get('idle', 0):.0f} / {r.rss_mb.get('latency', 0):.0f} /"
            f" {r.rss_mb.get('admissions', 0):.0f} / {r.rss_mb.get('concurrency', 0):.0f} MB | | |",
            f"| operator CPU seconds: latency part / admissions part / concurrency part |"
            f" {cpu.get('latency', 0) - cpu.get('idle', 0):.1f} /"
            f" {cpu.get('admissions', 0) - cpu.get('latency', 0):.1f} /"
            f" {cpu.get('concurrency', 0) - cpu.get('admissions', 0):.1f} | | |",
            "",
            "*Running* is the operator's admission write seen by the watch: the create's own event"
            " reaching the operator, its scheduling pass, one status PATCH, and that PATCH's event"
            " reaching the watch — two watch deliveries and two API writes, against the floor's"
            " one write and one delivery.",
            "",
        ]
    )
