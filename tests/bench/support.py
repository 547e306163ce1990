"""Shared pieces of the benchmarks: the control plane, the machine, statistics, metrics."""

from __future__ import annotations

import math
import os
import platform
import re
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import psutil
import yaml

T = TypeVar("T")

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))

from envtest.controlplane import LocalControlPlane  # noqa: E402
from envtest.operator_process import OperatorProcess  # noqa: E402

__all__ = ["ROOT", "LocalControlPlane", "OperatorProcess"]


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{cpu}, {os.cpu_count()} cores, {memory_gib:.0f} GiB, {platform.system()} {platform.release()}, Python {platform.python_version()}"


def runs() -> int:
    """How many times a latency measurement is repeated; its figures are the runs' medians
    (BENCH_RUNS, default 5)."""
    return max(1, int(os.environ.get("BENCH_RUNS", "5")))


def met(ok: bool) -> str:
    return "yes" if ok else "**no**"


def median(values: Sequence[float]) -> float:
    return percentile(values, 50)


def percentile(values: Sequence[float], q: float) -> float:
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = q / 100 * (len(ordered) - 1)
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def apply_crds(api: Any) -> None:
    from kubernetes import client

    extensions = client.ApiextensionsV1Api(api)
    for path in sorted((ROOT / "crds").glob("*.yaml")):
        body = yaml.safe_load(path.read_text())
        try:
            extensions.create_custom_resource_definition(body)
        except client.ApiException as error:
            if error.status != 409:
                raise
    time.sleep(2)


_SAMPLE = re.compile(r"^(?P<name>[a-zA-Z_:][\w:]*)(\{(?P<labels>[^}]*)\})?\s+(?P<value>\S+)$")


def samples(text: str, name: str) -> list[tuple[dict[str, str], float]]:
    found = []
    for line in text.splitlines():
        match = _SAMPLE.match(line)
        if not match or match["name"] != name:
            continue
        labels = dict(re.findall(r'(\w+)="([^"]*)"', match["labels"] or ""))
        found.append((labels, float(match["value"])))
    return found


def metric_sum(text: str, name: str, **want: str) -> float:
    return sum(
        v for labels, v in samples(text, name) if all(labels.get(k) == x for k, x in want.items())
    )


def histogram_buckets(text: str, name: str, **want: str) -> list[tuple[float, float]]:
    buckets = []
    for labels, value in samples(text, f"{name}_bucket"):
        if all(labels.get(k) == x for k, x in want.items()):
            buckets.append((float(labels["le"]), value))
    return sorted(buckets)


def histogram_quantile(
    q: float, before: Iterable[tuple[float, float]], after: Iterable[tuple[float, float]]
) -> float:
    """Prometheus's histogram_quantile over the difference of two scrapes (linear in a bucket)."""
    old = dict(before)
    buckets = [(le, count - old.get(le, 0.0)) for le, count in after]
    total = buckets[-1][1] if buckets else 0
    if total <= 0:
        return math.nan
    target = q * total
    previous_le, previous_count = 0.0, 0.0
    for le, count in buckets:
        if count >= target:
            if math.isinf(le):
                return previous_le
            span = count - previous_count
            fraction = (target - previous_count) / span if span else 0
            return previous_le + (le - previous_le) * fraction
        previous_le, previous_count = le, count
    return previous_le


def tree_cpu_seconds(process: psutil.Process) -> float:
    """User + system CPU of a process and its live children (the probe worker)."""
    total = 0.0
    for member in [process, *process.children(recursive=True)]:
        try:
            times = member.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += times.user + times.system
    return total


def tree_rss_mb(process: psutil.Process) -> float:
    """Resident memory of a process and its live children, in MiB."""
    total = 0
    for member in [process, *process.children(recursive=True)]:
        try:
            total += member.memory_info().rss
        except psutil.NoSuchProcess:
            continue
    return total / 2**20


def run_alone(run: Callable[[Path, Any], T], markdown: Callable[[T], str]) -> None:
    """A benchmark section on a control plane of its own, its table printed."""
    from kubernetes import config

    with LocalControlPlane() as control_plane:
        kube_api = config.new_client_from_config(
            config_file=str(control_plane.kubeconfig), persist_config=False
        )
        apply_crds(kube_api)
        print(markdown(run(control_plane.kubeconfig, kube_api)))
