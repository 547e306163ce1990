"""The service health state machine (API.md, OrchestratedService): pure, state in → state out.

Inputs are the latest check results (folded into consecutive counters), the workload's
replicas and the dependencies' health; the output is one of the six health values. The
rules are tried from the top and the first match wins; once FAILED, a service stays FAILED
until ``successThreshold`` consecutive checks pass.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime

from orchestration_engine.api.service import Health

# Dependencies in these states make a service DEGRADED.
FAILING = frozenset({Health.CRITICAL, Health.FAILED})


@dataclass(frozen=True, slots=True)
class HealthPolicy:
    failure_threshold: int = 3
    success_threshold: int = 1
    warning_latency_ms: float | None = None


@dataclass(frozen=True, slots=True)
class Replicas:
    """A workload's replicas; ``missing`` when the referenced workload does not exist."""

    desired: int
    ready: int
    missing: bool = False
    # The workload's first rollout is under way (a Deployment just created, its pods not yet
    # ready) and has not run past its progress deadline.
    starting: bool = False

    @classmethod
    def absent(cls) -> Replicas:
        return cls(desired=1, ready=0, missing=True)


@dataclass(frozen=True, slots=True)
class CheckOutcome:
    ok: bool
    latency_ms: float | None
    at: datetime
    message: str = ""


@dataclass(frozen=True, slots=True)
class HealthState:
    """What the operator knows of one service. ``checked`` is False until the first check."""

    health: Health = Health.UNKNOWN
    checked: bool = False
    consecutive_failures: int = 0
    consecutive_successes: int = 0
    last_latency_ms: float | None = None
    last_check_time: datetime | None = None
    last_check_ok: bool = True
    last_message: str = ""
    replicas: Replicas | None = None  # None: no workloadRef
    failing_dependencies: tuple[str, ...] = ()


def decide(state: HealthState, policy: HealthPolicy) -> Health:
    """API.md's rules, top to bottom; the FAILED latch first."""
    if not state.checked or _still_starting(state):
        return Health.UNKNOWN
    f = state.consecutive_failures
    threshold = policy.failure_threshold
    if state.health is Health.FAILED and state.consecutive_successes < policy.success_threshold:
        return Health.FAILED
    replicas = state.replicas
    desired = replicas.desired if replicas else 0
    ready = min(replicas.ready, desired) if replicas else 0
    if f >= threshold or (replicas is not None and desired > 0 and ready == 0):
        return Health.FAILED
    if (f == threshold - 1 and f >= 2) or (
        replicas is not None and desired > 0 and ready * 2 <= desired
    ):
        return Health.CRITICAL
    if (replicas is not None and 0 < ready < desired) or state.failing_dependencies:
        return Health.DEGRADED
    slow = (
        policy.warning_latency_ms is not None
        and state.last_check_ok
        and state.last_latency_ms is not None
        and state.last_latency_ms > policy.warning_latency_ms
    )
    if 1 <= f < threshold or slow:
        return Health.WARNING
    return Health.HEALTHY


def _still_starting(state: HealthState) -> bool:
    """A service created with its workload, judged before the first pods could be ready:
    no ready replica and checks that cannot pass yet say nothing about an outage, and a
    FAILED verdict would fail the service over at birth. It stays UNKNOWN until the first
    rollout completes or runs past its deadline (the Deployment then stops "starting"). Only
    a service never judged otherwise: a rollout that takes every pod of a running service
    away is an outage."""
    replicas = state.replicas
    return (
        state.health is Health.UNKNOWN
        and replicas is not None
        and replicas.starting
        and (replicas.ready == 0 or not state.last_check_ok)
    )


def failed_by_replicas(state: HealthState) -> bool:
    """FAILED because no replica of the workload is ready (or it is missing): what the API
    server says, whatever the checks say. Inconclusive checks hold no decision on this."""
    replicas = state.replicas
    return (
        replicas is not None and replicas.desired > 0 and min(replicas.ready, replicas.desired) == 0
    )


def held_by_inconclusive_checks(state: HealthState, inconclusive: bool) -> bool:
    """Whether decisions on this service wait (failover, failback, the halt's count): its
    latest check was inconclusive, and its workload's readiness does not settle it."""
    return inconclusive and not failed_by_replicas(state)


def record_check(state: HealthState, outcome: CheckOutcome, policy: HealthPolicy) -> HealthState:
    """Fold one check result into the counters and decide the health again."""
    if outcome.ok:
        failures, successes = 0, state.consecutive_successes + 1
    elif _still_starting(state):
        # Not counted: the workload's first pods are still starting, so the failures would
        # turn the service FAILED the moment the rollout completes.
        failures, successes = 0, 0
    else:
        failures, successes = state.consecutive_failures + 1, 0
    updated = replace(
        state,
        checked=True,
        consecutive_failures=failures,
        consecutive_successes=successes,
        last_latency_ms=outcome.latency_ms,
        last_check_time=outcome.at,
        last_check_ok=outcome.ok,
        last_message=outcome.message,
    )
    return replace(updated, health=decide(updated, policy))


def with_replicas(
    state: HealthState, replicas: Replicas | None, policy: HealthPolicy
) -> HealthState:
    updated = replace(state, replicas=replicas)
    return replace(updated, health=decide(updated, policy))


def with_dependencies(
    state: HealthState, dependencies: Iterable[tuple[str, Health]], policy: HealthPolicy
) -> HealthState:
    failing = tuple(sorted(name for name, health in dependencies if health in FAILING))
    updated = replace(state, failing_dependencies=failing)
    return replace(updated, health=decide(updated, policy))


def workload_check(replicas: Replicas | None, at: datetime) -> CheckOutcome:
    """A service with no HTTP/TCP check is checked by its workload's readiness alone: the
    check passes while at least one replica is ready (or none is wanted)."""
    if replicas is None:
        return CheckOutcome(ok=True, latency_ms=None, at=at)
    if replicas.missing:
        return CheckOutcome(ok=False, latency_ms=None, at=at, message="the workload does not exist")
    if replicas.desired > 0 and replicas.ready == 0:
        return CheckOutcome(ok=False, latency_ms=None, at=at, message="no replica is ready")
    return CheckOutcome(ok=True, latency_ms=None, at=at)


def explain(state: HealthState, policy: HealthPolicy, workload: str = "the workload") -> str:
    """Why the service has its health, in words without per-check numbers (so that the
    message, and hence the status, only changes when the reason does)."""
    health = state.health
    if health is Health.UNKNOWN:
        if _still_starting(state):
            return f"{workload} is starting: its first rollout has not completed"
        return "not checked yet"
    reasons: list[str] = []
    replicas = state.replicas
    if replicas is not None and replicas.missing:
        reasons.append(f"{workload} does not exist")
    elif replicas is not None and replicas.desired > 0 and replicas.ready < replicas.desired:
        reasons.append(
            f"{min(replicas.ready, replicas.desired)} of {replicas.desired} replicas ready"
        )
    if state.consecutive_failures:
        detail = f": {state.last_message}" if state.last_message else ""
        reasons.append(f"checks failing{detail}")
    elif health is Health.FAILED:
        reasons.append(
            f"recovering: waiting for {policy.success_threshold} passing checks in a row"
        )
    if state.failing_dependencies:
        reasons.append("dependencies failing: " + ", ".join(state.failing_dependencies))
    if (
        health is Health.WARNING
        and not state.consecutive_failures
        and policy.warning_latency_ms is not None
    ):
        reasons.append(f"checks pass slower than {policy.warning_latency_ms:g} ms")
    return "; ".join(reasons) if reasons else "all checks pass"
