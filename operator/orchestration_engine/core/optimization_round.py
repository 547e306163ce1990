"""One optimisation round, from the fleet as observed to what is applied and shown (pure).

core/optimizer.py solves a ``Problem``; this module decides which problem and which solver
the engine's spec asks for, turns the plan into per-service allotments for the autoscaler,
and summarises it for the engine's status and the store:

- **Which services.** Every service with a workload counts against the capacity. Those
  with ``scaling`` are planned within ``minReplicas..maxReplicas``; the others are held at
  their current count (the optimiser may not scale what the user did not hand it, but it
  must see the room they take).
- **Which solver.** QUANTUM_ENHANCED anneals a QUBO when ``enableQuantumOptimization`` is
  on (and ``--no-quantum`` does not override it); otherwise its objective (PERFORMANCE) is
  solved greedily, and the plan's notes say so. The other strategies are solved greedily:
  on the benchmark's instances the greedy plan is within 2% of the optimum except for
  RELIABILITY's spares, and it takes milliseconds at 2,000 services (docs/benchmarks.md).
- **Allotments.** A plan reaches the autoscaler (core/scaling.py) in two ways. When the
  capacity binds, every planned count is a ceiling: the optimiser, not the order in which
  signals arrive, decides who gives way. For RELIABILITY and SCALABILITY it is also a
  floor, because what they add above demand (CRITICAL/HIGH redundancy, headroom) is theirs
  alone. PERFORMANCE's and COST's counts are the demand the autoscaler already follows from
  fresher samples, so a floor would only hold a stale demand until the next round.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from orchestration_engine.api.common import Priority, ResourceAmounts
from orchestration_engine.api.engine import EngineSpec, OptimizationStrategy
from orchestration_engine.core.optimizer import (
    Key,
    Plan,
    Problem,
    Service,
    Solver,
    capacity_from,
    requests_from,
)
from orchestration_engine.core.recommendations import Evidence

# The status lists at most this many planned changes (the store keeps the whole plan): the
# engine object stays small at thousands of services.
STATUS_CHANGES = 20


@dataclass(frozen=True, slots=True)
class Observed:
    """One service as the optimiser sees it."""

    key: Key
    priority: Priority
    current: int  # the serving workload's desired replicas
    resources: ResourceAmounts | None  # per replica
    min_replicas: int | None = None  # None: no ``scaling``, held at ``current``
    max_replicas: int | None = None
    demand: float | None = None  # replicas that meet the latency target; None: unknown
    target_latency_ms: float | None = None
    sla_latency_ms: float | None = None


@dataclass(frozen=True, slots=True)
class Choice:
    solver: Solver
    note: str | None  # why the spec's strategy is not solved as it says, if it is not


@dataclass(frozen=True, slots=True)
class Allotment:
    floor: int | None  # the strategy wants at least this (RELIABILITY, SCALABILITY)
    ceiling: int | None  # the capacity binds: no more than this until the next round


@dataclass(frozen=True, slots=True)
class Switches:
    """What a round may use: the annealer, and the recommendations (``--no-quantum`` and
    ``--no-ai`` override the engine's spec)."""

    quantum: bool
    ai: bool


def switches(
    spec: EngineSpec, *, quantum_override: bool | None, ai_override: bool | None
) -> Switches:
    return Switches(
        quantum=spec.enable_quantum_optimization if quantum_override is None else quantum_override,
        ai=spec.enable_ai_decision_making if ai_override is None else ai_override,
    )


def evidence_of(
    observed: Observed,
    plan: Plan,
    *,
    p95_ms: float | None,
    above_target_s: float | None,
    forecast_replicas: float | None,
    anomaly: str | None,
) -> Evidence:
    """What the recommendations read of one service: the plan's count and reason only for a
    service the plan may scale (one with ``scaling``)."""
    planned = plan.replicas.get(observed.key) if observed.min_replicas is not None else None
    return Evidence(
        key=observed.key,
        priority=observed.priority,
        current=observed.current,
        planned=planned,
        max_replicas=observed.max_replicas,
        p95_ms=p95_ms,
        target_ms=observed.target_latency_ms,
        above_target_s=above_target_s,
        anomaly=anomaly,
        forecast_replicas=forecast_replicas,
        plan_reason=plan.reasons.get(observed.key) if planned is not None else None,
    )


def choose(strategy: OptimizationStrategy, quantum_enabled: bool) -> Choice:
    if strategy is OptimizationStrategy.QUANTUM_ENHANCED:
        if quantum_enabled:
            return Choice(Solver.ANNEAL, None)
        return Choice(
            Solver.GREEDY,
            "quantum optimisation is disabled (enableQuantumOptimization or --no-quantum)",
        )
    return Choice(Solver.GREEDY, None)


def problem_of(observed: Iterable[Observed], capacity: ResourceAmounts | None) -> Problem:
    services = []
    for o in observed:
        cpu, memory = requests_from(o.resources)
        planned = o.min_replicas is not None and o.max_replicas is not None
        low = o.min_replicas if planned and o.min_replicas is not None else o.current
        high = o.max_replicas if planned and o.max_replicas is not None else o.current
        services.append(
            Service(
                key=o.key,
                priority=o.priority,
                min_replicas=low,
                max_replicas=max(low, high),
                cpu=cpu,
                memory=memory,
                current=o.current,
                demand=o.demand if planned else None,
                target_latency_ms=o.target_latency_ms,
                sla_latency_ms=o.sla_latency_ms,
            )
        )
    return Problem(tuple(services), capacity_from(capacity))


def capacity_binds(plan: Plan) -> bool:
    return any(note.startswith("capacity binds") for note in plan.notes) or not plan.feasible


# The strategies whose plan adds replicas above demand (see the module docstring).
FLOOR_STRATEGIES = frozenset({OptimizationStrategy.RELIABILITY, OptimizationStrategy.SCALABILITY})


def allotments(
    plan: Plan, observed: Iterable[Observed], strategy: OptimizationStrategy
) -> dict[Key, Allotment]:
    """What the autoscaler gets: only the services with ``scaling``, and only what binds."""
    binds = capacity_binds(plan)
    floors = strategy in FLOOR_STRATEGIES
    found = {}
    for o in observed:
        if o.min_replicas is None or o.key not in plan.replicas:
            continue
        replicas = plan.replicas[o.key]
        allotment = Allotment(replicas if floors else None, replicas if binds else None)
        if allotment != Allotment(None, None):
            found[o.key] = allotment
    return found


def summary(
    plan: Plan,
    observed: Iterable[Observed],
    choice: Choice,
    *,
    strategy: OptimizationStrategy,
    at: str,
    duration_ms: float,
) -> dict[str, Any]:
    """The plan as the engine's ``status.optimization``: figures, notes, and the largest
    changes first (by priority, then size), at most ``STATUS_CHANGES`` of them."""
    changes = []
    by_key = {o.key: o for o in observed}
    for key, replicas in plan.replicas.items():
        o = by_key.get(key)
        if o is None or o.min_replicas is None or replicas == o.current:
            continue
        changes.append((o.priority.rank, -abs(replicas - o.current), key, o.current, replicas))
    changes.sort()
    notes = [choice.note] if choice.note else []
    notes.extend(plan.notes)
    return {
        "strategy": strategy.value,
        # QUANTUM_ENHANCED minimises PERFORMANCE's cost (core/optimizer.py).
        "objective": OptimizationStrategy.PERFORMANCE.value
        if strategy is OptimizationStrategy.QUANTUM_ENHANCED
        else strategy.value,
        "solver": plan.solver.value,
        "time": at,
        "durationMs": round(duration_ms, 1),
        "score": round(plan.score, 2),
        "cost": _finite(plan.objective),
        "bound": _finite(plan.bound),
        "feasible": plan.feasible,
        "capacityBinds": capacity_binds(plan),
        "services": sum(1 for o in by_key.values() if o.min_replicas is not None),
        "changes": len(changes),
        "notes": notes,
        "plannedChanges": [
            {
                "namespace": key[0],
                "name": key[1],
                "current": current,
                "planned": replicas,
                "reason": plan.reasons.get(key, ""),
            }
            for _rank, _size, key, current, replicas in changes[:STATUS_CHANGES]
        ],
    }


def store_row(
    plan: Plan,
    observed: Iterable[Observed],
    status: Mapping[str, Any],
    orchestration_id: str,
    recommendations: list[dict[str, Any]],
) -> dict[str, Any]:
    """The ``optimization_runs`` row: the status summary's figures and every change of the
    plan with its reason (a service not listed keeps its count: at thousands of services a
    row per round stays kilobytes, not hundreds of them)."""
    by_key = {o.key: o for o in observed}
    changed = []
    for key, replicas in plan.replicas.items():
        o = by_key.get(key)
        if o is None or o.min_replicas is None or replicas == o.current:
            continue
        changed.append(
            {
                "namespace": key[0],
                "name": key[1],
                "current": o.current,
                "planned": replicas,
                "reason": plan.reasons.get(key, ""),
            }
        )
    return {
        "orchestration_id": orchestration_id,
        "strategy": status["strategy"],
        "solver": status["solver"],
        "score": status["score"],
        "objective_value": status["cost"],
        "bound": status["bound"],
        "feasible": status["feasible"],
        "services": status["services"],
        "changes": status["changes"],
        "duration_ms": status["durationMs"],
        "plan": changed,
        "notes": list(status["notes"]),
        "recommendations": recommendations,
    }


def _finite(value: float) -> float | None:
    return round(value, 6) if math.isfinite(value) else None
