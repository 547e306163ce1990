"""Sends each service's checks where they run best: HTTP and TCP to the probe worker (a
process of its own), workload readiness to the in-process scheduler (it reads the
operator's own cache of Deployments and StatefulSets)."""

from __future__ import annotations

from typing import Protocol

from orchestration_engine.probes.target import ProbeTarget

Key = tuple[str, str]


class Scheduler(Protocol):
    def upsert(self, key: Key, target: ProbeTarget, period_s: float) -> None: ...
    def remove(self, key: Key) -> None: ...


class RoutingScheduler:
    def __init__(self, *, network: Scheduler, local: Scheduler) -> None:
        self.network = network
        self.local = local
        self._where: dict[Key, Scheduler] = {}

    def upsert(self, key: Key, target: ProbeTarget, period_s: float) -> None:
        chosen = self.network if target.kind in ("http", "tcp") else self.local
        previous = self._where.get(key)
        if previous is not None and previous is not chosen:
            previous.remove(key)
        self._where[key] = chosen
        chosen.upsert(key, target, period_s)

    def remove(self, key: Key) -> None:
        where = self._where.pop(key, None)
        if where is not None:
            where.remove(key)
