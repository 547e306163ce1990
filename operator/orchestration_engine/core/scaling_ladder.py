"""The autoscaler's gate ladder (controllers/services/autoscaler.py): pure, facts in → step out.

One evaluation of one service walks these gates in order; the first that says no ends it:

1. a change is being applied (the scale task runs): wait, its end evaluates again;
2. the engine's ``autoScalingEnabled`` is false: ``Disabled``;
3. an emergency halt, and the service is not CRITICAL: ``Suspended`` (a CRITICAL one scales
   during it, but only up, so the halt's own scale-up is not undone);
4. no workload to scale (no ``workloadRef``; the standby's after a failover): ``NoWorkload``;
   the workload is not in the cache: ``WorkloadNotFound``;
5. our own patch has not come back through the watch yet (``PENDING_GRACE_S``): wait.

Past the gates, the latency samples older than the window are dropped, the breach of the
latency target is timed, and core/scaling.py decides from the signals. A scale-up waits until
the previous change's replicas are ready (at most ``READY_WAIT_S``): until then the latency
still describes the old size. With nothing to change, a change still under way keeps its
condition (``ScaledUp``/``ScaledDown``); otherwise the condition says where the count sits.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from enum import StrEnum

from orchestration_engine.core import scaling
from orchestration_engine.core.scaling import Decision, Recommendation, ScalingPolicy
from orchestration_engine.core.service_status import ConditionState

# The latency window: this many check periods, and at least WINDOW_MIN_S.
WINDOW_MIN_S = 30.0
WINDOW_PERIODS = 6
# After a patch, the workload cache shows the old count until the watch event arrives.
PENDING_GRACE_S = 30.0
# A scale-up waits for the previous one's replicas to be ready (their latency is not in the
# samples yet, and adding more meanwhile overshoots), but no longer than this.
READY_WAIT_S = 300.0
# The recommendation history is pruned once it is longer than this.
HISTORY_PRUNE_AT = 64


@dataclass(frozen=True, slots=True)
class Workload:
    """The workload serving the traffic, as the workload cache has it."""

    name: str  # "Deployment web", for messages
    missing: bool = False
    desired: int = 0
    ready: int = 0


@dataclass(frozen=True, slots=True)
class Facts:
    """What one evaluation reads; the autoscaler gathers it."""

    policy: ScalingPolicy
    now: float  # seconds, the autoscaler's monotonic clock
    auto_scaling_enabled: bool = True
    halted: bool = False
    critical: bool = False
    workload: Workload | None = None  # None: no workloadRef to scale
    busy: bool = False  # a scale task runs
    period_s: float = 10.0  # the health check's period
    predictive: bool = False  # the engine's predictiveScaling and the service's predictive
    external: float | None = None  # the external metric's value (scaling.prometheus)
    forecast: float | None = None  # the forecast's demand, before headroom
    planned: int | None = None  # the optimiser's floor
    plan_ceiling: int | None = None  # the optimiser's ceiling, when the capacity binds


@dataclass(frozen=True, slots=True)
class Track:
    """What the autoscaler remembers of a service between evaluations."""

    samples: tuple[tuple[float, float], ...] = ()  # (at, latency ms), oldest first
    history: tuple[Recommendation, ...] = ()
    target: int | None = None  # scaled to this; the change is under way until it is ready
    scaled_at: float | None = None
    acting: bool = False  # the change's condition (ScaledUp/ScaledDown) is held
    above_target_since: float | None = None  # the p95 has been above the target since


class Step(StrEnum):
    WAIT = "Wait"  # nothing to do or say now
    REFUSE = "Refuse"  # a gate says no: set ``condition``
    SCALE = "Scale"  # apply ``decision``
    HOLD = "Hold"  # the previous change is under way: keep its condition
    SETTLE = "Settle"  # nothing under way: forget the change, set ``condition``


@dataclass(frozen=True, slots=True)
class Verdict:
    step: Step
    track: Track  # the track after this evaluation
    condition: ConditionState | None = None
    decision: Decision | None = None
    # Past the gates: whether the service scales predictively (load or drop its demand
    # history); None when a gate ended the evaluation first.
    predictive: bool | None = None


def remember(history: list[Recommendation], entry: Recommendation) -> None:
    """Keep a run of equal recommendations as its latest: the window's min and max only
    need to know whether some of the run lies inside it, and the latest is the last out."""
    if history and history[-1].replicas == entry.replicas:
        history[-1] = entry
    else:
        history.append(entry)


def window_s(period_s: float) -> float:
    return max(WINDOW_MIN_S, WINDOW_PERIODS * period_s)


def _refuse(track: Track, reason: str, message: str) -> Verdict:
    return Verdict(Step.REFUSE, track, ConditionState(False, reason, message))


def _gate(facts: Facts, track: Track) -> Verdict | None:
    """The gates before a decision; None when all of them pass."""
    if facts.busy:
        return Verdict(Step.WAIT, track)
    if not facts.auto_scaling_enabled:
        return _refuse(track, "Disabled", "autoScalingEnabled is false on the engine")
    if facts.halted and not facts.critical:
        return _refuse(track, "Suspended", "emergency halt: only CRITICAL services scale")
    workload = facts.workload
    if workload is None:
        return _refuse(track, "NoWorkload", "scaling needs a workloadRef")
    if workload.missing:
        return _refuse(track, "WorkloadNotFound", f"{workload.name} not found")
    if (
        track.target is not None
        and track.scaled_at is not None
        and workload.desired != track.target
        and facts.now - track.scaled_at < PENDING_GRACE_S
    ):
        return Verdict(Step.WAIT, track)  # our patch has not come back through the watch yet
    return None


def _breach_since(track: Track, p95: float | None, facts: Facts) -> float | None:
    target = facts.policy.target_latency_ms
    # No samples (just after a scaling) say nothing either way: the breach goes on.
    if target is None or (p95 is not None and p95 <= target):
        return None
    if p95 is not None and track.above_target_since is None:
        return facts.now
    return track.above_target_since


def _kept(samples: Sequence[tuple[float, float]], now: float, window: float) -> int:
    """The index of the first sample inside the window."""
    start = 0
    while start < len(samples) and now - samples[start][0] > window:
        start += 1
    return start


def evaluate(facts: Facts, track: Track) -> Verdict:
    """One evaluation of one service (see the module's docstring)."""
    stopped = _gate(facts, track)
    if stopped is not None:
        return stopped
    workload = facts.workload
    assert workload is not None
    now, policy = facts.now, facts.policy
    current = workload.desired
    samples = track.samples[_kept(track.samples, now, window_s(facts.period_s)) :]
    latencies = [latency for _at, latency in samples]
    p95 = scaling.percentile(latencies)
    decision = scaling.decide(
        current,
        scaling.Signals(
            p95_latency_ms=p95,
            samples=len(latencies),
            external_value=facts.external,
            forecast_demand=facts.forecast if facts.predictive else None,
            planned=facts.planned,
            plan_ceiling=facts.plan_ceiling,
        ),
        track.history,
        now,
        policy,
        allow_scale_down=not facts.halted,
    )
    history = list(track.history)
    remember(history, Recommendation(now, decision.recommended))
    if len(history) > HISTORY_PRUNE_AT:
        history = scaling.prune(history, now, policy)
    after = replace(
        track,
        samples=samples,
        history=tuple(history),
        above_target_since=_breach_since(track, p95, facts),
    )
    starting = (
        track.target is not None
        and workload.ready < min(current, track.target)
        and track.scaled_at is not None
        and now - track.scaled_at < READY_WAIT_S
    )
    if decision.changes and not (starting and decision.desired > current):
        return Verdict(Step.SCALE, after, decision=decision, predictive=facts.predictive)
    if (
        track.target is not None
        and (current != track.target or workload.ready < track.target)
        and track.acting
    ):
        return Verdict(Step.HOLD, after, predictive=facts.predictive)
    settled = replace(after, target=None, acting=False)
    return Verdict(
        Step.SETTLE, settled, _settled_condition(decision, current, policy), None, facts.predictive
    )


def _settled_condition(decision: Decision, current: int, policy: ScalingPolicy) -> ConditionState:
    if decision.reason is scaling.Reason.UP_ONLY:
        return ConditionState(False, "ScaleDownSuspended", decision.message)
    if current >= policy.max_replicas:
        return ConditionState(False, "AtMaximum", f"at maxReplicas {policy.max_replicas}")
    if current <= policy.min_replicas:
        return ConditionState(False, "AtMinimum", f"at minReplicas {policy.min_replicas}")
    return ConditionState(
        False,
        "Stable",
        f"{current} replicas, within {policy.min_replicas}..{policy.max_replicas}",
    )
