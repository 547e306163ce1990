"""The monitor's wiring of anomaly detection: a slowdown after a normal baseline raises the
AnomalyDetected condition and an Event, recovery clears them (fake clocks, no cluster)."""

from __future__ import annotations

import random
from dataclasses import replace
from typing import Any

from monitor_support import Clock, Events, condition

from orchestration_engine.controllers.services.service_monitor import ServiceMonitor
from orchestration_engine.probes.result import CheckResult
from orchestration_engine.probes.target import ProbeTarget


class Scheduler:
    def upsert(self, key: Any, target: ProbeTarget, period_s: float) -> None:
        pass

    def remove(self, key: Any) -> None:
        pass


class Statuses:
    def __init__(self) -> None:
        self.last: dict[str, Any] = {}

    def submit(self, plural: str, namespace: str, name: str, status: dict[str, Any]) -> None:
        self.last = status

    def forget(self, plural: str, namespace: str, name: str) -> None:
        pass


def test_a_slowdown_raises_and_recovery_clears_the_anomaly() -> None:
    clock = Clock()
    statuses, events = Statuses(), Events()
    monitor = ServiceMonitor(
        scheduler=Scheduler(),
        statuses=statuses,
        events=events,
        now=clock.now,
        monotonic=lambda: clock.seconds,
    )
    body = {
        "metadata": {"namespace": "shop", "name": "web", "uid": "u1", "generation": 1},
        "spec": {"healthCheck": {"http": {"url": "http://web.shop.svc/healthz"}}},
    }
    monitor.observe(None, body)
    key = ("shop", "web")
    noise = random.Random(7)  # noqa: S311 - seeded test data

    def run(minutes: float, latency_ms: float) -> None:
        for _ in range(int(minutes * 6)):  # every 10 s
            clock.seconds += 10
            result = CheckResult.success(latency_ms * noise.uniform(0.9, 1.1))
            monitor.on_result(key, replace(result, checked_at=clock.now()))

    run(60, 10)
    assert condition(statuses.last, "AnomalyDetected").get("status") == "False"
    run(10, 200)
    raised = condition(statuses.last, "AnomalyDetected")
    assert raised["status"] == "True"
    assert raised["reason"] == "LatencyAnomaly"
    assert "against a usual" in raised["message"]
    assert "AnomalyDetected" in events.reasons
    run(15, 10)
    assert condition(statuses.last, "AnomalyDetected")["status"] == "False"
    assert "AnomalyCleared" in events.reasons
