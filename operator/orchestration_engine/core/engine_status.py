"""What the OrchestrationEngine ``default`` status says (pure).

The phase comes from core/engine_phase.py, the emergency halt from core/halt.py; this module
puts them, the counts and the scores into the status document and its conditions.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from orchestration_engine.api.engine import EnginePhase
from orchestration_engine.core.conditions import Conditions, set_condition
from orchestration_engine.core.engine_phase import Activity, engine_phase
from orchestration_engine.core.halt import HaltState
from orchestration_engine.core.prober_health import ProberState
from orchestration_engine.core.scores import Scores


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
