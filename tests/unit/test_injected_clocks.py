"""The monotonic clock is injected, not read: the engine keeper's host samples and the store
writer's outage length follow the clock they were given (no sleeping, no cluster)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

from orchestration_engine.controllers.engine.keeper import EngineKeeper
from orchestration_engine.controllers.engine.workflow_tracker import WorkflowTracker
from orchestration_engine.controllers.services.service_monitor import ServiceMonitor
from orchestration_engine.store.writer import StoreWriter


class Seconds:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_the_keeper_samples_the_host_once_per_interval_of_its_clock() -> None:
    clock, samples = Seconds(), []
    unused: Any = SimpleNamespace()  # sampling the host writes no status, Event or check

    def usage() -> tuple[float, float]:
        samples.append(clock.now)
        return 10.0, 20.0

    keeper = EngineKeeper(
        statuses=unused,
        monitor=ServiceMonitor(scheduler=unused, statuses=unused, events=unused),
        workflows=WorkflowTracker(),
        rows=None,
        orchestration_id="test",
        interval_override=30,
        host_usage=usage,
        monotonic=clock,
    )
    keeper._sample_host()
    clock.now += 20.0  # less than 0.9 of the interval: no new sample
    keeper._sample_host()
    clock.now += 10.0
    keeper._sample_host()
    assert samples == [1000.0, 1030.0]


def test_the_store_measures_its_outage_on_its_clock(tmp_path: Path) -> None:
    clock, told = Seconds(), []
    store = StoreWriter(
        f"sqlite:///{tmp_path / 'store.db'}",
        spill_path=tmp_path / "spill",
        on_degraded_change=lambda degraded, message: told.append((degraded, message)),
        monotonic=clock,
    )
    store._set_degraded("unreachable", OSError("refused"))
    clock.now += 12.5
    store._set_recovered()
    assert told == [(True, "unreachable"), (False, "database reachable again after 12.5 s")]
