"""core.anomaly: checks in, AnomalyDetected verdict out.

Most tests drive a ``Stream``: a seeded service checked every 10 s from a clock of its own,
through phases (steady, slower, failing, silent). Three hours of steady checks give every
signal its baseline.
"""

from __future__ import annotations

import math
import random
import re
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from orchestration_engine.core.anomaly import (
    BUCKET_SAMPLE_CAP,
    NORMAL,
    SIGNALS,
    AnomalyDetector,
    AnomalyPolicy,
    AnomalyVerdict,
    binomial_tail,
    format_ms,
)

T0 = 1_767_225_600.0  # on a minute boundary, so phases start on bucket boundaries
PERIOD = 10.0
POLICY = AnomalyPolicy()
BUCKET_MINUTES = POLICY.bucket_seconds / 60
# A change shows in the verdict once raise_after (clear_after) buckets have closed after it:
# at the first check of the bucket that follows them.
RAISE_MINUTES = (POLICY.raise_after + 1) * BUCKET_MINUTES
CLEAR_MINUTES = (POLICY.clear_after + 1) * BUCKET_MINUTES


@dataclass
class Stream:
    detector: AnomalyDetector = field(default_factory=lambda: AnomalyDetector(POLICY))
    seed: int = 0
    now: float = T0
    changes: list[tuple[float, AnomalyVerdict]] = field(default_factory=list)
    rng: random.Random = field(init=False)

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)  # noqa: S311 - seeded test data

    @property
    def verdict(self) -> AnomalyVerdict:
        return self.detector.verdict

    def check(self, ok: bool, latency_ms: float | None) -> bool:
        changed = self.detector.observe(self.now, ok, latency_ms)
        if changed:
            self.changes.append((self.now, self.detector.verdict))
        self.now += PERIOD
        return changed

    def run(
        self,
        minutes: float,
        latency_ms: float = 20.0,
        *,
        sigma: float = 0.15,
        fail_rate: float = 0.0,
    ) -> list[AnomalyVerdict]:
        """Checks for ``minutes``; returns the verdict after each check."""
        verdicts = []
        for _ in range(round(minutes * 60 / PERIOD)):
            ok = self.rng.random() >= fail_rate
            self.check(ok, latency_ms * math.exp(self.rng.gauss(0, sigma)) if ok else None)
            verdicts.append(self.verdict)
        return verdicts

    def skip(self, minutes: float) -> None:
        self.now += minutes * 60

    def minutes_since(self, start: float, until: float) -> float:
        return (until - start) / 60


def steady(minutes: float = 180, **kwargs: Any) -> Stream:
    stream = Stream(**kwargs)
    stream.run(minutes)
    assert stream.changes == []
    return stream


# --- the policy ------------------------------------------------------------------------


def test_the_defaults_are_the_policy_for_the_default_period() -> None:
    assert AnomalyPolicy() == AnomalyPolicy.for_period(10)


@pytest.mark.parametrize(
    ("period", "bucket", "baseline", "warmup"),
    [(1, 60, 120, 30), (10, 60, 120, 30), (30, 180, 40, 10), (300, 1800, 30, 10)],
)
def test_for_period_keeps_six_checks_a_bucket_and_the_time_spans(
    period: float, bucket: float, baseline: int, warmup: int
) -> None:
    policy = AnomalyPolicy.for_period(period)
    assert policy.bucket_seconds == bucket
    assert policy.bucket_seconds / period >= 6
    assert policy.baseline_buckets == baseline
    assert policy.min_baseline_buckets == warmup
    assert policy.relearn_after_buckets * bucket >= 6 * 3600


def test_for_period_at_the_longest_period_still_makes_a_valid_policy() -> None:
    policy = AnomalyPolicy.for_period(86_400)
    assert policy.bucket_seconds == 6 * 86_400
    assert policy.min_baseline_buckets <= policy.baseline_buckets


@pytest.mark.parametrize("period", [0, -10, math.nan, math.inf])
def test_for_period_rejects_a_period_that_is_not_positive(period: float) -> None:
    with pytest.raises(ValueError, match="period_seconds"):
        AnomalyPolicy.for_period(period)


@pytest.mark.parametrize(
    "changes",
    [
        {"bucket_seconds": 0},
        {"bucket_seconds": math.nan},
        {"raise_after": 0},
        {"clear_after": 0},
        {"baseline_buckets": 10, "min_baseline_buckets": 20},
        {"error_p_value": 0},
        {"error_p_value": 1},
        {"error_rate_floor": 0},
        {"error_min_rate": 1.5},
        {"latency_z": 0},
        {"latency_floor_fraction": 0, "latency_floor_ms": 0},
        {"latency_min_ratio": 0.5},
    ],
)
def test_policy_rejects_nonsense(changes: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="must"):
        AnomalyPolicy(**changes)  # type: ignore[arg-type]


# --- warm-up ---------------------------------------------------------------------------


def test_nothing_is_judged_before_the_baseline_is_learnt() -> None:
    stream = Stream()
    warmup = POLICY.min_baseline_buckets * BUCKET_MINUTES
    stream.run(warmup / 2)
    stream.run(warmup / 2, latency_ms=2000, fail_rate=0.5)
    assert stream.changes == []
    assert stream.verdict is NORMAL


def test_a_fresh_detector_is_normal() -> None:
    verdict = AnomalyDetector(POLICY).verdict
    assert verdict == AnomalyVerdict(active=False, signals=(), message="")


# --- latency ---------------------------------------------------------------------------


def test_a_latency_step_raises_then_clears() -> None:
    stream = steady()
    step = stream.now
    stream.run(20, latency_ms=200)
    assert len(stream.changes) == 1
    raised_at, raised = stream.changes[0]
    assert raised.active
    assert raised.signals == ("latency",)
    assert raised.message.startswith("latency median ")
    assert raised.message.endswith("against a usual 20 ms")
    assert stream.minutes_since(step, raised_at) <= RAISE_MINUTES

    back = stream.now
    stream.run(20)
    assert len(stream.changes) == 2
    cleared_at, cleared = stream.changes[1]
    assert cleared is NORMAL
    assert stream.minutes_since(back, cleared_at) <= CLEAR_MINUTES


def test_a_faster_service_is_not_anomalous() -> None:
    stream = steady()
    stream.run(60, latency_ms=2)
    assert stream.changes == []


def test_a_slowdown_below_the_minimum_ratio_is_not_anomalous() -> None:
    # Steady enough that the z-score alone would flag a 30 % slowdown.
    stream = steady()
    stream.run(60, latency_ms=20 * 1.3, sigma=0.02)
    assert stream.changes == []


def test_single_slow_checks_are_not_anomalous() -> None:
    stream = steady()
    for _ in range(200):
        stream.run(2)
        stream.check(True, 5000.0)  # one check in twelve, a hundred times slower
    assert stream.changes == []


def test_a_short_blip_below_raise_after_buckets_is_not_raised() -> None:
    stream = steady()
    stream.run((POLICY.raise_after - 1) * BUCKET_MINUTES, latency_ms=500)
    stream.run(30)
    assert stream.changes == []


def test_an_anomaly_does_not_poison_the_baseline() -> None:
    """Two hours at 5x: the baseline would have adapted if the slow buckets entered it."""
    stream = steady()
    verdicts = stream.run(120, latency_ms=100)
    assert all(v.active for v in verdicts[round(RAISE_MINUTES * 6) :])
    assert len(stream.changes) == 1


def test_a_lasting_change_becomes_the_new_normal() -> None:
    stream = steady()
    hours = POLICY.relearn_after_buckets * POLICY.bucket_seconds / 3600
    stream.run(60 * (hours + 3), latency_ms=100)
    assert [v.active for _, v in stream.changes] == [True, False]
    relearnt_at = stream.changes[1][0]
    assert stream.minutes_since(stream.changes[0][0], relearnt_at) == pytest.approx(
        hours * 60, abs=2 * BUCKET_MINUTES
    )
    # The new level is learnt: a step from it is judged against it.
    stream.run(20, latency_ms=1000)
    assert re.search(r"against a usual (9\d|10\d) ms$", stream.changes[-1][1].message)


# --- errors ----------------------------------------------------------------------------


def test_an_error_burst_raises_then_clears() -> None:
    stream = steady()
    start = stream.now
    stream.run(10, fail_rate=0.5)
    raised_at, raised = stream.changes[0]
    assert raised.signals == ("errors",)
    assert raised.message.endswith("checks failed against a usual 0.0%")
    assert stream.minutes_since(start, raised_at) <= RAISE_MINUTES
    stream.run(30)
    assert stream.verdict is NORMAL
    assert len(stream.changes) == 2


def test_every_check_failing_raises_errors_only() -> None:
    stream = steady()
    stream.run(10, fail_rate=1.0)
    assert stream.verdict.signals == ("errors",)
    # Composed when raised (three buckets in), and kept since.
    assert re.match(r"\d+ of the last 30 checks failed", stream.verdict.message)


def test_a_few_failures_on_a_service_that_never_fails_are_not_anomalous() -> None:
    stream = steady()
    for _ in range(3):  # a pod restarting: three failures in a row
        stream.check(False, None)
    stream.run(60)
    for _ in range(20):  # and a lone failure now and then
        stream.check(False, None)
        stream.run(5)
    assert stream.changes == []


def test_the_usual_failure_rate_is_learnt() -> None:
    """5 % failures are normal for this one, so 8 % is not an anomaly; 60 % is."""
    stream = Stream()
    stream.run(180, fail_rate=0.05)
    stream.run(60, fail_rate=0.08)
    assert stream.changes == []
    stream.run(10, fail_rate=0.6)
    assert stream.verdict.signals == ("errors",)
    assert re.search(r"against a usual [456]\.\d%$", stream.verdict.message)


def test_both_signals_in_a_stable_order() -> None:
    stream = steady()
    stream.run(10, latency_ms=400, fail_rate=0.5)
    assert SIGNALS == ("latency", "errors")
    assert stream.verdict.signals == SIGNALS
    latency, errors = stream.verdict.message.split("; ")
    assert latency.startswith("latency median")
    assert "checks failed" in errors


def test_signals_change_while_active() -> None:
    stream = steady()
    seen = []
    for minutes, latency, fail_rate in ((10, 400, 0.0), (10, 400, 0.5), (15, 20, 0.5)):
        stream.run(minutes, latency_ms=latency, fail_rate=fail_rate)
        seen.append(stream.verdict.signals)
    expected = [("latency",), ("latency", "errors"), ("errors",)]
    assert seen == expected
    assert [v.signals for _, v in stream.changes] == expected


# --- degenerate series -----------------------------------------------------------------


@pytest.mark.parametrize("latency_ms", [0.0, 0.001, 5.0, 20_000.0])
def test_a_constant_latency_and_no_failures_never_alarm(latency_ms: float) -> None:
    stream = Stream()
    for _ in range(6 * 60 * 6):
        stream.check(True, latency_ms)
    assert stream.changes == []


def test_a_constant_latency_still_sees_a_real_step() -> None:
    stream = Stream()
    for _ in range(3 * 60 * 6):
        stream.check(True, 5.0)
    for _ in range(5 * 6):
        stream.check(True, 6.0)  # 1.2x: below the minimum ratio
    assert stream.changes == []
    for _ in range(5 * 6):
        stream.check(True, 50.0)
    assert stream.verdict.message == "latency median 50 ms against a usual 5.0 ms"


def test_checks_without_latency_leave_the_latency_signal_alone() -> None:
    stream = steady()
    for _ in range(60 * 6):
        stream.check(True, None)
    assert stream.changes == []
    stream.run(10, latency_ms=400)
    assert stream.verdict.signals == ("latency",)


# --- noise -----------------------------------------------------------------------------


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_noise_alone_never_alarms(seed: int) -> None:
    """Two days of noisy latency with a diurnal cycle, slow outliers and rare failures."""
    stream = Stream(seed=seed)
    rng = random.Random(seed)  # noqa: S311 - seeded test data
    for _ in range(2 * 24 * 360):
        at = stream.now
        level = 40 * math.exp(0.3 * math.sin(2 * math.pi * at / 86_400) + rng.gauss(0, 0.35))
        if rng.random() < 0.01:
            level *= 20
        stream.check(rng.random() >= 0.005, level)
    assert stream.changes == []


# --- the message -----------------------------------------------------------------------


def test_the_verdict_and_its_message_stay_the_same_while_unchanged() -> None:
    stream = steady()
    verdicts = []
    for latency in (200, 300, 250, 900, 400, 220) * 5:
        verdicts += stream.run(2, latency_ms=latency)
    raised = [v for v in verdicts if v.active]
    assert len(raised) > 100
    assert len({id(v) for v in raised}) == 1
    assert len({v.message for v in raised}) == 1


@pytest.mark.parametrize(
    ("ms", "text"),
    [(0.4, "0.4 ms"), (9.96, "10.0 ms"), (12.3, "12 ms"), (420, "420 ms"), (1234, "1.2 s")],
)
def test_format_ms(ms: float, text: str) -> None:
    assert format_ms(ms) == text


def test_format_ms_in_whole_seconds_from_ten() -> None:
    assert format_ms(12_345) == "12 s"


# --- time ------------------------------------------------------------------------------


def test_the_verdict_moves_only_when_a_bucket_closes() -> None:
    stream = steady()
    stream.run(POLICY.raise_after * BUCKET_MINUTES, latency_ms=400)
    assert stream.changes == []  # the last slow bucket is still open
    assert stream.check(True, 400.0)  # the first check of the next bucket closes it
    assert stream.verdict.signals == ("latency",)


def test_a_short_gap_keeps_the_baseline() -> None:
    stream = steady()
    stream.skip(30)
    stream.run(30)
    assert stream.changes == []
    start = stream.now
    stream.run(10, latency_ms=400)
    assert stream.minutes_since(start, stream.changes[0][0]) <= RAISE_MINUTES


def test_a_gap_within_an_anomaly_keeps_it_raised() -> None:
    stream = steady()
    stream.run(10, latency_ms=400)
    stream.skip(15)
    stream.run(10, latency_ms=400)
    assert len(stream.changes) == 1
    assert stream.verdict.active


def test_a_long_gap_starts_afresh() -> None:
    stream = steady()
    stream.run(10, latency_ms=400)
    assert stream.verdict.active
    stream.skip(POLICY.reset_after_gap_buckets * BUCKET_MINUTES + 1)
    assert stream.check(True, 400.0)  # the first check after the gap clears it
    assert stream.verdict is NORMAL
    # The service is learnt again, at its new level, before anything is judged.
    stream.run(180, latency_ms=400)
    assert len(stream.changes) == 2
    stream.run(10, latency_ms=4000)
    assert re.search(r"against a usual (39\d|40\d) ms$", stream.verdict.message)


def test_a_check_from_the_past_counts_in_the_open_bucket() -> None:
    stream = steady()
    stream.now -= 3600
    assert not stream.check(True, 20.0)
    stream.now += 3600
    stream.run(30)
    assert stream.changes == []


@pytest.mark.parametrize("at", [math.nan, math.inf, -math.inf])
def test_a_time_that_is_not_a_number_is_ignored(at: float) -> None:
    detector = AnomalyDetector(POLICY)
    assert detector.observe(at, False, None) is False
    assert detector.verdict is NORMAL


@pytest.mark.parametrize("latency", [-1.0, math.nan, math.inf])
def test_a_latency_that_is_not_one_is_ignored(latency: float) -> None:
    stream = steady()
    for _ in range(60 * 6):
        stream.check(True, latency)
    assert stream.changes == []


# --- memory ----------------------------------------------------------------------------


def test_state_stays_bounded_whatever_the_check_rate() -> None:
    detector = AnomalyDetector(POLICY)
    for i in range(10 * 60 * 100):  # ten hours, a hundred checks a minute
        detector.observe(T0 + i * 0.6, True, 20.0 + i % 7)
    state = detector._state
    assert len(detector._samples) <= BUCKET_SAMPLE_CAP
    assert len(state.latency_baseline.values) == POLICY.baseline_buckets
    assert len(state.recent) <= max(POLICY.error_window_buckets, POLICY.raise_after)


# --- the binomial tail -----------------------------------------------------------------


@given(
    n=st.integers(min_value=0, max_value=60),
    k=st.integers(min_value=-1, max_value=62),
    p=st.floats(min_value=0, max_value=1),
)
@example(n=22, k=1, p=0.9999999999999999)  # the first term underflowed: the tail read 0
def test_binomial_tail_matches_the_sum_of_the_probabilities(n: int, k: int, p: float) -> None:
    exact = sum(math.comb(n, i) * p**i * (1 - p) ** (n - i) for i in range(max(k, 0), n + 1))
    assert binomial_tail(k, n, p) == pytest.approx(min(exact, 1.0), rel=1e-9, abs=1e-300)


# --- properties ------------------------------------------------------------------------

SMALL = AnomalyPolicy(
    bucket_seconds=1.0,
    baseline_buckets=6,
    min_baseline_buckets=3,
    min_latency_samples=1,
    error_window_buckets=2,
    error_p_value=0.2,
    error_min_rate=0.0,
    raise_after=1,
    clear_after=2,
    relearn_after_buckets=4,
    reset_after_gap_buckets=20,
)

checks = st.lists(
    st.tuples(
        st.one_of(
            st.floats(min_value=0, max_value=3),
            st.floats(min_value=-5, max_value=100),
            st.sampled_from([math.nan, math.inf, 1e12]),
        ),
        st.booleans(),
        st.one_of(
            st.none(),
            st.floats(min_value=0, max_value=50),
            st.floats(allow_nan=True, allow_infinity=True),
        ),
    ),
    max_size=300,
)


def assert_well_formed(verdict: AnomalyVerdict) -> None:
    assert set(verdict.signals) <= set(SIGNALS)
    assert list(verdict.signals) == [s for s in SIGNALS if s in verdict.signals]
    assert verdict.active == bool(verdict.signals)
    assert bool(verdict.message) == verdict.active


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(steps=checks, policy=st.sampled_from([SMALL, POLICY]))
def test_any_checks_give_a_well_formed_verdict(
    steps: list[tuple[float, bool, float | None]], policy: AnomalyPolicy
) -> None:
    detector = AnomalyDetector(policy)
    at = T0
    for dt, ok, latency in steps:
        at = at + dt if math.isfinite(dt) else dt
        before = detector.verdict
        changed = detector.observe(at, ok, latency)
        after = detector.verdict
        assert_well_formed(after)
        assert changed == (after.signals != before.signals)
        if not changed:
            assert after is before
        if not math.isfinite(at):
            at = T0


@settings(max_examples=50, deadline=None)
@given(
    latency=st.floats(min_value=0, max_value=1e6),
    failures_every=st.integers(min_value=50, max_value=1000),
)
def test_a_flat_series_with_rare_failures_never_alarms(latency: float, failures_every: int) -> None:
    detector = AnomalyDetector(POLICY)
    for i in range(4 * 360):
        ok = i % failures_every != 0
        assert not detector.observe(T0 + i * PERIOD, ok, latency if ok else None)
