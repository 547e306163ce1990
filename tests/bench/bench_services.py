"""Benchmark: health-checking N services (issue: OrchestratedService).

For each N, a fresh operator watches one namespace of N services checked over HTTP every
10 s against a local endpoint. After all are HEALTHY and a settle period, ``BENCH_RUNS``
steady windows (5) each measure what follows; a row gives the median of the windows: checks per second, the probe latency the operator saw (from its histogram) next
to the same endpoint's latency seen by a bare keep-alive client in the same window (the
difference is the probe overhead), operator CPU (cores) and RSS, and status writes per
minute while nothing changes (heartbeat set beyond the window, so every write counted is
one the design should not make).
"""

from __future__ import annotations

import asyncio
import math
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

import psutil
from support import (
    ROOT,
    OperatorProcess,
    histogram_buckets,
    histogram_quantile,
    median,
    met,
    metric_sum,
    percentile,
    runs,
    tree_cpu_seconds,
    tree_rss_mb,
)

from envtest.operator_process import free_port

GROUP, VERSION, PLURAL = "orchestration.eoe.dev", "v1alpha1", "orchestratedservices"
PERIOD_SECONDS = 10


@dataclass
class ServicesResult:
    services: int
    checks_per_second: float
    probe_p50_ms: float
    probe_p99_ms: float
    bare_p50_ms: float
    bare_p99_ms: float
    cpu_cores: float
    rss_mb: float
    status_writes_per_minute: float
    seconds_to_all_healthy: float
    window_seconds: float
    overhead_p50_ms: float  # probe minus bare, in the same window
    overhead_p99_ms: float
    windows: int = 1
    overhead_p99_range: tuple[float, float] = (math.nan, math.nan)


async def bare_latencies(port: int, seconds: float, interval: float = 0.02) -> list[float]:
    """The endpoint's own latency: one keep-alive connection, minimal HTTP/1.1, no library."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    request = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
    latencies = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        started = time.perf_counter()
        writer.write(request)
        await writer.drain()
        head = await reader.readuntil(b"\r\n\r\n")
        length = int(
            next(
                line.split(b":")[1]
                for line in head.split(b"\r\n")
                if line.lower().startswith(b"content-length")
            )
        )
        await reader.readexactly(length)
        latencies.append((time.perf_counter() - started) * 1000)
        await asyncio.sleep(interval)
    writer.close()
    return latencies


def create_services(custom: Any, namespace: str, count: int, url: str) -> None:
    def create(i: int) -> None:
        body = {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": "OrchestratedService",
            "metadata": {"name": f"svc-{i:05d}"},
            "spec": {"healthCheck": {"http": {"url": url}, "periodSeconds": PERIOD_SECONDS}},
        }
        custom.create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, body)

    with ThreadPoolExecutor(16) as pool:
        list(pool.map(create, range(count)))


def healthy_count(custom: Any, namespace: str) -> int:
    items = custom.list_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL)["items"]
    return sum(1 for item in items if (item.get("status") or {}).get("health") == "HEALTHY")


def run_size(
    kubeconfig: Path, api: Any, count: int, endpoint_port: int, window: float
) -> ServicesResult:
    from kubernetes import client

    namespace = f"bench-services-{count}"
    client.CoreV1Api(api).create_namespace({"metadata": {"name": namespace}})
    custom = client.CustomObjectsApi(api)
    url = f"http://127.0.0.1:{endpoint_port}/healthz"
    with tempfile.TemporaryDirectory() as workdir:
        operator = OperatorProcess(
            kubeconfig,
            Path(workdir),
            "--namespace",
            namespace,
            "--status-heartbeat-seconds",
            "3600",
        )
        try:
            operator.wait_ready()
            started = time.monotonic()
            create_services(custom, namespace, count, url)
            deadline = time.monotonic() + 180
            while healthy_count(custom, namespace) < count:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"not all {count} services HEALTHY:\n{operator.log()}")
                time.sleep(2)
            to_healthy = time.monotonic() - started
            time.sleep(PERIOD_SECONDS + 2)

            process = psutil.Process(operator.pid)
            measured = [
                measure_window(operator, process, endpoint_port, window, count, to_healthy)
                for _ in range(runs())
            ]
        finally:
            operator.stop()
    custom.delete_collection_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL)
    return medians(measured)


def measure_window(
    operator: OperatorProcess,
    process: psutil.Process,
    endpoint_port: int,
    window: float,
    count: int,
    to_healthy: float,
) -> ServicesResult:
    before, cpu_before, t0 = operator.metrics(), tree_cpu_seconds(process), time.monotonic()
    bare = asyncio.run(bare_latencies(endpoint_port, window))
    after, cpu_after, t1 = operator.metrics(), tree_cpu_seconds(process), time.monotonic()
    elapsed = t1 - t0

    def delta(name: str, **labels: str) -> float:
        return metric_sum(after, name, **labels) - metric_sum(before, name, **labels)

    name = "eoe_health_check_latency_seconds"
    buckets_before = histogram_buckets(before, name, check="http")
    buckets_after = histogram_buckets(after, name, check="http")
    probe_p50 = histogram_quantile(0.50, buckets_before, buckets_after) * 1000
    probe_p99 = histogram_quantile(0.99, buckets_before, buckets_after) * 1000
    bare_p50, bare_p99 = percentile(bare, 50), percentile(bare, 99)
    return ServicesResult(
        services=count,
        checks_per_second=delta("eoe_health_checks_total") / elapsed,
        probe_p50_ms=probe_p50,
        probe_p99_ms=probe_p99,
        bare_p50_ms=bare_p50,
        bare_p99_ms=bare_p99,
        overhead_p50_ms=probe_p50 - bare_p50,
        overhead_p99_ms=probe_p99 - bare_p99,
        cpu_cores=(cpu_after - cpu_before) / elapsed,
        rss_mb=tree_rss_mb(process),
        status_writes_per_minute=delta("eoe_status_writes_total", kind=PLURAL) * 60 / elapsed,
        seconds_to_all_healthy=to_healthy,
        window_seconds=elapsed,
    )


def medians(measured: list[ServicesResult]) -> ServicesResult:
    """Each figure's median over the windows (the overhead's too, not the difference of the
    medians), and the range of the p99 overhead."""
    numeric = {
        f.name: median([getattr(m, f.name) for m in measured])
        for f in fields(ServicesResult)
        if f.name not in ("services", "windows", "overhead_p99_range")
    }
    overheads = [m.overhead_p99_ms for m in measured]
    return replace(
        measured[0],
        **numeric,
        windows=len(measured),
        overhead_p99_range=(min(overheads), max(overheads)),
    )


def run(kubeconfig: Path, api: Any, sizes: list[int], window: float) -> list[ServicesResult]:
    port = free_port()
    server = subprocess.Popen([sys.executable, str(ROOT / "tests/bench/endpoint.py"), str(port)])
    try:
        time.sleep(1.5)
        return [run_size(kubeconfig, api, n, port, window) for n in sizes]
    finally:
        server.terminate()
        server.wait()


def markdown(results: list[ServicesResult]) -> str:
    lines = [
        "## Health checks (OrchestratedService)",
        "",
        f"HTTP checks every {PERIOD_SECONDS} s against a local aiohttp endpoint; one operator per row,"
        " medians of its windows (each window measured alone, the overhead within each),"
        " watching one namespace. *Probe* latency is what the operator measured (interpolated"
        " from its histogram); *bare* is the same endpoint, same window, through one keep-alive"
        " connection with no HTTP library; overhead is their difference. Writes are status"
        " patches per minute while nothing changes (heartbeat pushed beyond the window).",
        "",
        "| services | windows | checks/s | probe p50 / p99 ms | bare p50 / p99 ms | overhead p50 / p99 ms (p99 range) | target p99 < 5: met? | CPU cores, operator + probe worker | target ≤ 1 at 2,000: met? | RSS MB, both | writes/min (target 0) | all HEALTHY after s |",
        "|---:|---:|---:|---:|---:|---:|---|---:|---|---:|---:|---:|",
    ]
    for r in results:
        low, high = r.overhead_p99_range
        lines.append(
            f"| {r.services:,} | {r.windows} | {r.checks_per_second:.0f} | {r.probe_p50_ms:.2f} / {r.probe_p99_ms:.2f}"
            f" | {r.bare_p50_ms:.2f} / {r.bare_p99_ms:.2f} | {r.overhead_p50_ms:.2f} / {r.overhead_p99_ms:.2f} ({low:.2f} to {high:.2f})"
            f" | {met(r.overhead_p99_ms < 5)} | {r.cpu_cores:.2f} | {met(r.cpu_cores <= 1) if r.services >= 2000 else ''}"
            f" | {r.rss_mb:.0f} | {r.status_writes_per_minute:.1f} {met(r.status_writes_per_minute == 0)}"
            f" | {r.seconds_to_all_healthy:.0f} |"
        )
    lines += [
        "",
        "With the default 60 s heartbeat, an unchanged service costs one status write a minute"
        " (N services: N writes/min); every other write is a visible change.",
        "",
    ]
    return "\n".join(lines)
