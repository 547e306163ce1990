"""What an OrchestratedService's ``status`` says, and when it is worth writing.

Pure: the monitor hands in what it knows; this returns the status document and the parts a
user can see change. Counters, latency and uptime move with every check, so they are only
written with a heartbeat or together with a visible change (API.md): a steady service costs
one write a minute, not one per check.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from orchestration_engine.api.service import Health
from orchestration_engine.core.anomaly import AnomalyVerdict
from orchestration_engine.core.conditions import (
    Conditions,
    find_condition,
    rfc3339,
    set_condition,
)
from orchestration_engine.core.health import HealthPolicy, HealthState, explain

# Refreshed by the heartbeat only.
HEARTBEAT_FIELDS = frozenset(
    {
        "lastCheckTime",
        "lastLatencyMs",
        "uptimePercent",
        "consecutiveFailures",
        "consecutiveSuccesses",
    }
)


@dataclass(frozen=True)
class DependencyView:
    """The service's dependencies as the monitor sees them."""

    names: tuple[str, ...] = ()
    missing: tuple[str, ...] = ()
    cycle: tuple[str, ...] | None = None
    health: dict[str, Health] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ConditionState:
    """A condition another component decides (status, reason, message); kept stable between
    decisions, since every change of it is a status write."""

    status: bool | str
    reason: str
    message: str


@dataclass(frozen=True)
class ServiceView:
    generation: int | None
    state: HealthState
    policy: HealthPolicy
    workload: str = "the workload"  # e.g. "Deployment payments", for messages
    spec_problems: tuple[str, ...] = ()
    dependencies: DependencyView = field(default_factory=DependencyView)
    uptime_percent: float | None = None
    active_target: str = "primary"
    failover_count: int = 0
    last_failover_time: str | None = None
    failover: tuple[str, str] | None = None  # ("Deployment a", "Deployment a-standby")
    failover_problem: tuple[str, str] | None = None  # (reason, message) of the last attempt
    scaling: ConditionState | None = None
    last_scale_time: str | None = None
    anomaly: AnomalyVerdict | None = None


def _camel(health: Health) -> str:
    return health.value.capitalize()


def render_conditions(view: ServiceView, previous: Conditions, now: datetime) -> Conditions:
    state, generation = view.state, view.generation
    deps = view.dependencies
    reason_text = explain(state, view.policy, view.workload)
    conditions = list(previous)

    def put(type_: str, status: bool | str, reason: str, message: str) -> None:
        nonlocal conditions
        conditions = set_condition(
            conditions, type_, status, reason, message, generation=generation, now=now
        )

    stalled: tuple[str, str] | None = None
    if view.spec_problems:
        stalled = ("InvalidSpec", "; ".join(view.spec_problems))
    elif deps.cycle:
        stalled = ("DependencyCycle", "dependsOn forms a cycle: " + " -> ".join(deps.cycle))
    elif deps.missing:
        names = ", ".join(deps.missing)
        stalled = ("DependencyMissing", f"dependsOn names services that do not exist: {names}")

    if stalled is not None:
        put("Ready", False, *stalled)
        put("Stalled", True, *stalled)
    else:
        if state.health is Health.UNKNOWN:
            put("Ready", "Unknown", "AwaitingFirstCheck", reason_text)
        elif state.health in (Health.HEALTHY, Health.WARNING):
            put("Ready", True, _camel(state.health), reason_text)
        else:
            put("Ready", False, _camel(state.health), reason_text)
        put("Stalled", False, "Reconciling", "")

    if state.health is Health.UNKNOWN:
        put("Healthy", "Unknown", "AwaitingFirstCheck", reason_text)
    else:
        put("Healthy", state.health is Health.HEALTHY, _camel(state.health), reason_text)

    if not deps.names:
        put("DependenciesHealthy", True, "NoDependencies", "")
    elif deps.cycle:
        put(
            "DependenciesHealthy",
            False,
            "DependencyCycle",
            "dependsOn forms a cycle: " + " -> ".join(deps.cycle),
        )
    elif deps.missing:
        put(
            "DependenciesHealthy",
            False,
            "DependencyMissing",
            "not found: " + ", ".join(deps.missing),
        )
    elif state.failing_dependencies:
        failing = ", ".join(
            f"{n} is {deps.health[n].value}" for n in state.failing_dependencies if n in deps.health
        )
        put("DependenciesHealthy", False, "DependencyFailing", failing)
    elif any(deps.health.get(n, Health.UNKNOWN) is Health.UNKNOWN for n in deps.names):
        unknown = [n for n in deps.names if deps.health.get(n, Health.UNKNOWN) is Health.UNKNOWN]
        put(
            "DependenciesHealthy",
            "Unknown",
            "DependencyUnknown",
            "not checked yet: " + ", ".join(unknown),
        )
    else:
        put("DependenciesHealthy", True, "AllHealthy", "")

    _failover_conditions(view, put)
    # FailoverFailed appears with the first failed attempt and stays, False, once resolved.
    if view.failover_problem is not None:
        put("FailoverFailed", True, *view.failover_problem)
    elif find_condition(conditions, "FailoverFailed") is not None:
        put("FailoverFailed", False, "Resolved", "")
    if view.scaling is not None:
        put("Scaling", view.scaling.status, view.scaling.reason, view.scaling.message)
    else:
        put("Scaling", False, "NotConfigured", "no scaling configured")
    anomaly = view.anomaly
    if anomaly is not None and anomaly.active:
        put("AnomalyDetected", True, _anomaly_reason(anomaly.signals), anomaly.message)
    elif anomaly is not None:
        put("AnomalyDetected", False, "Normal", "")
    return conditions


def _anomaly_reason(signals: tuple[str, ...]) -> str:
    if signals == ("latency",):
        return "LatencyAnomaly"
    if signals == ("errors",):
        return "ErrorRateAnomaly"
    return "LatencyAndErrorRateAnomaly"


def _failover_conditions(
    view: ServiceView, put: Callable[[str, bool | str, str, str], None]
) -> None:
    if view.failover is None:
        put("FailedOver", False, "NotConfigured", "no failover configured")
        return
    primary, standby = view.failover
    if view.active_target == "standby":
        since = f" since {view.last_failover_time}" if view.last_failover_time else ""
        put("FailedOver", True, "FailedOver", f"traffic goes to the standby {standby}{since}")
    else:
        put("FailedOver", False, "Primary", f"traffic goes to the primary {primary}")


def render_status(
    view: ServiceView, previous_conditions: Conditions, now: datetime
) -> dict[str, Any]:
    state = view.state
    status: dict[str, Any] = {
        "observedGeneration": view.generation,
        "health": state.health.value,
        "activeTarget": view.active_target,
        "consecutiveFailures": state.consecutive_failures,
        "consecutiveSuccesses": state.consecutive_successes,
        "failoverCount": view.failover_count,
        "lastFailoverTime": view.last_failover_time,
        "lastScaleTime": view.last_scale_time,
        "conditions": render_conditions(view, previous_conditions, now),
    }
    if state.last_check_time is not None:
        status["lastCheckTime"] = rfc3339(state.last_check_time)
    if state.last_latency_ms is not None:
        status["lastLatencyMs"] = round(state.last_latency_ms, 3)
    if view.uptime_percent is not None:
        status["uptimePercent"] = view.uptime_percent
    if state.replicas is not None:
        status["replicas"] = {"desired": state.replicas.desired, "ready": state.replicas.ready}
    return status


def visible(status: dict[str, Any]) -> dict[str, Any]:
    """The part of a status whose change is worth a write at once."""
    return {k: v for k, v in status.items() if k not in HEARTBEAT_FIELDS}


def should_write(
    status: dict[str, Any],
    written: dict[str, Any] | None,
    seconds_since_write: float | None,
    heartbeat_seconds: float,
) -> bool:
    if written is None or seconds_since_write is None:
        return True
    if visible(status) != visible(written):
        return True
    return seconds_since_write >= heartbeat_seconds and status != written
