"""Anomaly detection on one service's checks: pure, checks in → ``AnomalyDetected`` verdict out.

Two series come out of the checks: latency (of the checks that passed) and errors (the
share of checks that failed). Health already says *whether* a service answers; this says
whether it answers *unusually* for itself, so each service is judged against its own past.

**Buckets.** Checks are grouped into fixed, clock-aligned time buckets (60 s at the default
10 s period, always several checks). A single check is too noisy to judge, and a bucket of
aggregates is cheap to keep: the detector holds a few hundred numbers whatever the check
rate, and a check costs O(1) (the baseline's median is recomputed once per bucket, over a
window of fixed size). A bucket is judged when the first check of a later bucket arrives,
since only then is it complete.

**Latency.** A bucket's value is the median latency of its passed checks, so one slow
check among six (a GC pause, a cold connection) does not move it. Latency is roughly
log-normal, and a slowdown multiplies it, so the series is judged in log space: against
the median of the last two hours of normal buckets, scaled by their median absolute
deviation (a robust z-score; a few anomalous buckets that slipped into the window move
neither). A service whose latency barely varies has a MAD near zero, which would make any
wobble look huge, so the scale is floored at a fraction of the usual latency plus a small
absolute amount; and however steady the service, a bucket must also be ``latency_min_ratio``
times slower than usual, since a 20 % slowdown is not worth a condition. Only slowdowns
count: a faster service is not a problem.

**Errors.** Failures are rare and often zero for hours, so median and MAD say nothing; the
question is instead whether the failures of the last few buckets are more than the usual
failure rate makes plausible: a binomial tail probability below a small p-value, and a
failure rate high enough to matter. The usual rate is an exponentially weighted ratio of
failures to checks over normal buckets, floored so that a service that never fails is not
alarmed by its first two failures. Pooling a few buckets (five minutes at the defaults) lets
a burst of 20 % failures be seen within minutes while a blip of two or three never is.

**Hysteresis.** A signal is raised after ``raise_after`` consecutive anomalous buckets and
cleared after ``clear_after`` consecutive normal ones, so the condition does not flap at a
threshold. A bucket with nothing to judge (no passed checks for latency) leaves the counts
as they are.

**A clean baseline.** A closed bucket waits in a short queue before it joins the baselines,
and joins only if no judgement made while it waited was anomalous and no signal was raised:
the onset of an anomaly, still below the threshold, must not pull the baseline towards it.
While a signal is raised the baselines are therefore frozen; a change that lasts longer than
``relearn_after_buckets`` is taken as the new normal (its signal is cleared and relearnt).

**Warm-up and gaps.** Nothing is judged until a signal's baseline holds
``min_baseline_buckets`` buckets. Empty buckets (no checks) are skipped; a gap longer than
``reset_after_gap_buckets`` makes the past irrelevant, so the detector starts afresh.

**The message** is composed when the verdict changes and kept until it changes again: it
goes into a Kubernetes condition, where each new message is an API write.
"""

from __future__ import annotations

import math
import statistics
from array import array
from collections import deque
from dataclasses import dataclass, field

LATENCY = "latency"
ERRORS = "errors"
SIGNALS = (LATENCY, ERRORS)

# The MAD of normally distributed values is 0.6745 sigma: this turns a MAD into a sigma.
MAD_TO_SIGMA = 1.4826
# The median of a bucket is taken over at most this many latencies. At the shortest period
# (1 s) a 60 s bucket holds 60; the cap only bounds memory if checks come faster than that.
BUCKET_SAMPLE_CAP = 64
# Latencies are clamped to this range (ms): log() stays finite, and no sum overflows.
LATENCY_EPSILON_MS = 0.001
LATENCY_CAP_MS = 1e9

# for_period: a bucket spans at least this long and at least this many check periods.
MIN_BUCKET_SECONDS = 60.0
CHECKS_PER_BUCKET = 6
# for_period: the time spans the policy keeps whatever the bucket size.
BASELINE_SECONDS = 2 * 3600.0
WARMUP_SECONDS = 30 * 60.0
RELEARN_SECONDS = 6 * 3600.0


@dataclass(frozen=True, slots=True)
class AnomalyPolicy:
    """How the detector buckets and judges; the defaults are ``for_period(10)``.

    The thresholds were tuned on synthetic traces (tests/bench/bench_anomaly.py).
    """

    bucket_seconds: float = 60.0
    # Normal buckets the latency baseline keeps (its median and MAD) and the error baseline's
    # time constant.
    baseline_buckets: int = 120
    # Buckets a signal's baseline must hold before that signal is judged.
    min_baseline_buckets: int = 30
    # Robust z-score above which a bucket's median latency is anomalous.
    latency_z: float = 3.0
    # Floor of the latency scale, as a sigma in ms: this fraction of the usual latency plus ms.
    latency_floor_fraction: float = 0.05
    latency_floor_ms: float = 0.5
    # However steady the service, a bucket's median latency must be at least this many times
    # the usual to count: smaller slowdowns are not worth a condition.
    latency_min_ratio: float = 1.5
    # Fewer passed checks than this in a bucket and its latency is not judged.
    min_latency_samples: int = 3
    # Buckets pooled for the error test (the current one and those before it).
    error_window_buckets: int = 5
    # The error test: the pooled failures must be this improbable under the usual rate …
    error_p_value: float = 1e-4
    # … which is taken to be at least this …
    error_rate_floor: float = 0.01
    # … and the pooled failure rate must be at least this.
    error_min_rate: float = 0.1
    raise_after: int = 3
    clear_after: int = 5
    relearn_after_buckets: int = 360
    reset_after_gap_buckets: int = 120

    def __post_init__(self) -> None:
        if not self.bucket_seconds > 0 or not math.isfinite(self.bucket_seconds):
            raise ValueError("bucket_seconds must be a positive number")
        counts = {
            "baseline_buckets": self.baseline_buckets,
            "min_baseline_buckets": self.min_baseline_buckets,
            "min_latency_samples": self.min_latency_samples,
            "error_window_buckets": self.error_window_buckets,
            "raise_after": self.raise_after,
            "clear_after": self.clear_after,
            "relearn_after_buckets": self.relearn_after_buckets,
            "reset_after_gap_buckets": self.reset_after_gap_buckets,
        }
        for name, value in counts.items():
            if value < 1:
                raise ValueError(f"{name} must be at least 1")
        if self.min_baseline_buckets > self.baseline_buckets:
            raise ValueError("min_baseline_buckets must not exceed baseline_buckets")
        if not 0 < self.error_p_value < 1:
            raise ValueError("error_p_value must be between 0 and 1")
        if not 0 < self.error_rate_floor < 1:
            raise ValueError("error_rate_floor must be between 0 and 1")
        if not 0 <= self.error_min_rate <= 1:
            raise ValueError("error_min_rate must be between 0 and 1")
        if self.latency_z <= 0 or self.latency_floor_fraction < 0 or self.latency_floor_ms < 0:
            raise ValueError("latency_z must be positive and the latency floors not negative")
        if self.latency_floor_fraction == 0 and self.latency_floor_ms == 0:
            raise ValueError("one latency floor must be positive")
        if self.latency_min_ratio < 1:
            raise ValueError("latency_min_ratio must be at least 1")

    @classmethod
    def for_period(cls, period_seconds: float) -> AnomalyPolicy:
        """Buckets of at least a minute and six checks; baseline, warm-up and relearning keep
        their time spans (2 h, 30 min, 6 h) while the counts in buckets shrink with longer
        buckets, down to floors that keep the statistics meaningful."""
        if not period_seconds > 0 or not math.isfinite(period_seconds):
            raise ValueError("period_seconds must be a positive number")
        bucket = max(MIN_BUCKET_SECONDS, CHECKS_PER_BUCKET * period_seconds)

        def buckets(seconds: float, least: int) -> int:
            return max(least, round(seconds / bucket))

        baseline = buckets(BASELINE_SECONDS, 30)
        return cls(
            bucket_seconds=bucket,
            baseline_buckets=baseline,
            min_baseline_buckets=min(baseline, buckets(WARMUP_SECONDS, 10)),
            relearn_after_buckets=buckets(RELEARN_SECONDS, 60),
            reset_after_gap_buckets=baseline,
        )


@dataclass(frozen=True, slots=True)
class AnomalyVerdict:
    active: bool
    signals: tuple[str, ...]
    message: str


NORMAL = AnomalyVerdict(active=False, signals=(), message="")


def binomial_tail(k: int, n: int, p: float) -> float:
    """P(X ≥ k) for X ~ Binomial(n, p), summed upwards from k (called with k above the mean,
    where the terms fall fast)."""
    if k <= 0:
        return 1.0
    if k > n or p <= 0:
        return 0.0
    if p >= 1:
        return 1.0
    log_term = (
        math.lgamma(n + 1)
        - math.lgamma(k + 1)
        - math.lgamma(n - k + 1)
        + k * math.log(p)
        + (n - k) * math.log1p(-p)
    )
    # In log space: with p near 1 the first term underflows to 0 while the tail is ~1.
    log_odds = math.log(p) - math.log1p(-p)
    logs = [log_term]
    peak = log_term
    for i in range(k, n):
        log_term += math.log((n - i) / (i + 1)) + log_odds
        logs.append(log_term)
        peak = max(peak, log_term)
        if log_term < peak - 27.7:  # below 1e-12 of the largest term, and falling
            break
    return min(1.0, math.exp(peak) * math.fsum(math.exp(x - peak) for x in logs))


def format_ms(ms: float) -> str:
    if ms >= 10_000:
        return f"{ms / 1000:.0f} s"
    if ms >= 1000:
        return f"{ms / 1000:.1f} s"
    if ms >= 10:
        return f"{ms:.0f} ms"
    return f"{ms:.1f} ms"


def format_rate(rate: float) -> str:
    percent = 100 * rate
    return f"{percent:.0f}%" if percent >= 10 else f"{percent:.1f}%"


@dataclass(slots=True)
class _Closed:
    """A closed bucket waiting to join the baselines."""

    log_latency: float | None  # log of the median latency; None: too few passed checks
    checks: int
    failures: int
    tainted: bool = False


@dataclass(slots=True)
class _Signal:
    """One signal's hysteresis."""

    active: bool = False
    anomalous_run: int = 0
    normal_run: int = 0
    active_buckets: int = 0
    detail: str = ""  # what the latest anomalous bucket showed


@dataclass(slots=True)
class _LatencyBaseline:
    """The last ``size`` normal buckets' log latencies, in a ring of C doubles (a deque of
    Python floats would take four times the memory); order does not matter to a median."""

    size: int
    values: array[float] = field(default_factory=lambda: array("d"))
    oldest: int = 0  # the slot the next value overwrites, once the ring is full
    center: float = 0.0
    scale: float = 0.0
    stale: bool = True

    def add(self, value: float) -> None:
        if len(self.values) < self.size:
            self.values.append(value)
        else:
            self.values[self.oldest] = value
            self.oldest = (self.oldest + 1) % self.size
        self.stale = True

    def fit(self, floor_fraction: float, floor_ms: float) -> None:
        if not self.stale:
            return
        center = statistics.median(self.values)
        mad = statistics.median(abs(v - center) for v in self.values)
        # The floor as a sigma in ms around the usual latency, turned into log space.
        usual = math.exp(center)
        floor = math.log1p(floor_fraction + floor_ms / usual)
        self.center, self.scale, self.stale = center, max(MAD_TO_SIGMA * mad, floor), False


@dataclass(slots=True)
class _ErrorBaseline:
    checks: float = 0.0
    failures: float = 0.0
    buckets: int = 0

    def add(self, checks: int, failures: int, keep: float) -> None:
        self.checks = self.checks * keep + checks
        self.failures = self.failures * keep + failures
        self.buckets += 1


@dataclass(slots=True)
class _State:
    """Everything that a long gap throws away."""

    latency_baseline: _LatencyBaseline
    error_baseline: _ErrorBaseline = field(default_factory=_ErrorBaseline)
    # Closed buckets not yet in the baselines, newest last; also the error test's pool.
    recent: deque[_Closed] = field(default_factory=deque)
    latency: _Signal = field(default_factory=_Signal)
    errors: _Signal = field(default_factory=_Signal)


class AnomalyDetector:
    """Folds one service's checks into an ``AnomalyVerdict``; see the module docstring."""

    __slots__ = (
        "_bucket",
        "_checks",
        "_failures",
        "_keep",
        "_min_log_ratio",
        "_policy",
        "_queue",
        "_samples",
        "_state",
        "_verdict",
    )

    def __init__(self, policy: AnomalyPolicy) -> None:
        self._policy = policy
        # The error baseline forgets with the latency baseline's horizon.
        self._keep = 1.0 - 1.0 / policy.baseline_buckets
        self._min_log_ratio = math.log(policy.latency_min_ratio)
        # A bucket waits until it has left both the error pool and the raise run.
        self._queue = max(policy.error_window_buckets, policy.raise_after)
        self._state = self._fresh()
        self._verdict = NORMAL
        self._bucket: int | None = None  # index of the open bucket
        self._checks = 0
        self._failures = 0
        self._samples: list[float] = []

    @property
    def verdict(self) -> AnomalyVerdict:
        return self._verdict

    @property
    def policy(self) -> AnomalyPolicy:
        return self._policy

    def observe(self, at: float, ok: bool, latency_ms: float | None) -> bool:
        """Fold one check in (at = seconds, monotonic or epoch, non-decreasing). Returns True
        when the verdict changed (raised, cleared, or signals changed).

        A check dated before the open bucket is counted in it; a non-finite time is ignored,
        as is a latency that is negative, non-finite or from a failed check.
        """
        if not math.isfinite(at):
            return False
        before = self._verdict
        index = math.floor(at / self._policy.bucket_seconds)
        if self._bucket is None:
            self._bucket = index
        elif index > self._bucket:
            self._close()
            if index - self._bucket > self._policy.reset_after_gap_buckets:
                self._state = self._fresh()
                self._verdict = NORMAL
            self._bucket = index
        self._checks += 1
        if not ok:
            self._failures += 1
        elif latency_ms is not None and 0 <= latency_ms < math.inf:
            latency_ms = min(latency_ms, LATENCY_CAP_MS)
            samples = self._samples
            if len(samples) < BUCKET_SAMPLE_CAP:
                samples.append(latency_ms)
            else:
                # Overwrite in turn, so the kept latencies spread over the whole bucket.
                samples[self._checks % BUCKET_SAMPLE_CAP] = latency_ms
        return self._verdict is not before

    def _fresh(self) -> _State:
        return _State(_LatencyBaseline(self._policy.baseline_buckets))

    def _close(self) -> None:
        """Judge the open bucket, move the hysteresis, feed the baselines, reset the bucket."""
        policy, state = self._policy, self._state
        samples = self._samples
        log_latency = None
        median = 0.0
        if len(samples) >= policy.min_latency_samples:
            median = statistics.median(samples)
            log_latency = math.log(max(median, LATENCY_EPSILON_MS))
        closed = _Closed(log_latency, self._checks, self._failures)
        state.recent.append(closed)
        self._checks = self._failures = 0
        self._samples = []

        latency_anomalous = self._judge_latency(log_latency, median)
        errors_anomalous = self._judge_errors()
        if latency_anomalous or errors_anomalous or state.latency.active or state.errors.active:
            for bucket in state.recent:
                bucket.tainted = True
        raised = (state.latency.active, state.errors.active)
        self._step(state.latency, latency_anomalous)
        self._step(state.errors, errors_anomalous)
        if state.latency.active_buckets >= policy.relearn_after_buckets:
            state.latency = _Signal()
            state.latency_baseline = _LatencyBaseline(policy.baseline_buckets)
        if state.errors.active_buckets >= policy.relearn_after_buckets:
            state.errors = _Signal()
            state.error_baseline = _ErrorBaseline()

        while len(state.recent) > self._queue:
            old = state.recent.popleft()
            if old.tainted:
                continue
            if old.log_latency is not None:
                state.latency_baseline.add(old.log_latency)
            state.error_baseline.add(old.checks, old.failures, self._keep)
        if (state.latency.active, state.errors.active) != raised:
            self._verdict = self._compose()

    def _judge_latency(self, log_latency: float | None, median: float) -> bool | None:
        """True/False: anomalous or not; None: nothing to judge yet."""
        policy = self._policy
        baseline = self._state.latency_baseline
        if log_latency is None or len(baseline.values) < policy.min_baseline_buckets:
            return None
        baseline.fit(policy.latency_floor_fraction, policy.latency_floor_ms)
        excess = log_latency - baseline.center
        if excess <= baseline.scale * policy.latency_z or excess < self._min_log_ratio:
            return False
        self._state.latency.detail = (
            f"latency median {format_ms(median)} against a usual"
            f" {format_ms(math.exp(baseline.center))}"
        )
        return True

    def _judge_errors(self) -> bool | None:
        policy, state = self._policy, self._state
        baseline = state.error_baseline
        if baseline.buckets < policy.min_baseline_buckets:
            return None
        pooled = list(state.recent)[-policy.error_window_buckets :]
        checks = sum(b.checks for b in pooled)
        failures = sum(b.failures for b in pooled)
        usual = max(policy.error_rate_floor, baseline.failures / baseline.checks)
        if (
            failures < policy.error_min_rate * checks
            or failures <= usual * checks
            or binomial_tail(failures, checks, usual) > policy.error_p_value
        ):
            return False
        state.errors.detail = (
            f"{failures} of the last {checks} checks failed against a usual"
            f" {format_rate(baseline.failures / baseline.checks)}"
        )
        return True

    def _step(self, signal: _Signal, anomalous: bool | None) -> None:
        """Move one signal's hysteresis by one bucket (None: nothing judged, nothing moves)."""
        if anomalous is None:
            return
        if anomalous:
            signal.anomalous_run += 1
            signal.normal_run = 0
            if signal.anomalous_run >= self._policy.raise_after:
                signal.active = True
        else:
            signal.normal_run += 1
            signal.anomalous_run = 0
            if signal.normal_run >= self._policy.clear_after:
                signal.active = False
        # How long the signal has been raised, towards taking its level as the new normal.
        signal.active_buckets = signal.active_buckets + 1 if signal.active else 0

    def _compose(self) -> AnomalyVerdict:
        state = self._state
        signals = ((LATENCY, state.latency), (ERRORS, state.errors))
        raised = [(name, signal.detail) for name, signal in signals if signal.active]
        if not raised:
            return NORMAL
        return AnomalyVerdict(
            active=True,
            signals=tuple(name for name, _ in raised),
            message="; ".join(detail for _, detail in raised),
        )
