"""Soak: the operator under a steady load for a long time; does anything creep?

N services checked over HTTP every 10 s against one local aiohttp endpoint (the benchmark's,
tests/bench/endpoint.py), and a workflow (one 1 s ``delay`` step) arriving every 2 s, each
deleted once it has finished so the object count stays bounded. Every 10 s: the resident
memory of the operator and of its probe worker (psutil), the operator's asyncio task count
(``eoe_asyncio_tasks``), the engine's ``status.heartbeatTime``; /healthz every 2 s. The
operator runs with ``--watch-heartbeat-seconds 10 --watch-stall-seconds 30``, so a stalled
watch would show within 30 s.

Verdicts, between the end of the warm-up and the end:
- memory: RSS (operator + probe worker) grows less than 10 %, comparing the medians of the
  3 samples (30 s) at each end, so one garbage-collection spike does not decide;
- tasks: flat, in two ways. Steady: the mean over the last fifth of the measured period is
  at most the mean over its first fifth x 1.1 + 10 (each window at least 6 samples, one
  status-heartbeat minute; judged only when the run holds two such windows). Settled: once
  the load is removed (services and workflows deleted), the count comes back within 45 s to
  at most the lowest count seen under load x 1.1 + 10. Single samples say little: kopf keeps
  a worker task per object for a few seconds after its last event, and every service's
  status heartbeat (a minute) is such an event, so the count swings with the heartbeats'
  phases; a leaked task stays after the load has gone;
- watches: /healthz answered 200 every time, and the heartbeat seen in the engine's status was
  never older than the stall limit (30 s) plus one sampling period;
- workflows: every one that arrived Succeeded (bar the last few still running at the end).

    python tests/fmea/soak.py --out build/fmea/soak.json              # 30 min, 1,000 services
    python tests/fmea/soak.py --out /tmp/s.json --minutes 2 --services 100 --warmup-minutes 0.5

Exit code 0 when every verdict holds. The JSON (rewritten after every sample, so a run cut
short still leaves its figures) holds the parameters, every sample, and the verdicts.
tests/fmea/test_soak.py runs the same function for 75 s at 100 services (`make test`).
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from fmea_disruption_support import (
    GROUP,
    ROOT,
    TERMINAL,
    VERSION,
    OperatorProcess,
    apply_crds,
    delay,
    engine,
    healthz,
    kube_client,
    metric_sum,
    moment,
    quiet,
    workflow,
    write_json,
)

from envtest.controlplane import LocalControlPlane
from envtest.operator_process import free_port

sys.path.insert(0, str(ROOT / "tests" / "bench"))
from bench_services import PERIOD_SECONDS, create_services, healthy_count

HEARTBEAT_S = 10
STALL_S = 30
SAMPLE_S = 10.0
HEALTHZ_EVERY_S = 2.0
WORKFLOW_EVERY_S = 2.0
RSS_GROWTH_LIMIT = 0.10
SETTLE_TIMEOUT_S = 45.0


@dataclass
class Sample:
    t: float  # seconds since the load began (all services HEALTHY)
    rss_operator_mb: float
    rss_worker_mb: float
    tasks: float
    heartbeat_age_s: float | None
    checks_total: float
    buffered_rows: float
    workflows_created: int
    workflows_succeeded: int

    @property
    def rss_mb(self) -> float:
        return self.rss_operator_mb + self.rss_worker_mb


@dataclass
class Soak:
    services: int
    duration_s: float
    warmup_s: float
    samples: list[Sample] = field(default_factory=list)
    healthz_answers: int = 0
    healthz_failures: list[str] = field(default_factory=list)
    workflows_created: int = 0
    workflows_succeeded: int = 0
    workflows_failed: list[str] = field(default_factory=list)
    workflows_unfinished_at_end: int = 0
    feed_errors: list[str] = field(default_factory=list)
    seconds_to_all_healthy: float = 0.0
    tasks_after_load: float | None = None
    seconds_to_settle: float | None = None
    verdicts: dict[str, Any] = field(default_factory=dict)
    counted: set[str] = field(default_factory=set)

    def finished(self, name: str, phase: str) -> None:
        """A workflow seen in a final phase (once, however often it is listed)."""
        if name in self.counted:
            return
        self.counted.add(name)
        if phase == "Succeeded":
            self.workflows_succeeded += 1
        else:
            self.workflows_failed.append(f"{name}: {phase}")

    def document(self) -> dict[str, Any]:
        data = asdict(self)
        del data["counted"]
        data["samples"] = [{**asdict(s), "rss_mb": round(s.rss_mb, 1)} for s in self.samples]
        data["healthz_failures"] = self.healthz_failures[:50]
        data["feed_errors"] = self.feed_errors[:50]
        return data


def _rss_mb(pid: int) -> tuple[float, float]:
    import psutil

    process = psutil.Process(pid)
    operator = process.memory_info().rss / 2**20
    worker = 0.0
    for child in process.children(recursive=True):
        try:
            worker += child.memory_info().rss / 2**20
        except psutil.NoSuchProcess:
            continue
    return operator, worker


class WorkflowFeed:
    """A workflow every ``every`` seconds; finished ones deleted (their outcome counted)."""

    def __init__(self, custom: Any, namespace: str, soak: Soak, every: float) -> None:
        self.custom, self.namespace, self.soak, self.every = custom, namespace, soak, every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="soak-feed", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        plural = "orchestrationworkflows"
        next_at = time.monotonic()
        while not self._stop.is_set():
            name = f"soak-{self.soak.workflows_created:06d}"
            try:
                self.custom.create_namespaced_custom_object(
                    GROUP, VERSION, self.namespace, plural, workflow(name, [delay("pause", 1)])
                )
                self.soak.workflows_created += 1
                items = self.custom.list_namespaced_custom_object(
                    GROUP, VERSION, self.namespace, plural
                )["items"]
                for item in items:
                    phase = (item.get("status") or {}).get("phase")
                    if phase in TERMINAL:
                        self.soak.finished(item["metadata"]["name"], phase)
                        self.custom.delete_namespaced_custom_object(
                            GROUP, VERSION, self.namespace, plural, item["metadata"]["name"]
                        )
            except Exception as error:
                self.soak.feed_errors.append(f"{time.strftime('%H:%M:%S')} {error}")
            next_at += self.every
            self._stop.wait(max(0.0, next_at - time.monotonic()))

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)


class LivenessWatch:
    def __init__(self, port: int, soak: Soak) -> None:
        self.port, self.soak = port, soak
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="soak-healthz", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(HEALTHZ_EVERY_S):
            code, body = healthz(self.port)
            self.soak.healthz_answers += 1
            if code != 200:
                self.soak.healthz_failures.append(f"{time.strftime('%H:%M:%S')} {code} {body}")

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)


def _start_endpoint() -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    process = subprocess.Popen([sys.executable, str(ROOT / "tests/bench/endpoint.py"), str(port)])
    url = f"http://127.0.0.1:{port}/healthz"
    deadline = time.monotonic() + 30
    while True:
        try:
            with urllib.request.urlopen(url, timeout=1):
                return process, url
        except OSError:
            if time.monotonic() > deadline or process.poll() is not None:
                process.kill()
                raise RuntimeError("the soak's health endpoint did not start") from None
            time.sleep(0.2)


def _heartbeat_age(custom: Any) -> float | None:
    beat = quiet(lambda: (engine(custom).get("status") or {}).get("heartbeatTime"), None)
    if not beat:
        return None
    return (datetime.now(UTC) - moment(beat)).total_seconds()


def _median(values: list[float]) -> float:
    return float(statistics.median(values)) if values else float("nan")


def judge(soak: Soak) -> dict[str, Any]:
    """The verdicts over the samples after the warm-up."""
    measured = [s for s in soak.samples if s.t >= soak.warmup_s - SAMPLE_S / 2]
    head, tail = measured[:3], measured[-3:]
    rss_start, rss_end = _median([s.rss_mb for s in head]), _median([s.rss_mb for s in tail])
    # Tasks, steady: means over windows long enough to hold a minute of status heartbeats.
    window = max(6, len(measured) // 5)
    judged = len(measured) >= 2 * window
    tasks_start = statistics.mean(s.tasks for s in measured[:window]) if judged else None
    tasks_end = statistics.mean(s.tasks for s in measured[-window:]) if judged else None
    steady = None if tasks_start is None or tasks_end is None else (
        tasks_end <= tasks_start * 1.1 + 10
    )  # fmt: skip
    # Tasks, settled: back down once the load is gone.
    floor = min((s.tasks for s in soak.samples), default=float("nan"))
    settled = soak.tasks_after_load is not None and soak.tasks_after_load <= floor * 1.1 + 10
    ages = [s.heartbeat_age_s for s in soak.samples if s.heartbeat_age_s is not None]
    max_age = max(ages) if ages else float("inf")
    growth = (rss_end - rss_start) / rss_start if rss_start else float("inf")
    span = tail[-1].t - head[0].t if measured else 0.0
    checks = (tail[-1].checks_total - head[0].checks_total) / span if span else 0.0
    verdicts: dict[str, Any] = {
        "samples_after_warmup": len(measured),
        "rss_start_mb": round(rss_start, 1),
        "rss_end_mb": round(rss_end, 1),
        "rss_peak_mb": round(max((s.rss_mb for s in measured), default=0.0), 1),
        "rss_growth_percent": round(growth * 100, 2),
        "rss_ok": len(measured) >= 4 and growth < RSS_GROWTH_LIMIT,
        "tasks_window_samples": window,
        "tasks_mean_start": None if tasks_start is None else round(tasks_start, 1),
        "tasks_mean_end": None if tasks_end is None else round(tasks_end, 1),
        "tasks_steady": steady,
        "tasks_min_under_load": floor,
        "tasks_max_under_load": max((s.tasks for s in measured), default=0.0),
        "tasks_after_load": soak.tasks_after_load,
        "seconds_to_settle": soak.seconds_to_settle,
        "tasks_ok": settled and steady is not False,
        "heartbeat_max_age_s": round(max_age, 1),
        "heartbeat_ok": max_age <= STALL_S + SAMPLE_S,
        "healthz_answers": soak.healthz_answers,
        "healthz_failures": len(soak.healthz_failures),
        "healthz_ok": soak.healthz_answers > 0 and not soak.healthz_failures,
        "checks_per_second": round(checks, 1),
        "workflows_ok": (
            not soak.workflows_failed
            and soak.workflows_created > 0
            and soak.workflows_succeeded + soak.workflows_unfinished_at_end
            >= soak.workflows_created
        ),
    }
    verdicts["ok"] = all(v for k, v in verdicts.items() if k.endswith("_ok"))
    return verdicts


def _settle(custom: Any, namespace: str, operator: OperatorProcess, soak: Soak) -> None:
    """Remove the load and wait for the task count to come back down (the gauge is sampled
    every 10 s, and kopf's idle workers linger a few seconds)."""
    for plural in ("orchestratedservices", "orchestrationworkflows"):
        custom.delete_collection_namespaced_custom_object(GROUP, VERSION, namespace, plural)
    target = min(s.tasks for s in soak.samples) * 1.1 + 10
    began = time.monotonic()
    while time.monotonic() - began < SETTLE_TIMEOUT_S:
        time.sleep(2)
        soak.tasks_after_load = metric_sum(quiet(operator.metrics, ""), "eoe_asyncio_tasks")
        if soak.tasks_after_load <= target:
            soak.seconds_to_settle = round(time.monotonic() - began, 1)
            return


def run_soak(
    kubeconfig: Path,
    kube_api: Any,
    namespace: str,
    *,
    services: int,
    duration_s: float,
    warmup_s: float,
    out: Path,
    workdir: Path,
) -> Soak:
    """One soak in ``namespace`` (which must exist); returns it judged, JSON written to out."""
    from kubernetes import client

    custom = client.CustomObjectsApi(kube_api)
    soak = Soak(services=services, duration_s=duration_s, warmup_s=warmup_s)
    endpoint, url = _start_endpoint()
    operator = OperatorProcess(
        kubeconfig,
        workdir / "operator",
        "--namespace",
        namespace,
        "--watch-heartbeat-seconds",
        str(HEARTBEAT_S),
        "--watch-stall-seconds",
        str(STALL_S),
    )
    feed: WorkflowFeed | None = None
    liveness: LivenessWatch | None = None
    try:
        operator.wait_ready(timeout=60)
        started = time.monotonic()
        create_services(custom, namespace, services, url)
        deadline = time.monotonic() + max(180.0, services * 0.3)
        while healthy_count(custom, namespace) < services:
            if time.monotonic() > deadline or operator.process.poll() is not None:
                raise RuntimeError(f"not all {services} services HEALTHY:\n{operator.log()}")
            time.sleep(2)
        soak.seconds_to_all_healthy = round(time.monotonic() - started, 1)
        print(f"soak: {services} services HEALTHY after {soak.seconds_to_all_healthy} s; "
              f"{duration_s:g} s of load ({warmup_s:g} s warm-up)", flush=True)  # fmt: skip

        feed = WorkflowFeed(custom, namespace, soak, WORKFLOW_EVERY_S)
        liveness = LivenessWatch(operator.health_port, soak)
        began = time.monotonic()
        next_sample = began
        while True:
            now = time.monotonic()
            if operator.process.poll() is not None:
                raise RuntimeError(f"the operator exited:\n{operator.log()}")
            text = quiet(operator.metrics, "")
            rss_operator, rss_worker = _rss_mb(operator.pid)
            sample = Sample(
                t=round(now - began, 1),
                rss_operator_mb=round(rss_operator, 1),
                rss_worker_mb=round(rss_worker, 1),
                tasks=metric_sum(text, "eoe_asyncio_tasks"),
                heartbeat_age_s=_heartbeat_age(custom),
                checks_total=metric_sum(text, "eoe_health_checks_total"),
                buffered_rows=metric_sum(text, "eoe_store_buffered_rows"),
                workflows_created=soak.workflows_created,
                workflows_succeeded=soak.workflows_succeeded,
            )
            soak.samples.append(sample)
            age = "?" if sample.heartbeat_age_s is None else f"{sample.heartbeat_age_s:.1f}"
            print(
                f"soak t={sample.t:6.0f} s  rss {sample.rss_operator_mb:6.1f} + "
                f"{sample.rss_worker_mb:5.1f} MB  tasks {sample.tasks:4.0f}  heartbeat age "
                f"{age} s  workflows {soak.workflows_succeeded}/{soak.workflows_created}",
                flush=True,
            )
            write_json(out, soak.document())
            if now - began >= duration_s:
                break
            next_sample += SAMPLE_S
            time.sleep(max(0.0, next_sample - time.monotonic()))
        feed.close()
        feed = None
        # The last workflows finish (one 1 s step each); those still running are counted.
        time.sleep(3)
        items = custom.list_namespaced_custom_object(
            GROUP, VERSION, namespace, "orchestrationworkflows"
        )["items"]
        for item in items:
            phase = (item.get("status") or {}).get("phase")
            if phase in TERMINAL:
                soak.finished(item["metadata"]["name"], phase)
            elif item["metadata"]["name"] not in soak.counted:
                soak.workflows_unfinished_at_end += 1
        _settle(custom, namespace, operator, soak)
    finally:
        if liveness is not None:
            liveness.close()
        if feed is not None:
            feed.close()
        operator.stop()
        endpoint.terminate()
        endpoint.wait()
        with contextlib.suppress(Exception):  # bounded objects for whoever comes next
            custom.delete_collection_namespaced_custom_object(
                GROUP, VERSION, namespace, "orchestratedservices"
            )
    soak.verdicts = judge(soak)
    write_json(out, soak.document())
    return soak


def summary(soak: Soak) -> str:
    v = soak.verdicts
    return (
        f"soak {soak.duration_s / 60:g} min at {soak.services} services "
        f"(checks every {PERIOD_SECONDS} s, {v['checks_per_second']}/s; a workflow every "
        f"{WORKFLOW_EVERY_S:g} s): RSS {v['rss_start_mb']} -> {v['rss_end_mb']} MB "
        f"({v['rss_growth_percent']:+.1f} %, peak {v['rss_peak_mb']}); asyncio tasks: mean "
        f"{v['tasks_mean_start']} -> {v['tasks_mean_end']} over {v['tasks_window_samples']} "
        f"samples (steady: {v['tasks_steady']}), {v['tasks_min_under_load']:g}..."
        f"{v['tasks_max_under_load']:g} under load, {v['tasks_after_load']} "
        f"{v['seconds_to_settle']} s after it was removed; heartbeat at most "
        f"{v['heartbeat_max_age_s']} s old; /healthz {v['healthz_answers']} answers, "
        f"{v['healthz_failures']} not 200; workflows {soak.workflows_succeeded} Succeeded of "
        f"{soak.workflows_created} ({soak.workflows_unfinished_at_end} still running at the "
        f"end, {len(soak.workflows_failed)} failed); verdict {'ok' if v['ok'] else 'FAILED'}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--out", required=True, type=Path, help="where to write the JSON")
    parser.add_argument("--minutes", type=float, default=30.0, help="load duration (30)")
    parser.add_argument("--warmup-minutes", type=float, default=5.0, help="within it (5)")
    parser.add_argument("--services", type=int, default=1000, help="services (1000)")
    args = parser.parse_args(argv)
    from kubernetes import client

    with LocalControlPlane() as plane, tempfile.TemporaryDirectory() as workdir:
        api = kube_client(plane.kubeconfig)
        apply_crds(api)
        namespace = "soak"
        client.CoreV1Api(api).create_namespace({"metadata": {"name": namespace}})
        soak = run_soak(
            plane.kubeconfig,
            api,
            namespace,
            services=args.services,
            duration_s=args.minutes * 60,
            warmup_s=args.warmup_minutes * 60,
            out=args.out,
            workdir=Path(workdir),
        )
    print(summary(soak), flush=True)
    print(f"figures: {args.out}", flush=True)
    return 0 if soak.verdicts["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
