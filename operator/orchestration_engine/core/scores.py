"""The engine's scores, each a documented formula over measured data (docs/report.md).

- reliability: priority-weighted share of services that serve (HEALTHY or WARNING) among
  those whose health is known.
- performance: share of checked services meeting their latency target (``sla.latencyMs``,
  else ``healthCheck.warningLatencyMs``); a service with no target meets it while its
  checks pass.
- cost efficiency: replicas that are ready as a share of the replicas asked for, over the
  services with a workload (capacity paid for that serves).
- optimization: the optimiser's latest plan score (core/optimizer.py: the plan's cost placed
  between the minimum-replicas plan, 0, and the capacity-free bound, 100); the mean of the
  three before the first plan.
- health score: 0.3·optimization + 0.3·reliability + 0.2·performance + 0.2·cost efficiency
  (the original engine's weights).
An empty fleet has nothing failing: every score is 100.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from orchestration_engine.api.common import Priority
from orchestration_engine.api.service import Health

PRIORITY_WEIGHT = {
    Priority.CRITICAL: 5.0,
    Priority.HIGH: 3.0,
    Priority.NORMAL: 2.0,
    Priority.LOW: 1.0,
    Priority.MAINTENANCE: 0.5,
}
SERVING = frozenset({Health.HEALTHY, Health.WARNING})


@dataclass(frozen=True, slots=True)
class ServiceFacts:
    health: Health
    priority: Priority = Priority.NORMAL
    last_latency_ms: float | None = None
    latency_target_ms: float | None = None
    last_check_ok: bool = True
    desired_replicas: int | None = None
    ready_replicas: int | None = None
    # The latest check was inconclusive (the prober suspects itself): the emergency halt
    # does not count this service (core/prober_health.py).
    inconclusive: bool = False


@dataclass(frozen=True, slots=True)
class Scores:
    reliability: float
    performance: float
    cost_efficiency: float
    optimization: float
    health_score: float


def _round(value: float) -> float:
    return round(value, 2)


def compute(services: Iterable[ServiceFacts], optimization: float | None = None) -> Scores:
    known = [s for s in services if s.health is not Health.UNKNOWN]
    weight = sum(PRIORITY_WEIGHT[s.priority] for s in known)
    reliability = (
        100.0 * sum(PRIORITY_WEIGHT[s.priority] for s in known if s.health in SERVING) / weight
        if weight
        else 100.0
    )

    def meets(s: ServiceFacts) -> bool:
        if not s.last_check_ok:
            return False
        if s.latency_target_ms is None or s.last_latency_ms is None:
            return True
        return s.last_latency_ms <= s.latency_target_ms

    performance = 100.0 * sum(1 for s in known if meets(s)) / len(known) if known else 100.0
    with_workload = [s for s in known if s.desired_replicas]
    desired = sum(s.desired_replicas or 0 for s in with_workload)
    ready = sum(min(s.ready_replicas or 0, s.desired_replicas or 0) for s in with_workload)
    cost = 100.0 * ready / desired if desired else 100.0
    if optimization is None:
        optimization = (reliability + performance + cost) / 3
    health = 0.3 * optimization + 0.3 * reliability + 0.2 * performance + 0.2 * cost
    return Scores(
        _round(reliability), _round(performance), _round(cost), _round(optimization), _round(health)
    )
