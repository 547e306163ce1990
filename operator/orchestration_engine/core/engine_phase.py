"""The engine's phase: a summary of what the operator is doing right now (pure).

The most pressing activity wins, in this order: COMPLETED (the operator stopped),
EMERGENCY_HALT, INITIALIZING (before the first full picture of the cluster), FAILOVER (a
failover or failback in progress), SCALING (a scale step or an autoscaling action),
OPTIMIZING (an optimisation pass), MAINTENANCE (a maintenance-type workflow running),
COORDINATING (any other workflow running), MONITORING (nothing running, but a service is
not HEALTHY and is being watched), ACTIVE (all healthy and idle). So the seed's transitions
hold: INITIALIZING → ACTIVE, ACTIVE → COORDINATING | OPTIMIZING | SCALING | MONITORING,
any → EMERGENCY_HALT, any → COMPLETED.
"""

from __future__ import annotations

from dataclasses import dataclass

from orchestration_engine.api.engine import EnginePhase


@dataclass(frozen=True)
class Activity:
    stopping: bool = False
    halted: bool = False
    initialized: bool = True
    failovers: int = 0
    scaling: int = 0
    optimizing: bool = False
    maintenance_workflows: int = 0
    running_workflows: int = 0
    unhealthy_services: int = 0


def engine_phase(activity: Activity) -> EnginePhase:
    if activity.stopping:
        return EnginePhase.COMPLETED
    if activity.halted:
        return EnginePhase.EMERGENCY_HALT
    if not activity.initialized:
        return EnginePhase.INITIALIZING
    if activity.failovers:
        return EnginePhase.FAILOVER
    if activity.scaling:
        return EnginePhase.SCALING
    if activity.optimizing:
        return EnginePhase.OPTIMIZING
    if activity.maintenance_workflows:
        return EnginePhase.MAINTENANCE
    if activity.running_workflows:
        return EnginePhase.COORDINATING
    if activity.unhealthy_services:
        return EnginePhase.MONITORING
    return EnginePhase.ACTIVE
