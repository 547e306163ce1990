"""Demand forecast for predictive scaling: pure, a demand history in → the expected peak out.

Demand is in replicas: what ``latency_demand`` (core/scaling.py) reads from each bucket's p95
latency. Services live the same day again and again, so the model is a daily season read off
the history itself, with nothing to fit:

- **Season.** For each bucket of the horizon, the values around the same time of day (one
  bucket either side) on each of the past ``SEASON_DAYS`` days, and their ``QUANTILE``. A
  spike is at most three values of one day among up to 21, so once the history holds six
  days or more it is not replayed (before that, the 0.8 quantile of a few days partly is);
  what most days do is. A high quantile rather than the median: it provisions for the busier
  days, and the capacity it keeps is what absorbs the spikes no forecast sees coming.
- **Level** (``level=True``; off by default). The last hour observed against its seasonal
  median, the ratio clamped to ``LEVEL_BOUNDS``: it follows a quieter weekend or a busier
  week within the hour, and, as a median over twelve buckets, ignores a short spike. Off by
  default because in the benchmark it gave back more minutes over the SLA than it saved in
  replicas (it lowers the forecast on weekends, where that spare capacity absorbed spikes);
  a service whose level shifts for days (growth, holidays) is where it earns its keep.
- **Peak.** The highest bucket of the horizon.

The defaults (``QUANTILE``, ``LEVEL``, with a 10-minute horizon and a headroom of 0.9 in the
caller) are the ones tests/bench/bench_scaling.py tuned on its tuning seeds. It also measures
Holt-Winters: its season is a mean, so it replays at the same time every day the demand read
during a past spike, and it costs a filter pass over the whole history per forecast.

Buckets are aligned on the epoch, so the bucket index modulo the buckets of a day is the time
of day (UTC); a bucket keeps the mean of its samples. The mean, not the max, because the
operator may sample a bucket once or several times: a max would grow with the number of
samples, and peaks are the forecast's job (quantile, the max over the horizon, headroom).
"""

from __future__ import annotations

import math
from array import array
from dataclasses import dataclass, field

SEASON_S = 86400.0
# A week: as many days as the history holds, so one odd day weighs a seventh.
SEASON_DAYS = 7
QUANTILE = 0.8
# What the autoscaler multiplies the forecast by (ScalingPolicy.forecast_headroom): tuned with
# the quantile in the benchmark (docs/benchmarks.md, Predictive scaling).
HEADROOM = 0.9
LEVEL_WINDOW_S = 3600.0
# Fewer observed buckets than this in the last hour and the level stays 1: two or three
# buckets are one event, not a level.
LEVEL_MIN_BUCKETS = 6
LEVEL_BOUNDS = (0.67, 1.5)
LEVEL = False
# Buckets either side of the same time of day that count too: a day's events come a few
# minutes early or late, and three values a day steady a high quantile over a few days.
NEIGHBOURS = 1
# More replicas than any cluster holds; keeps the float32 storage finite.
MAX_DEMAND = 1e9
_COUNT_MAX = 0xFFFF


def _bucket_index(at: float, step_s: float) -> int:
    return math.floor(at / step_s)


@dataclass
class DemandHistory:
    """Fixed-step series of demand (bucket means), oldest first, bounded (e.g. 7 days).

    Stored as float32 means (NaN: no sample) and uint16 sample counts: 6 bytes a bucket, so
    a week of 5-minute buckets is about 12 KiB.
    """

    step_s: float = 300.0
    capacity: int = 2016
    _means: array[float] = field(default_factory=lambda: array("f"), init=False, repr=False)
    _counts: array[int] = field(default_factory=lambda: array("H"), init=False, repr=False)
    _first: int = field(default=0, init=False, repr=False)  # bucket index of _means[0]

    def __post_init__(self) -> None:
        if not (self.step_s > 0 and math.isfinite(self.step_s)):
            raise ValueError(f"step_s must be a positive number of seconds, not {self.step_s}")
        if self.capacity < 1:
            raise ValueError(f"capacity must be at least 1, not {self.capacity}")
        per_day = SEASON_S / self.step_s
        if abs(per_day - round(per_day)) > 1e-9:
            raise ValueError(f"a day must be a whole number of {self.step_s:g} s steps")

    def add(self, at: float, demand: float) -> None:
        """Fold one sample into the bucket of ``at``: a later bucket opens (gaps in between
        stay empty), an earlier one still held is updated, one older than that is dropped."""
        if not (math.isfinite(at) and math.isfinite(demand)):
            return
        demand = min(max(demand, 0.0), MAX_DEMAND)
        index = _bucket_index(at, self.step_s)
        if not self._means:
            self._first = index
            self._append_empty(1)
        offset = index - self._first
        if offset < 0:
            return
        if offset >= len(self._means):
            missing = offset - len(self._means) + 1
            if missing >= self.capacity:
                # Nothing held would stay within the window: start over.
                del self._means[:], self._counts[:]
                self._first = index
                self._append_empty(1)
                offset = 0
            else:
                self._append_empty(missing)
                excess = len(self._means) - self.capacity
                if excess > 0:
                    del self._means[:excess], self._counts[:excess]
                    self._first += excess
                    offset -= excess
        count = self._counts[offset]
        if count == 0:
            self._means[offset] = demand
            self._counts[offset] = 1
        else:
            # Past the counter's range the newest sample weighs a little more: harmless.
            count = min(count + 1, _COUNT_MAX)
            mean = self._means[offset]
            self._means[offset] = mean + (demand - mean) / count
            self._counts[offset] = count

    def _append_empty(self, buckets: int) -> None:
        self._means.extend([math.nan] * buckets)
        self._counts.extend([0] * buckets)

    def values(self) -> list[float | None]:
        """Aligned buckets oldest → newest, None for gaps."""
        return [None if math.isnan(v) else v for v in self._means]

    @property
    def first_at(self) -> float | None:
        """Start of the oldest bucket held."""
        return self._first * self.step_s if self._means else None

    @property
    def last_at(self) -> float | None:
        """Start of the newest bucket held."""
        return (self._first + len(self._means) - 1) * self.step_s if self._means else None

    def at_index(self, index: int) -> float | None:
        """The mean of bucket ``index`` (``floor(at / step_s)``), None if empty or not held."""
        offset = index - self._first
        if offset < 0 or offset >= len(self._means):
            return None
        value = self._means[offset]
        return None if math.isnan(value) else value


def _quantile(values: list[float], q: float) -> float:
    """Linear interpolation between the closest ranks (values non-empty)."""
    ordered = sorted(values)
    rank = q * (len(ordered) - 1)
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def _seasonal(
    history: DemandHistory, index: int, per_day: int, days: int, q: float
) -> float | None:
    """The quantile of the values around the same time of day on the ``days`` days before."""
    past = [
        value
        for day in range(1, days + 1)
        for near in range(-NEIGHBOURS, NEIGHBOURS + 1)
        if (value := history.at_index(index - day * per_day + near)) is not None
    ]
    return _quantile(past, q) if past else None


def _level(history: DemandHistory, now_index: int, per_day: int, days: int) -> float:
    """Last hour observed against its seasonal median: the median, not the forecast's
    quantile, or a high quantile would be divided out again here."""
    span = max(1, round(LEVEL_WINDOW_S / history.step_s))
    observed: list[float] = []
    expected: list[float] = []
    for index in range(now_index - span + 1, now_index + 1):
        value = history.at_index(index)
        if value is None:
            continue
        seasonal = _seasonal(history, index, per_day, days, 0.5)
        if seasonal is None:
            continue
        observed.append(value)
        expected.append(seasonal)
    if len(observed) < min(LEVEL_MIN_BUCKETS, span):
        return 1.0
    baseline = _quantile(expected, 0.5)
    if baseline <= 0:
        return 1.0
    low, high = LEVEL_BOUNDS
    return min(high, max(low, _quantile(observed, 0.5) / baseline))


def forecast_peak(
    history: DemandHistory,
    now: float,
    horizon_s: float,
    *,
    quantile: float = QUANTILE,
    level: bool = LEVEL,
    days: int = SEASON_DAYS,
) -> float | None:
    """Peak demand expected in (now, now + horizon_s]; None until enough history (at least
    one season)."""
    first = history.first_at
    if first is None or not (math.isfinite(now) and math.isfinite(horizon_s)):
        return None
    if now - first < SEASON_S:
        return None
    per_day = round(SEASON_S / history.step_s)
    quantile = min(1.0, max(0.0, quantile))
    days = max(1, days)
    now_index = _bucket_index(now, history.step_s)
    # The bucket holding ``now`` is partly ahead, so it counts; a horizon past a day would
    # only reread the same days, so it is cut there.
    last_index = _bucket_index(now + min(max(horizon_s, 0.0), SEASON_S), history.step_s)
    peak: float | None = None
    for index in range(now_index, last_index + 1):
        seasonal = _seasonal(history, index, per_day, days, quantile)
        if seasonal is not None and (peak is None or seasonal > peak):
            peak = seasonal
    if peak is None:
        return None
    return peak * _level(history, now_index, per_day, days) if level else peak
