"""The autoscaler end to end without a cluster: the demand history read back from the store
makes a predictive service scale ahead of its daily peak, while a reactive one waits; and the
demand it observes goes to the store (fake clocks, a fake scale call)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from orchestration_engine.api.common import WorkloadRef
from orchestration_engine.api.engine import EngineSpec
from orchestration_engine.controllers.services.autoscaler import Autoscaler
from orchestration_engine.controllers.services.service_monitor import ServiceMonitor
from orchestration_engine.controllers.services.workloads import WorkloadCache
from orchestration_engine.kube.events import ObjectRef
from orchestration_engine.probes.result import CheckResult
from orchestration_engine.probes.target import ProbeTarget

# 11:55 on the third day: the daily peak starts at 12:00.
NOW = datetime(2026, 11, 24, 11, 55, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.wall = NOW.timestamp()
        self.mono = 1000.0

    def advance(self, seconds: float) -> None:
        self.wall += seconds
        self.mono += seconds


class Quiet:
    def upsert(self, key: Any, target: ProbeTarget, period_s: float) -> None:
        pass

    def remove(self, key: Any) -> None:
        pass

    def submit(self, *args: Any) -> None:
        pass

    def forget(self, *args: Any) -> None:
        pass

    def record(self, ref: ObjectRef, type_: str, reason: str, message: str) -> None:
        pass


class Rows:
    def __init__(self) -> None:
        self.rows: list[tuple[str, dict[str, Any]]] = []

    def submit(self, table: str, row: dict[str, Any]) -> None:
        self.rows.append((table, row))


async def two_days(namespace: str, name: str, since: datetime) -> list[tuple[datetime, float]]:
    """Demand 2 all day, 8 from 12:00 to 13:00, on the two days before NOW."""
    rows = []
    moment = (NOW - timedelta(days=2)).replace(hour=0, minute=0)
    while moment < NOW.replace(hour=0, minute=0):
        rows.append((moment, 8.0 if moment.hour == 12 else 2.0))
        moment += timedelta(minutes=5)
    return rows


async def run(predictive: bool) -> tuple[list[int], Rows]:
    clock = Clock()
    quiet = Quiet()
    cache = WorkloadCache()
    cache.update(
        "Deployment",
        {
            "metadata": {"namespace": "shop", "name": "web"},
            "spec": {"replicas": 2},
            "status": {"readyReplicas": 2},
        },
    )
    monitor = ServiceMonitor(
        scheduler=quiet,
        statuses=quiet,
        events=quiet,
        replicas=cache.lookup,
        now=lambda: datetime.fromtimestamp(clock.wall, UTC),
        monotonic=lambda: clock.mono,
    )
    scaled: list[int] = []

    async def scale(namespace: str, ref: WorkloadRef, replicas: int) -> bool:
        scaled.append(replicas)
        # What the watch would bring back (all ready at once).
        cache.update(
            "Deployment",
            {
                "metadata": {"namespace": namespace, "name": ref.name},
                "spec": {"replicas": replicas},
                "status": {"readyReplicas": replicas},
            },
        )
        return True

    rows = Rows()
    async with httpx.AsyncClient() as http:
        autoscaler = Autoscaler(
            scale,
            monitor,
            cache,
            engine=EngineSpec,
            halted=lambda: False,
            rows=rows,
            http=http,
            load_history=two_days,
            monotonic=lambda: clock.mono,
            wall=lambda: clock.wall,
        )
        monitor.check_listeners.append(autoscaler.check)
        monitor.observe(
            None,
            {
                "metadata": {"namespace": "shop", "name": "web", "uid": "u", "generation": 1},
                "spec": {
                    "workloadRef": {"kind": "Deployment", "name": "web"},
                    "healthCheck": {"http": {"url": "http://web.shop.svc/"}},
                    "scaling": {
                        "minReplicas": 1,
                        "maxReplicas": 20,
                        "targetLatencyMs": 100,
                        "predictive": predictive,
                    },
                },
            },
        )
        for _ in range(36):  # six minutes of checks in the band (60 ms against 100)
            clock.advance(10)
            monitor.on_result(("shop", "web"), CheckResult.success(60.0))
            await asyncio.sleep(0)
        await autoscaler.close()
    return scaled, rows


async def test_a_predictive_service_scales_ahead_of_its_daily_peak() -> None:
    scaled, _rows = await run(predictive=True)
    # The peak's demand of 8 with the 0.9 headroom: ceil(7.2); once, and kept through the
    # peak although the latency alone would scale in.
    assert scaled == [8]


async def test_a_reactive_service_waits_for_the_latency() -> None:
    scaled, rows = await run(predictive=False)
    assert scaled == []
    # Still, the demand it saw is kept for the day it turns predictive: 2 x 60 / 100.
    samples = [row for table, row in rows.rows if table == "scaling_samples"]
    assert [round(s["demand"], 2) for s in samples] == [1.2]
    assert samples[0]["timestamp"] == NOW.replace(minute=55)
