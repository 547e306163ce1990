"""What the OrchestrationEngine ``default`` status says (pure).

The phase follows what the operator is doing; this version knows INITIALIZING (before the
first report), ACTIVE, EMERGENCY_HALT (a manual halt: ``spec.halt``) and COMPLETED (the
operator stopped cleanly).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from orchestration_engine.api.engine import EnginePhase
from orchestration_engine.core.conditions import Conditions, set_condition
from orchestration_engine.core.scores import Scores


@dataclass(frozen=True)
class EngineView:
    generation: int | None
    spec_problems: tuple[str, ...]
    halt: bool
    halt_reason: str | None
    store_problem: str | None
    services: dict[str, int]
    workflows: dict[str, int]
    scores: Scores
    stopping: bool = False


def phase_of(view: EngineView) -> EnginePhase:
    if view.stopping:
        return EnginePhase.COMPLETED
    if view.halt:
        return EnginePhase.EMERGENCY_HALT
    return EnginePhase.ACTIVE


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
    if view.halt:
        put("EmergencyHalt", True, "Manual", view.halt_reason or "halt requested in spec.halt")
    else:
        put("EmergencyHalt", False, "NotHalted", "")
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
        "conditions": conditions,
    }
