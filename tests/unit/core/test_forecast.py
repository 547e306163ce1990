"""core.forecast: the bucketed history, and the seasonal forecast on clean, spiky, shifted and
gappy days; properties: any non-negative input gives None or a finite, non-negative peak."""

from __future__ import annotations

import math
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from orchestration_engine.core.forecast import (
    LEVEL_BOUNDS,
    SEASON_S,
    DemandHistory,
    forecast_peak,
)
from orchestration_engine.core.scaling import Reason, ScalingPolicy, Signals, decide

STEP = 300.0
PER_DAY = round(SEASON_S / STEP)
MIDNIGHT = 1_767_571_200.0  # a Monday, 00:00 UTC
HOUR = 3600.0


def daily(at: float) -> float:
    """Demand in replicas: 2 at night, 12 at 15:00, smooth in between."""
    hours = (at % SEASON_S) / HOUR
    return 7.0 - 5.0 * math.cos(2 * math.pi * (hours - 3) / 24)


def filled(
    days: float,
    demand: Callable[[float], float] = daily,
    start: float = MIDNIGHT,
    skip: Callable[[float], bool] = lambda at: False,
) -> DemandHistory:
    history = DemandHistory(step_s=STEP)
    at = start
    while at < start + days * SEASON_S:
        if not skip(at):
            history.add(at, demand(at))
        at += STEP
    return history


def truth(now: float, horizon_s: float, demand: Callable[[float], float] = daily) -> float:
    """The peak of the bucket values the horizon covers, as the history would hold them."""
    first = math.floor(now / STEP) * STEP
    return max(demand(first + i * STEP) for i in range(int(horizon_s // STEP) + 1))


# -- the history --------------------------------------------------------------------------------


def test_samples_in_one_bucket_are_averaged() -> None:
    history = DemandHistory(step_s=STEP)
    for demand in (2.0, 4.0, 9.0):
        history.add(MIDNIGHT + 10, demand)
    history.add(MIDNIGHT + STEP - 1, 5.0)
    assert history.values() == [pytest.approx(5.0)]
    assert history.first_at == history.last_at == MIDNIGHT


def test_gaps_are_empty_buckets() -> None:
    history = DemandHistory(step_s=STEP)
    history.add(MIDNIGHT, 1.0)
    history.add(MIDNIGHT + 3 * STEP, 4.0)
    assert history.values() == [1.0, None, None, 4.0]
    assert history.last_at == MIDNIGHT + 3 * STEP


def test_a_late_sample_updates_its_bucket_and_one_too_old_is_dropped() -> None:
    history = DemandHistory(step_s=STEP, capacity=3)
    for i in range(3):
        history.add(MIDNIGHT + i * STEP, 2.0)
    history.add(MIDNIGHT + STEP, 4.0)
    history.add(MIDNIGHT - STEP, 100.0)
    assert history.values() == [2.0, 3.0, 2.0]


def test_capacity_bounds_the_history() -> None:
    history = DemandHistory(step_s=STEP, capacity=10)
    for i in range(25):
        history.add(MIDNIGHT + i * STEP, float(i))
    assert history.values() == [float(i) for i in range(15, 25)]
    assert history.first_at == MIDNIGHT + 15 * STEP
    # A gap longer than the whole window leaves only the new bucket.
    history.add(MIDNIGHT + 100 * STEP, 7.0)
    assert history.values() == [7.0]


def test_bad_samples_are_ignored_and_negative_demand_is_zero() -> None:
    history = DemandHistory(step_s=STEP)
    history.add(math.nan, 1.0)
    history.add(MIDNIGHT, math.inf)
    history.add(MIDNIGHT, math.nan)
    assert history.values() == []
    history.add(MIDNIGHT, -3.0)
    assert history.values() == [0.0]


def test_a_step_must_divide_the_day() -> None:
    with pytest.raises(ValueError, match="whole number"):
        DemandHistory(step_s=7.0)
    with pytest.raises(ValueError, match="positive"):
        DemandHistory(step_s=0.0)
    with pytest.raises(ValueError, match="capacity"):
        DemandHistory(capacity=0)


# -- the forecast -------------------------------------------------------------------------------


def test_no_forecast_before_a_season_of_history() -> None:
    assert forecast_peak(DemandHistory(), MIDNIGHT, 600) is None
    history = filled(days=0.5)
    assert forecast_peak(history, MIDNIGHT + 0.5 * SEASON_S, 600) is None
    history = filled(days=1)
    assert forecast_peak(history, MIDNIGHT + SEASON_S - 1, 600) is None
    assert forecast_peak(history, MIDNIGHT + SEASON_S, 600) is not None


@pytest.mark.parametrize("hour", [0.0, 6.5, 10.0, 15.0, 21.25])
def test_a_clean_daily_pattern_is_forecast_closely(hour: float) -> None:
    history = filled(days=7)
    now = MIDNIGHT + 7 * SEASON_S + hour * HOUR
    peak = forecast_peak(history, now, 600)
    # The quantile of the neighbouring buckets leans at most one bucket's change ahead.
    assert peak == pytest.approx(truth(now, 600), rel=0.03)


def test_one_day_of_history_is_enough_for_a_pattern() -> None:
    history = filled(days=1)
    now = MIDNIGHT + SEASON_S + 10 * HOUR
    assert forecast_peak(history, now, 1200) == pytest.approx(truth(now, 1200), rel=0.03)


def test_the_peak_is_the_highest_bucket_of_the_horizon() -> None:
    history = filled(days=3)
    now = MIDNIGHT + 3 * SEASON_S + 14 * HOUR
    short = forecast_peak(history, now, 0)
    long = forecast_peak(history, now, 2 * HOUR)
    assert short is not None
    assert long is not None
    assert long == pytest.approx(12.0, rel=0.01)
    assert short < long


def test_a_one_off_spike_yesterday_is_not_replayed_today() -> None:
    spike_start = MIDNIGHT + 6 * SEASON_S + 12 * HOUR

    def spiky(at: float) -> float:
        in_spike = spike_start <= at < spike_start + 1800
        return daily(at) * (3.0 if in_spike else 1.0)

    history = filled(days=7, demand=spiky)
    now = MIDNIGHT + 7 * SEASON_S + 12 * HOUR - STEP
    for level in (False, True):
        peak = forecast_peak(history, now, 1800, level=level)
        assert peak == pytest.approx(truth(now, 1800), rel=0.03)


def test_a_spike_in_the_last_hour_does_not_move_the_level() -> None:
    now = MIDNIGHT + 7 * SEASON_S + 12 * HOUR

    def spiky(at: float) -> float:
        return daily(at) * (3.0 if now - 900 <= at <= now else 1.0)

    history = filled(days=7, demand=spiky, start=MIDNIGHT)
    history.add(now, spiky(now))
    peak = forecast_peak(history, now, 600, level=True)
    assert peak == pytest.approx(truth(now, 600), rel=0.03)


@pytest.mark.parametrize(("factor", "expected"), [(1.3, 1.3), (0.8, 0.8), (3.0, LEVEL_BOUNDS[1])])
def test_level_correction_follows_a_shifted_level(factor: float, expected: float) -> None:
    shift = MIDNIGHT + 7 * SEASON_S + 8 * HOUR

    def shifted(at: float) -> float:
        return daily(at) * (factor if at >= shift else 1.0)

    history = filled(days=7 + 10 / 24, demand=shifted)
    now = MIDNIGHT + 7 * SEASON_S + 10 * HOUR - STEP
    assert forecast_peak(history, now, 600, level=True) == pytest.approx(
        expected * truth(now, 600), rel=0.04
    )
    # Without it, the season alone: the days before.
    assert forecast_peak(history, now, 600, level=False) == pytest.approx(truth(now, 600), rel=0.03)


def test_gaps_are_tolerated() -> None:
    def missing(at: float) -> bool:
        bucket = int(at // STEP)
        whole_day = MIDNIGHT + 3 * SEASON_S <= at < MIDNIGHT + 4 * SEASON_S
        return whole_day or bucket % 3 == 0

    history = filled(days=7, skip=missing)
    assert None in history.values()
    for hour in (9.0, 15.0):
        now = MIDNIGHT + 7 * SEASON_S + hour * HOUR
        for level in (False, True):
            peak = forecast_peak(history, now, 600, level=level)
            assert peak == pytest.approx(truth(now, 600), rel=0.05)


def test_nothing_at_this_time_of_day_is_no_forecast() -> None:
    history = filled(days=1.5, skip=lambda at: 9 * HOUR <= at % SEASON_S < 11 * HOUR)
    assert forecast_peak(history, MIDNIGHT + 1.5 * SEASON_S + 10 * HOUR - 12 * HOUR, 0) is None


def test_a_forecast_at_the_current_count_holds_it() -> None:
    """The forecast raises or holds: the latency's one-fewer does not undercut it."""
    policy = ScalingPolicy(min_replicas=1, max_replicas=20, target_latency_ms=100)
    calm = Signals(p95_latency_ms=30, samples=6)
    assert decide(8, calm, [], 1000.0, policy).recommended == 7
    held = decide(8, Signals(30, 6, forecast_demand=7.5), [], 1000.0, policy)
    assert (held.recommended, held.reason, held.changes) == (8, Reason.FORECAST, False)
    lower = decide(8, Signals(30, 6, forecast_demand=3), [], 1000.0, policy)
    assert lower.recommended == 7


# -- properties ---------------------------------------------------------------------------------

non_negative = st.floats(min_value=0.0, allow_nan=False)


@settings(max_examples=200, deadline=None)
@given(
    samples=st.lists(
        st.tuples(st.floats(0, 10 * SEASON_S, allow_nan=False), non_negative), max_size=60
    ),
    capacity=st.integers(1, 3000),
    now=st.floats(0, 12 * SEASON_S, allow_nan=False),
    horizon=non_negative,
    quantile=st.floats(0, 1),
    level=st.booleans(),
)
def test_any_non_negative_input_gives_none_or_a_finite_non_negative_peak(
    samples: list[tuple[float, float]],
    capacity: int,
    now: float,
    horizon: float,
    quantile: float,
    level: bool,
) -> None:
    history = DemandHistory(step_s=STEP, capacity=capacity)
    for offset, demand in samples:
        history.add(MIDNIGHT + offset, demand)
    assert len(history.values()) <= capacity
    peak = forecast_peak(history, MIDNIGHT + now, horizon, quantile=quantile, level=level)
    assert peak is None or (math.isfinite(peak) and peak >= 0)


@settings(max_examples=50, deadline=None)
@given(
    days=st.integers(1, 7),
    scale=st.floats(1e-3, 1e6),
    hour=st.floats(0, 24, exclude_max=True),
)
def test_a_repeating_day_is_forecast_within_its_range(days: int, scale: float, hour: float) -> None:
    history = filled(days=days, demand=lambda at: scale * daily(at))
    peak = forecast_peak(history, MIDNIGHT + days * SEASON_S + hour * HOUR, 3600)
    assert peak is not None
    # Stored as float32: a few parts in ten million.
    assert 2.0 * scale * (1 - 1e-5) <= peak <= 12.0 * scale * (1 + 1e-5)
