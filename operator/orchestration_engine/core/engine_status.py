"""What the OrchestrationEngine ``default`` status says (pure).

The phase comes from core/engine_phase.py, the emergency halt from core/halt.py; this module
puts them, the counts and the scores into the status document and its conditions. The engine
keeper (controllers/engine/keeper.py) gathers what it knows each round: ``service_counts``
and ``activity_of`` sum it up for the ``EngineView``, ``halt_inputs`` turns it into what the
halt's triggers read, ``metrics_row`` into the store's ``orchestration_metrics`` row, and
``restored_halt`` reads a halt raised before a restart back from the conditions.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from orchestration_engine.api.engine import EnginePhase, EngineSpec, HaltReason
from orchestration_engine.api.service import Health
from orchestration_engine.core.conditions import Conditions, find_condition, set_condition
from orchestration_engine.core.engine_phase import Activity, engine_phase
from orchestration_engine.core.halt import HaltInputs, HaltState
from orchestration_engine.core.prober_health import ProberState
from orchestration_engine.core.scores import Scores, ServiceFacts
from orchestration_engine.core.workflow_facts import WorkflowFacts


@dataclass(frozen=True)
class EngineView:
    generation: int | None
    spec_problems: tuple[str, ...]
    halt: HaltState
    store_problem: str | None
    services: dict[str, int]
    workflows: dict[str, int]
    scores: Scores
    stopping: bool = False
    activity: Activity = field(default_factory=Activity)
    optimization: dict[str, Any] | None = None  # the latest plan's summary
    recommendations: tuple[dict[str, Any], ...] = ()
    probes: ProberState = field(default_factory=ProberState)


def phase_of(view: EngineView) -> EnginePhase:
    return engine_phase(replace(view.activity, stopping=view.stopping, halted=view.halt.active))


def render(view: EngineView, previous: Conditions, now: datetime) -> dict[str, Any]:
    conditions = list(previous)

    def put(type_: str, status: bool | str, reason: str, message: str) -> None:
        nonlocal conditions
        conditions = set_condition(
            conditions, type_, status, reason, message, generation=view.generation, now=now
        )

    if view.spec_problems:
        put("Ready", False, "InvalidSpec", "; ".join(view.spec_problems))
    elif view.stopping:
        put("Ready", False, "OperatorStopped", "the operator stopped")
    else:
        put("Ready", True, "Running", "the operator is running")
    if view.store_problem:
        put("StoreDegraded", True, "StoreUnavailable", view.store_problem)
    else:
        put("StoreDegraded", False, "StoreHealthy", "")
    halt = view.halt
    if halt.active and halt.reason is not None:
        put("EmergencyHalt", True, halt.reason.value, halt.message)
    else:
        put("EmergencyHalt", False, "NotHalted", "")
    if view.probes.degraded:
        put("ProbesDegraded", True, view.probes.reason, view.probes.message)
    else:
        put("ProbesDegraded", False, "ProbesConclusive", "")
    scores = view.scores
    return {
        "observedGeneration": view.generation,
        "phase": phase_of(view).value,
        "healthScore": scores.health_score,
        "services": view.services,
        "workflows": view.workflows,
        "scores": {
            "optimization": scores.optimization,
            "reliability": scores.reliability,
            "performance": scores.performance,
            "costEfficiency": scores.cost_efficiency,
        },
        "optimization": view.optimization,
        "recommendations": list(view.recommendations),
        "conditions": conditions,
    }


def service_counts(facts: Sequence[ServiceFacts]) -> dict[str, int]:
    """``status.services``: how many there are, and how many of each health."""
    healths = Counter(f.health for f in facts)
    return {"total": len(facts)} | {h.value.lower(): healths[h] for h in Health}


def activity_of(
    facts: Sequence[ServiceFacts],
    running: WorkflowFacts,
    *,
    initialized: bool,
    automatic_failovers: int,
    automatic_scaling: int,
    optimizing: bool,
) -> Activity:
    """What runs, for the phase: the workflows' steps and the changes made outside
    workflows (automatic failovers, autoscaling), and the services not HEALTHY."""
    return Activity(
        initialized=initialized,
        failovers=running.failovers + automatic_failovers,
        scaling=running.scaling + automatic_scaling,
        optimizing=optimizing,
        maintenance_workflows=running.maintenance,
        running_workflows=running.running,
        unhealthy_services=sum(
            1 for f in facts if f.health not in (Health.HEALTHY, Health.UNKNOWN)
        ),
    )


def halt_inputs(
    spec: EngineSpec,
    facts: Sequence[ServiceFacts],
    workflows: WorkflowFacts,
    *,
    enabled_override: bool | None,
    cpu_samples: tuple[float, ...],
    memory_samples: tuple[float, ...],
) -> HaltInputs:
    """What the halt's triggers read. A service whose latest check was inconclusive (the
    prober suspects itself) is counted neither way: a broken prober must not halt the fleet."""
    known = [f for f in facts if f.health is not Health.UNKNOWN and not f.inconclusive]
    thresholds = spec.thresholds
    return HaltInputs(
        enabled=spec.emergency_halt_enabled if enabled_override is None else enabled_override,
        manual=spec.halt,
        manual_message=spec.halt_reason,
        resource_percent=thresholds.resource_percent,
        failed_services_percent=thresholds.failed_services_percent,
        failed_workflows_percent=thresholds.failed_workflows_percent,
        cpu_samples=cpu_samples,
        memory_samples=memory_samples,
        services_known=len(known),
        services_failed=sum(1 for f in known if f.health is Health.FAILED),
        workflows_finished=workflows.finished_recent,
        workflows_failed=workflows.failed_recent,
        longest_running_s=workflows.longest_running_s,
        max_duration_s=float(spec.max_orchestration_duration_seconds),
    )


def metrics_row(
    view: EngineView,
    facts: Sequence[ServiceFacts],
    *,
    orchestration_id: str,
    operator_cpu_percent: float,
    operator_rss_mb: float,
    annealed: bool,
) -> dict[str, Any]:
    """The store's ``orchestration_metrics`` row of one round."""
    latencies = [f.last_latency_ms for f in facts if f.last_latency_ms is not None]
    services, workflows, scores = view.services, view.workflows, view.scores
    return {
        "orchestration_id": orchestration_id,
        "total_services": services["total"],
        "active_services": services["healthy"] + services["warning"],
        "failed_services": services["failed"],
        "healthy_services": services["healthy"],
        "warning_services": services["warning"],
        "critical_services": services["critical"],
        "total_workflows": workflows["total"],
        "completed_workflows": workflows["succeeded"],
        "failed_workflows": workflows["failed"],
        "average_response_time": sum(latencies) / len(latencies) if latencies else 0.0,
        "resource_utilization": {
            "operator_cpu_percent": operator_cpu_percent,
            "operator_rss_mb": operator_rss_mb,
        },
        "optimization_score": scores.optimization,
        "reliability_score": scores.reliability,
        "performance_score": scores.performance,
        "cost_efficiency": scores.cost_efficiency,
        # True when the latest plan was annealed (QUANTUM_ENHANCED, docs/optimizer.md).
        "quantum_enhancement_active": annealed,
        "ai_optimization_score": scores.optimization,
    }


def restored_halt(conditions: Conditions) -> HaltState:
    """A halt raised before a restart stays until its cause has been gone a settle period."""
    found = find_condition(conditions, "EmergencyHalt")
    if found is None or found.get("status") != "True":
        return HaltState()
    try:
        reason = HaltReason(str(found.get("reason")))
    except ValueError:
        return HaltState()
    return HaltState(True, reason, str(found.get("message") or ""))
