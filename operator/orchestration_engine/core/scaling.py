"""Scaling decisions for an OrchestratedService: pure, signals in → desired replicas out.

Three signals each recommend a replica count, and the highest wins (as the HPA does with
several metrics, so no signal is starved):

- **Latency** (``targetLatencyMs``), from the p95 of the checks since the last scaling.
  Above the target, proportionally more replicas (at least one more): latency is not linear
  in replicas, but the ratio is the best first guess and the next window corrects it. Below
  half the target, one replica fewer; between the two, none — the band keeps a service whose
  latency sits near the target from oscillating.
- **An external metric** (``scaling.prometheus``): its value is the load of the whole
  service and ``target`` the load one replica takes, so ``ceil(value / target)`` replicas
  (KEDA's AverageValue reading).
- **A forecast** (``predictive``): the demand expected over the next window, in replicas
  (see core/forecast.py), times a headroom; it only ever raises the count, since scaling in
  ahead of a predicted fall saves little and costs much when the forecast is wrong.
- **The optimiser's plan** (core/optimization_round.py, every
  ``optimizationIntervalSeconds``): for a strategy that wants more than demand (RELIABILITY's
  two CRITICAL replicas, SCALABILITY's headroom) its count is one more candidate. When the
  engine's capacity binds, the plan is also a ceiling: the fleet cannot grow past what fits,
  and the optimiser, not the order in which signals arrive, chooses who gives way (COST: the
  lowest priorities).

The recommendation is then stabilised as the HPA's ``behavior`` does: a scale-up goes no
higher than the lowest recommendation of the scale-up window, a scale-down no lower than the
highest of the scale-down window. With the defaults (0 s up, 300 s down), replicas go up at
once and come down only after five minutes of consistently lower recommendations. Bounds
(``minReplicas..maxReplicas``) apply last and at once, whatever the windows say.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum

# Nearest-rank percentile used for the latency signal.
P95 = 95
# Fewer samples than this since the last scaling and the latency signal holds: a single slow
# check is not a trend, and right after a scaling the old samples describe the old size.
MIN_SAMPLES = 3


class Reason(StrEnum):
    LATENCY_HIGH = "LatencyAboveTarget"
    LATENCY_LOW = "LatencyBelowHalfTarget"
    EXTERNAL = "ExternalMetric"
    FORECAST = "Forecast"
    WITHIN_TARGET = "WithinTarget"
    NOT_ENOUGH_SAMPLES = "NotEnoughSamples"
    BELOW_MINIMUM = "BelowMinimum"
    ABOVE_MAXIMUM = "AboveMaximum"
    STABILIZING = "Stabilizing"
    UP_ONLY = "ScaleDownSuspended"  # during an emergency halt
    PLAN = "OptimizerPlan"
    CAPACITY = "CapacityPlan"  # held to the optimiser's allotment: the capacity binds


@dataclass(frozen=True, slots=True)
class ScalingPolicy:
    min_replicas: int
    max_replicas: int
    target_latency_ms: float | None = None
    scale_up_stabilization_s: float = 0.0
    scale_down_stabilization_s: float = 300.0
    external_target: float | None = None  # load one replica takes, for the external metric
    forecast_headroom: float = 1.0

    def clamp(self, replicas: int) -> int:
        return max(self.min_replicas, min(self.max_replicas, replicas))


@dataclass(frozen=True, slots=True)
class Signals:
    """What was observed; None: that signal has nothing to say this time."""

    p95_latency_ms: float | None = None
    samples: int = 0
    external_value: float | None = None
    forecast_demand: float | None = None  # replicas needed over the next window
    planned: int | None = None  # the optimiser's floor for this service
    plan_ceiling: int | None = None  # set when the capacity binds: no more than this


@dataclass(frozen=True, slots=True)
class Recommendation:
    at: float  # seconds, the caller's clock
    replicas: int


@dataclass(frozen=True, slots=True)
class Decision:
    current: int
    desired: int  # what to scale to (== current: nothing to do)
    recommended: int  # this round's recommendation, before stabilisation (keep it)
    reason: Reason
    message: str

    @property
    def changes(self) -> bool:
        return self.desired != self.current


def percentile(values: Iterable[float], percent: int = P95) -> float | None:
    ordered = sorted(values)
    if not ordered:
        return None
    rank = max(1, math.ceil(percent / 100 * len(ordered)))
    return ordered[rank - 1]


# No signal asks for more than this: a count far beyond any maxReplicas (10,000), and an int
# for whatever a signal says (an infinite load, a target of 5e-324 ms).
MAX_WANTED = 1_000_000


def replicas_for(demand: float) -> int | None:
    """``ceil(demand)`` as a replica count in [0, MAX_WANTED]; None for NaN (no signal)."""
    if math.isnan(demand):
        return None
    return math.ceil(min(max(demand, 0.0), float(MAX_WANTED)))


def latency_demand(current: int, p95_ms: float, target_ms: float) -> float:
    """Replicas that would bring the p95 to the target, reading latency as proportional to
    the load each replica carries (the model the bench and the forecast share)."""
    return max(current, 1) * p95_ms / target_ms


def _latency(current: int, signals: Signals, policy: ScalingPolicy) -> tuple[int, Reason, str]:
    target = policy.target_latency_ms
    p95 = signals.p95_latency_ms
    assert target is not None
    assert p95 is not None
    if p95 > target:
        wanted = max(current + 1, replicas_for(latency_demand(current, p95, target)) or 0)
        return (
            wanted,
            Reason.LATENCY_HIGH,
            f"p95 latency {p95:.0f} ms above the {target:g} ms target",
        )
    if p95 < target / 2 and current > 0:
        return (
            current - 1,
            Reason.LATENCY_LOW,
            f"p95 latency {p95:.0f} ms below half the {target:g} ms target",
        )
    return (
        current,
        Reason.WITHIN_TARGET,
        f"p95 latency {p95:.0f} ms within the {target:g} ms target",
    )


def recommend(current: int, signals: Signals, policy: ScalingPolicy) -> tuple[int, Reason, str]:
    """This round's replica count before stabilisation and bounds, with why."""
    candidates: list[tuple[int, Reason, str]] = []
    if policy.target_latency_ms is not None:
        if signals.p95_latency_ms is not None and signals.samples >= MIN_SAMPLES:
            candidates.append(_latency(current, signals, policy))
        else:
            candidates.append((current, Reason.NOT_ENOUGH_SAMPLES, "waiting for latency samples"))
    external = (
        replicas_for(max(0.0, signals.external_value) / policy.external_target)
        if policy.external_target is not None and signals.external_value is not None
        else None
    )
    if external is not None and signals.external_value is not None:
        value = max(0.0, signals.external_value)
        wanted = external
        candidates.append(
            (
                wanted,
                Reason.EXTERNAL,
                f"external metric {value:g} at {policy.external_target:g} per replica",
            )
        )
    forecast = (
        replicas_for(max(0.0, signals.forecast_demand) * policy.forecast_headroom)
        if signals.forecast_demand is not None
        else None
    )
    if forecast is not None and signals.forecast_demand is not None:
        wanted = forecast
        # At the current count it still counts: it holds the count against the latency's
        # one-fewer, which would otherwise scale in and the next round's forecast back out.
        if wanted >= current:
            candidates.append(
                (wanted, Reason.FORECAST, f"forecast needs {signals.forecast_demand:.1f} replicas")
            )
    if signals.planned is not None:
        candidates.append(
            (signals.planned, Reason.PLAN, f"optimiser plan {signals.planned} replicas")
        )
    # The highest wins; on a tie, the first signal (latency) explains it.
    best = (
        max(candidates, key=lambda c: c[0])
        if candidates
        else (current, Reason.WITHIN_TARGET, "no scaling signal")
    )
    ceiling = signals.plan_ceiling
    if ceiling is not None and best[0] > ceiling:
        return (
            ceiling,
            Reason.CAPACITY,
            f"{best[2]}; the capacity plan allots {ceiling}",
        )
    return best


def stabilize(
    current: int,
    recommended: int,
    history: Sequence[Recommendation],
    now: float,
    policy: ScalingPolicy,
) -> int:
    """The HPA's rule: up no further than the lowest recommendation of the up window, down
    no further than the highest of the down window (``history`` excludes this round's)."""
    up_floor = recommended
    down_ceiling = recommended
    for past in history:
        age = now - past.at
        if age <= policy.scale_up_stabilization_s:
            up_floor = min(up_floor, past.replicas)
        if age <= policy.scale_down_stabilization_s:
            down_ceiling = max(down_ceiling, past.replicas)
    desired = current
    if desired < up_floor:
        desired = up_floor
    if desired > down_ceiling:
        desired = down_ceiling
    return desired


def decide(
    current: int,
    signals: Signals,
    history: Sequence[Recommendation],
    now: float,
    policy: ScalingPolicy,
    *,
    allow_scale_down: bool = True,
) -> Decision:
    """One round. The caller keeps ``Recommendation(now, decision.recommended)`` in the
    history (see ``prune``) and scales when ``decision.changes``."""
    recommended, reason, message = recommend(current, signals, policy)
    desired = stabilize(current, recommended, history, now, policy)
    if desired != recommended and desired == current:
        reason = Reason.STABILIZING
        window = (
            policy.scale_up_stabilization_s
            if recommended > current
            else policy.scale_down_stabilization_s
        )
        message = f"{message}; holding at {current} for the {window:g} s stabilization window"
    bounded = policy.clamp(desired)
    if bounded != desired:
        reason = Reason.BELOW_MINIMUM if bounded > desired else Reason.ABOVE_MAXIMUM
        limit = "minReplicas" if bounded > desired else "maxReplicas"
        message = f"{message}; held at {limit} {bounded}"
        desired = bounded
    if desired < current and not allow_scale_down:
        return Decision(
            current,
            current,
            recommended,
            Reason.UP_ONLY,
            "scale-down suspended during the emergency halt",
        )
    return Decision(current, desired, recommended, reason, message)


def prune(
    history: Sequence[Recommendation], now: float, policy: ScalingPolicy
) -> list[Recommendation]:
    """The recommendations a later round can still need."""
    horizon = max(policy.scale_up_stabilization_s, policy.scale_down_stabilization_s)
    return [r for r in history if now - r.at <= horizon]
