"""One service the monitor cannot take in stays that service's problem (issue 17, §3): it is
shown Stalled (InvalidSpec) with the error, and the services beside it are checked as usual."""

from __future__ import annotations

from typing import Any

import pytest
from monitor_support import Clock, Events, condition

from orchestration_engine.controllers.services import service_monitor
from orchestration_engine.controllers.services.service_monitor import ServiceMonitor
from orchestration_engine.probes.target import ProbeTarget


class Scheduler:
    def __init__(self) -> None:
        self.targets: dict[Any, ProbeTarget] = {}

    def upsert(self, key: Any, target: ProbeTarget, period_s: float) -> None:
        self.targets[key] = target

    def remove(self, key: Any) -> None:
        self.targets.pop(key, None)


class Statuses:
    def __init__(self) -> None:
        self.last: dict[str, dict[str, Any]] = {}

    def submit(self, plural: str, namespace: str, name: str, status: dict[str, Any]) -> None:
        self.last[name] = status

    def forget(self, plural: str, namespace: str, name: str) -> None:
        pass


def body(name: str, port: int) -> dict[str, Any]:
    return {
        "metadata": {"namespace": "shop", "name": name, "uid": f"u-{name}", "generation": 1},
        "spec": {"healthCheck": {"tcp": {"host": "127.0.0.1", "port": port}}},
    }


def test_a_service_whose_evaluation_raises_is_stalled_and_the_others_are_checked(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real = service_monitor.target_of

    def target_of(spec: Any) -> Any:
        if spec.health_check.tcp.port == 6666:
            raise OverflowError("cannot handle this one")
        return real(spec)

    monkeypatch.setattr(service_monitor, "target_of", target_of)
    clock, scheduler, statuses = Clock(), Scheduler(), Statuses()
    monitor = ServiceMonitor(
        scheduler=scheduler,
        statuses=statuses,
        events=Events(),
        now=clock.now,
        monotonic=lambda: clock.seconds,
    )
    monitor.observe(None, body("bad", 6666))
    monitor.observe(None, body("good", 5432))
    assert ("shop", "good") in scheduler.targets
    assert ("shop", "bad") not in scheduler.targets
    stalled = condition(statuses.last["bad"], "Stalled")
    assert stalled["status"] == "True"
    assert stalled["reason"] == "InvalidSpec"
    assert "OverflowError: cannot handle this one" in stalled["message"]
    assert condition(statuses.last["good"], "Stalled")["status"] == "False"
