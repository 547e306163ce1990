"""core/scaling.py: recommendations per signal, HPA-like stabilisation, bounds, the halt."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from orchestration_engine.core.scaling import (
    Decision,
    Reason,
    Recommendation,
    ScalingPolicy,
    Signals,
    decide,
    percentile,
    prune,
    recommend,
    stabilize,
)

POLICY = ScalingPolicy(min_replicas=2, max_replicas=10, target_latency_ms=100)


def latency(p95: float, samples: int = 10) -> Signals:
    return Signals(p95_latency_ms=p95, samples=samples)


def test_percentile_is_nearest_rank() -> None:
    assert percentile([]) is None
    assert percentile([5.0]) == 5.0
    assert percentile(float(v) for v in range(1, 101)) == 95.0
    assert percentile([1.0, 2.0, 3.0]) == 3.0


@pytest.mark.parametrize(
    ("current", "p95", "expected", "reason"),
    [
        (2, 150, 3, Reason.LATENCY_HIGH),  # ceil(2 x 1.5)
        (2, 101, 3, Reason.LATENCY_HIGH),  # at least one more
        (4, 300, 12, Reason.LATENCY_HIGH),  # proportional, before bounds
        (4, 100, 4, Reason.WITHIN_TARGET),  # at the target: hold
        (4, 50, 4, Reason.WITHIN_TARGET),  # at half: hold (the band is closed)
        (4, 49, 3, Reason.LATENCY_LOW),  # one at a time
    ],
)
def test_latency_recommendation(current: int, p95: float, expected: int, reason: Reason) -> None:
    replicas, why, _message = recommend(current, latency(p95), POLICY)
    assert (replicas, why) == (expected, reason)


def test_too_few_samples_hold() -> None:
    replicas, why, _ = recommend(3, latency(900, samples=2), POLICY)
    assert (replicas, why) == (3, Reason.NOT_ENOUGH_SAMPLES)


def test_external_metric_is_load_over_target_per_replica() -> None:
    policy = ScalingPolicy(min_replicas=1, max_replicas=20, external_target=10)
    assert recommend(1, Signals(external_value=35), policy)[:2] == (4, Reason.EXTERNAL)
    assert recommend(8, Signals(external_value=0), policy)[0] == 0
    assert recommend(8, Signals(external_value=-5), policy)[0] == 0


def test_the_highest_signal_wins() -> None:
    policy = ScalingPolicy(
        min_replicas=1, max_replicas=20, target_latency_ms=100, external_target=10
    )
    replicas, why, _ = recommend(
        2, Signals(p95_latency_ms=150, samples=5, external_value=70), policy
    )
    assert (replicas, why) == (7, Reason.EXTERNAL)
    replicas, why, _ = recommend(
        2, Signals(p95_latency_ms=500, samples=5, external_value=20), policy
    )
    assert (replicas, why) == (10, Reason.LATENCY_HIGH)


def test_a_forecast_only_raises() -> None:
    policy = ScalingPolicy(
        min_replicas=1, max_replicas=20, target_latency_ms=100, forecast_headroom=1.2
    )
    up = recommend(3, Signals(p95_latency_ms=80, samples=5, forecast_demand=5), policy)
    assert up[:2] == (6, Reason.FORECAST)  # ceil(5 x 1.2)
    low = recommend(6, Signals(p95_latency_ms=80, samples=5, forecast_demand=1), policy)
    assert low[:2] == (6, Reason.WITHIN_TARGET)


def test_no_signal_holds() -> None:
    policy = ScalingPolicy(min_replicas=1, max_replicas=5)
    assert recommend(3, Signals(), policy)[:2] == (3, Reason.WITHIN_TARGET)


def test_scale_up_is_immediate_by_default() -> None:
    decision = decide(2, latency(150), [], 0.0, POLICY)
    assert (decision.desired, decision.changes) == (3, True)


def test_scale_down_waits_for_the_whole_window() -> None:
    history = [Recommendation(0.0, 5)]
    held = decide(5, latency(10), history, 299.0, POLICY)
    assert (held.desired, held.recommended, held.reason) == (5, 4, Reason.STABILIZING)
    assert "300 s stabilization window" in held.message
    went = decide(5, latency(10), history, 301.0, POLICY)
    assert went.desired == 4


def test_scale_up_window_uses_the_lowest_recommendation() -> None:
    policy = ScalingPolicy(
        min_replicas=1, max_replicas=10, target_latency_ms=100, scale_up_stabilization_s=60
    )
    history = [Recommendation(0.0, 2), Recommendation(30.0, 6)]
    assert decide(2, latency(400), history, 50.0, policy).desired == 2
    # Once the low one has aged out, the lowest in the window is 6.
    assert decide(2, latency(400), history, 61.0, policy).desired == 6


def test_stabilize_follows_the_hpa_rule() -> None:
    policy = ScalingPolicy(
        min_replicas=1, max_replicas=10, scale_up_stabilization_s=10, scale_down_stabilization_s=10
    )
    history = [Recommendation(95.0, 4), Recommendation(98.0, 7)]
    assert stabilize(5, 6, history, 100.0, policy) == 5  # up floor 4, down ceiling 7
    assert stabilize(2, 6, history, 100.0, policy) == 4
    assert stabilize(9, 6, history, 100.0, policy) == 7


def test_bounds_apply_at_once_whatever_the_windows() -> None:
    below = decide(1, Signals(), [], 0.0, POLICY)
    assert (below.desired, below.reason) == (2, Reason.BELOW_MINIMUM)
    above = decide(14, Signals(), [Recommendation(0.0, 14)], 1.0, POLICY)
    assert (above.desired, above.reason) == (10, Reason.ABOVE_MAXIMUM)
    capped = decide(9, latency(500), [], 0.0, POLICY)
    assert (capped.desired, capped.reason) == (10, Reason.ABOVE_MAXIMUM)
    assert "maxReplicas 10" in capped.message


def test_at_the_maximum_nothing_changes() -> None:
    decision = decide(10, latency(500), [], 0.0, POLICY)
    assert (decision.changes, decision.reason) == (False, Reason.ABOVE_MAXIMUM)


def test_during_a_halt_only_up() -> None:
    no_window = ScalingPolicy(2, 10, 100, 0, 0)
    down = decide(5, latency(10), [], 0.0, no_window, allow_scale_down=False)
    assert (down.desired, down.reason) == (5, Reason.UP_ONLY)
    up = decide(5, latency(150), [], 0.0, POLICY, allow_scale_down=False)
    assert up.desired == 8


def test_prune_keeps_what_a_window_still_needs() -> None:
    history = [Recommendation(0.0, 1), Recommendation(100.0, 2), Recommendation(350.0, 3)]
    assert prune(history, 400.0, POLICY) == history[1:]


@given(
    current=st.integers(0, 50),
    p95=st.one_of(st.none(), st.floats(0, 10_000)),
    samples=st.integers(0, 50),
    external=st.one_of(st.none(), st.floats(-10, 10_000)),
    forecast=st.one_of(st.none(), st.floats(0, 1_000)),
    low=st.integers(0, 20),
    span=st.integers(0, 20),
    history=st.lists(st.tuples(st.floats(0, 1_000), st.integers(0, 60)), max_size=20),
    now=st.floats(0, 2_000),
    allow_down=st.booleans(),
)
def test_decisions_stay_in_bounds(
    current: int,
    p95: float | None,
    samples: int,
    external: float | None,
    forecast: float | None,
    low: int,
    span: int,
    history: list[tuple[float, int]],
    now: float,
    allow_down: bool,
) -> None:
    policy = ScalingPolicy(
        min_replicas=low,
        max_replicas=max(1, low + span),
        target_latency_ms=100,
        scale_up_stabilization_s=30,
        external_target=10,
    )
    decision = decide(
        current,
        Signals(p95, samples, external, forecast),
        [Recommendation(at, r) for at, r in history],
        now,
        policy,
        allow_scale_down=allow_down,
    )
    assert isinstance(decision, Decision)
    if allow_down or decision.desired >= current:
        in_bounds = policy.min_replicas <= decision.desired <= policy.max_replicas
        assert in_bounds or (not allow_down and decision.desired == current)
    if not allow_down:
        assert decision.desired >= current


# -- the optimiser's plan as a signal ------------------------------------------------------


def test_a_plan_above_the_signals_raises_the_count() -> None:
    # RELIABILITY's second CRITICAL replica: latency alone would hold at 1.
    policy = ScalingPolicy(min_replicas=1, max_replicas=5, target_latency_ms=100)
    replicas, why, message = recommend(1, Signals(p95_latency_ms=60, samples=5, planned=2), policy)
    assert (replicas, why) == (2, Reason.PLAN)
    assert "optimiser plan 2" in message


def test_a_plan_below_the_signals_does_not_lower_the_count_while_capacity_is_free() -> None:
    policy = ScalingPolicy(min_replicas=1, max_replicas=5, target_latency_ms=100)
    replicas, why, _ = recommend(4, Signals(p95_latency_ms=80, samples=5, planned=2), policy)
    assert (replicas, why) == (4, Reason.WITHIN_TARGET)


def test_when_capacity_binds_the_plan_is_a_ceiling() -> None:
    policy = ScalingPolicy(min_replicas=1, max_replicas=9, target_latency_ms=100)
    signals = Signals(p95_latency_ms=300, samples=5, planned=3, plan_ceiling=3)
    replicas, why, message = recommend(2, signals, policy)
    assert (replicas, why) == (3, Reason.CAPACITY)
    assert "p95 latency 300 ms" in message
    assert "allots 3" in message
    # Lowering to the allotment goes through the scale-down window like any other signal.
    held = decide(5, Signals(planned=2, plan_ceiling=2), [Recommendation(0.0, 5)], 10.0, policy)
    assert (held.desired, held.recommended, held.reason) == (5, 2, Reason.STABILIZING)
    later = decide(5, Signals(planned=2, plan_ceiling=2), [], 400.0, policy)
    assert later.desired == 2


def test_the_halt_keeps_a_plan_from_scaling_down() -> None:
    policy = ScalingPolicy(min_replicas=1, max_replicas=9, scale_down_stabilization_s=0)
    d = decide(5, Signals(planned=2, plan_ceiling=2), [], 0.0, policy, allow_scale_down=False)
    assert (d.desired, d.reason) == (5, Reason.UP_ONLY)


@given(
    current=st.integers(0, 20),
    planned=st.integers(0, 20),
    ceiling=st.one_of(st.none(), st.integers(0, 20)),
    p95=st.one_of(st.none(), st.floats(1, 2000)),
)
def test_the_ceiling_is_never_exceeded_within_bounds(
    current: int, planned: int, ceiling: int | None, p95: float | None
) -> None:
    policy = ScalingPolicy(min_replicas=0, max_replicas=20, target_latency_ms=100)
    signals = Signals(p95_latency_ms=p95, samples=5, planned=planned, plan_ceiling=ceiling)
    replicas, _why, _ = recommend(current, signals, policy)
    if ceiling is not None:
        assert replicas <= ceiling
    else:
        assert replicas >= planned


def test_the_ceiling_holds_without_any_other_signal() -> None:
    policy = ScalingPolicy(min_replicas=1, max_replicas=9)
    replicas, why, message = recommend(3, Signals(plan_ceiling=1), policy)
    assert (replicas, why) == (1, Reason.CAPACITY)
    assert message == "no scaling signal; the capacity plan allots 1"
