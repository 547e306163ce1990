"""Benchmark: predictive against reactive scaling (issue: Predictive scaling), simulated.

Every run replays the same seeded load trace (scaling_trace.py: seven days from a Monday, one
value a minute) through the operator's own decision code, ``core.scaling.decide``; predictive
runs also feed it a forecast (``core.forecast.forecast_peak``, or Holt-Winters for
comparison). The service is simulated:

- A replica serves ``CAPACITY_RPS``; the latency at utilisation ``rho = load / (ready *
  CAPACITY_RPS)`` is ``BASE_MS / (1 - min(rho, 0.97))`` (an M/M/1 queue's response time).
  With the 100 ms target that is rho 0.75 at the target, 0.5 at half of it (where the latency
  signal scales in) and 0.83 at the 150 ms SLA.
- The operator checks every 10 s and sees that latency with lognormal noise (sigma 0.1). Each
  check is a scaling round, as controllers/services/autoscaler.py does it: p95 of the samples of the
  last minute since the last scaling, ``decide`` with the replicas asked for as ``current``,
  the recommendation kept for the stabilization windows (minReplicas 2, maxReplicas 40, the
  default 0 s up and 300 s down).
- A new replica is ready ``STARTUP_S`` (3 min) after it is asked for: the delay a forecast
  can beat. Scaling in is immediate, replicas still starting first.
- A minute violates the SLA when its mean latency (noise-free) is above ``SLA_MS``; a minute
  costs the replicas *asked for* (a starting pod holds its resources): replica-minutes.
- Predictive: at the end of each 5-minute bucket the observed demand, ``latency_demand(ready,
  p95 of the bucket's checks, target)``, goes into a ``DemandHistory``, and the forecast peak
  over the horizon is ``Signals.forecast_demand`` until the next bucket, times
  ``ScalingPolicy.forecast_headroom``.

Days 1-3 are history only: every run scales reactively on them (the predictive ones recording
demand; they are simulated once and forked), and all are scored on days 4-7, Thursday to
Sunday. The forecaster's quantile, level correction, headroom and horizon are chosen on the
TUNE seeds and reported on the disjoint EVAL seeds; so are Holt-Winters' headroom and the
lowered latency target of the "same budget" reactive row. Holt-Winters (statsmodels, if
installed) fits its parameters once a day and reruns the filter with them at every bucket,
since a fit takes a good part of a second; it runs on fewer seeds to keep the section short.
"""

from __future__ import annotations

import copy
import importlib
import importlib.util
import itertools
import math
import random
import sys
import time
import warnings
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from scaling_trace import MINUTES_PER_DAY, generate  # noqa: E402

from orchestration_engine.core import forecast  # noqa: E402
from orchestration_engine.core.forecast import SEASON_S, DemandHistory, forecast_peak  # noqa: E402
from orchestration_engine.core.scaling import (  # noqa: E402
    Recommendation,
    ScalingPolicy,
    Signals,
    decide,
    latency_demand,
    percentile,
    prune,
)

CHECK_S = 10
STARTUP_S = 180
CAPACITY_RPS = 10.0
BASE_MS = 25.0
RHO_CAP = 0.97
LATENCY_NOISE = 0.1
SLA_MS = 150.0
TARGET_MS = 100.0
WINDOW_SAMPLES = 6  # the autoscaler's window: max(60 s, 6 check periods)
BUCKET_S = 300
DAYS = 7
HISTORY_DAYS = 3
POLICY = ScalingPolicy(min_replicas=2, max_replicas=40, target_latency_ms=TARGET_MS)
# Monday 2026-01-05 00:00 UTC, the trace's first minute: buckets fall on the time of day.
EPOCH = 1_767_571_200.0

TUNE_SEEDS = (1, 2, 3)
EVAL_SEEDS = (101, 102, 103, 104, 105)
HOLT_WINTERS_TUNE_SEEDS = TUNE_SEEDS[:2]
HOLT_WINTERS_EVAL_SEEDS = EVAL_SEEDS[:2]
QUANTILES = (0.5, 0.7, 0.8, 0.9)
HEADROOMS = (0.9, 1.0, 1.1)
HORIZONS_S = (600.0, 1200.0)
LEVELS = (True, False)
HOLT_WINTERS_HEADROOMS = (0.5, 0.7, 0.9)
LOWER_TARGETS_MS = (95.0, 92.5, 90.0, 87.5, 85.0)
# The target: at most this share of reactive's SLA minutes, at most this much of its cost.
SLA_TARGET = 0.70
REPLICA_TARGET = 1.10
# Tuning keeps two points below the +10 %: a choice at the edge of the budget on the tuning
# seeds lands over it on others about half the time.
TUNING_BUDGET = 1.08


@dataclass(frozen=True, slots=True)
class Run:
    """One way of scaling: reactive at a latency target, or with a forecaster on top."""

    forecaster: str = "none"  # "none", "seasonal" or "holt-winters"
    target_ms: float = TARGET_MS
    quantile: float = forecast.QUANTILE
    level: bool = forecast.LEVEL
    headroom: float = 1.0
    horizon_s: float = 600.0

    def label(self) -> str:
        if self.forecaster == "seasonal":
            return (
                f"quantile {self.quantile:g}, level correction {'on' if self.level else 'off'},"
                f" headroom {self.headroom:g}, horizon {self.horizon_s / 60:g} min"
            )
        if self.forecaster == "holt-winters":
            return f"headroom {self.headroom:g}, horizon {self.horizon_s / 60:g} min"
        return f"target {self.target_ms:g} ms"


REACTIVE = Run()


@dataclass(slots=True)
class Outcome:
    sla_minutes: int = 0
    sla_minutes_in_spikes: int = 0
    replica_minutes: float = 0.0
    actions: int = 0
    forecasts: int = 0
    forecast_cpu_s: float = 0.0

    def __add__(self, other: Outcome) -> Outcome:
        return Outcome(
            self.sla_minutes + other.sla_minutes,
            self.sla_minutes_in_spikes + other.sla_minutes_in_spikes,
            self.replica_minutes + other.replica_minutes,
            self.actions + other.actions,
            self.forecasts + other.forecasts,
            self.forecast_cpu_s + other.forecast_cpu_s,
        )


Forecaster = Callable[[DemandHistory, float], float | None]


@dataclass
class Simulation:
    """One service under one scaling policy, advanced a check at a time."""

    load: list[float]
    spiking: list[bool]
    seed: int
    policy: ScalingPolicy = POLICY
    t: int = 0
    requested: int = POLICY.min_replicas
    starting: deque[int] = field(default_factory=deque)  # when each starting replica is ready
    window: deque[float] = field(default_factory=lambda: deque(maxlen=WINDOW_SAMPLES))
    bucket: list[float] = field(default_factory=list)
    recommendations: list[Recommendation] = field(default_factory=list)
    history: DemandHistory = field(default_factory=lambda: DemandHistory(step_s=BUCKET_S))
    forecast: float | None = None
    minute_latency: float = 0.0
    score_from_s: int = HISTORY_DAYS * MINUTES_PER_DAY * 60
    outcome: Outcome = field(default_factory=Outcome)
    chance: random.Random = field(init=False)

    def __post_init__(self) -> None:
        self.chance = random.Random(self.seed)  # noqa: S311

    def run(self, until_s: int, forecaster: Forecaster | None = None) -> None:
        policy = self.policy
        target = policy.target_latency_ms
        assert target is not None
        ticks_per_minute = 60 // CHECK_S
        while self.t < until_s:
            t = self.t
            while self.starting and self.starting[0] <= t:
                self.starting.popleft()
            ready = self.requested - len(self.starting)
            minute = t // 60
            rho = self.load[minute] / (ready * CAPACITY_RPS) if ready > 0 else math.inf
            latency = BASE_MS / (1 - min(rho, RHO_CAP))
            # One draw a check whatever happens, so forked runs see the same noise.
            seen = latency * self.chance.lognormvariate(0.0, LATENCY_NOISE)
            self.window.append(seen)
            self.bucket.append(seen)
            scored = t >= self.score_from_s
            self.minute_latency += latency
            if t % 60 == 60 - CHECK_S:
                if scored and self.minute_latency / ticks_per_minute > SLA_MS:
                    self.outcome.sla_minutes += 1
                    self.outcome.sla_minutes_in_spikes += self.spiking[minute]
                self.minute_latency = 0.0
            now = EPOCH + t
            if t % BUCKET_S == BUCKET_S - CHECK_S:
                p95 = percentile(self.bucket)
                assert p95 is not None
                self.history.add(now, latency_demand(ready, p95, target))
                self.bucket.clear()
                if forecaster is not None:
                    started = time.process_time()
                    self.forecast = forecaster(self.history, now)
                    self.outcome.forecast_cpu_s += time.process_time() - started
                    self.outcome.forecasts += 1
            signals = Signals(
                p95_latency_ms=percentile(self.window),
                samples=len(self.window),
                forecast_demand=self.forecast if forecaster is not None else None,
            )
            decision = decide(self.requested, signals, self.recommendations, now, policy)
            self.recommendations.append(Recommendation(now, decision.recommended))
            self.recommendations = prune(self.recommendations, now, policy)
            if decision.changes:
                self._scale(decision.desired, t)
                if scored:
                    self.outcome.actions += 1
            if scored:
                self.outcome.replica_minutes += self.requested * CHECK_S / 60
            self.t = t + CHECK_S

    def _scale(self, desired: int, t: int) -> None:
        if desired > self.requested:
            self.starting.extend([t + STARTUP_S] * (desired - self.requested))
        else:
            for _ in range(self.requested - desired):
                if self.starting:
                    self.starting.pop()  # the newest, least far along, goes first
        self.requested = desired
        # The samples before a scaling describe the old size.
        self.window.clear()


class HoltWinters:
    """statsmodels' ExponentialSmoothing: additive season of a day, no trend."""

    def __init__(self, horizon_s: float) -> None:
        self.horizon_s = horizon_s
        self.params: dict[str, float] = {}
        self.fitted_day: int | None = None

    def __call__(self, history: DemandHistory, now: float) -> float | None:
        holtwinters = importlib.import_module("statsmodels.tsa.holtwinters")
        per_day = round(SEASON_S / history.step_s)
        series: list[float] = []
        last = 0.0
        for value in history.values():
            last = value if value is not None else last  # the filter takes no gaps
            series.append(last)
        if len(series) < 2 * per_day:
            return None
        model = holtwinters.ExponentialSmoothing(
            series,
            trend=None,
            seasonal="add",
            seasonal_periods=per_day,
            initialization_method="heuristic",
        )
        day = int(now // SEASON_S)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if self.fitted_day != day:
                fitted = model.fit()
                self.params = {
                    "smoothing_level": float(fitted.params["smoothing_level"]),
                    "smoothing_seasonal": float(fitted.params["smoothing_seasonal"]),
                }
                self.fitted_day = day
            else:
                fitted = model.fit(optimized=False, **self.params)
        steps = max(1, math.ceil(self.horizon_s / history.step_s))
        return max(0.0, *(float(value) for value in fitted.forecast(steps)))


def holt_winters_available() -> bool:
    return importlib.util.find_spec("statsmodels") is not None


def _forecaster(run: Run) -> Forecaster | None:
    if run.forecaster == "seasonal":

        def seasonal(history: DemandHistory, now: float) -> float | None:
            return forecast_peak(
                history, now, run.horizon_s, quantile=run.quantile, level=run.level
            )

        return seasonal
    if run.forecaster == "holt-winters":
        return HoltWinters(run.horizon_s)
    return None


def run_seed(seed: int, runs: Sequence[Run]) -> tuple[int, dict[Run, Outcome]]:
    """The shared three days of history once, then each run from there to day 7."""
    load, spiking = generate(seed, DAYS)
    prefix = Simulation(load, spiking, seed)
    prefix.run(HISTORY_DAYS * MINUTES_PER_DAY * 60)
    outcomes: dict[Run, Outcome] = {}
    for run in runs:
        sim = copy.deepcopy(prefix)
        sim.policy = replace(
            POLICY, target_latency_ms=run.target_ms, forecast_headroom=run.headroom
        )
        sim.run(DAYS * MINUTES_PER_DAY * 60, _forecaster(run))
        outcomes[run] = sim.outcome
    return seed, outcomes


Results = dict[int, dict[Run, Outcome]]


def _run_all(jobs: Sequence[tuple[int, Sequence[Run]]]) -> Results:
    results: Results = {}
    # Seeds and runs are independent: two processes for the two cores the benchmarks assume.
    with ProcessPoolExecutor(max_workers=2) as pool:
        futures = [pool.submit(run_seed, seed, runs) for seed, runs in jobs]
        for future in futures:
            seed, outcomes = future.result()
            results.setdefault(seed, {}).update(outcomes)
    return results


def total(results: Results, run: Run, seeds: Sequence[int]) -> Outcome:
    summed = Outcome()
    for seed in seeds:
        summed = summed + results[seed][run]
    return summed


def choose(results: Results, candidates: Sequence[Run], seeds: Sequence[int]) -> Run:
    """Fewest SLA minutes within the tuning budget, then the cheapest; none within: cheapest."""
    budget = total(results, REACTIVE, seeds).replica_minutes * TUNING_BUDGET
    totals = {run: total(results, run, seeds) for run in candidates}
    within = [run for run in candidates if totals[run].replica_minutes <= budget]
    if within:
        return min(within, key=lambda r: (totals[r].sla_minutes, totals[r].replica_minutes))
    return min(candidates, key=lambda r: totals[r].replica_minutes)


def _lowest_target_within(results: Results, cost: float, seeds: Sequence[int]) -> Run:
    """The reactive run with the lowest target that costs no more than ``cost``."""
    within = [
        run
        for run in (replace(REACTIVE, target_ms=t) for t in LOWER_TARGETS_MS)
        if total(results, run, seeds).replica_minutes <= cost
    ]
    return min(within, key=lambda r: r.target_ms) if within else REACTIVE


@dataclass
class ScalingResults:
    chosen: Run
    same_budget: Run
    holt_winters: Run | None
    tuning: Results
    evaluation: Results
    wall_s: float

    def tuned(self, run: Run) -> Outcome:
        return total(self.tuning, run, TUNE_SEEDS)


def run() -> ScalingResults:
    started = time.monotonic()
    seasonal = [
        Run("seasonal", quantile=q, level=level, headroom=h, horizon_s=z)
        for q, level, h, z in itertools.product(QUANTILES, LEVELS, HEADROOMS, HORIZONS_S)
    ]
    lower = [replace(REACTIVE, target_ms=t) for t in LOWER_TARGETS_MS]
    with_hw = holt_winters_available()
    hw_candidates = (
        [Run("holt-winters", headroom=h) for h in HOLT_WINTERS_HEADROOMS] if with_hw else []
    )
    # Holt-Winters runs are the slow ones: one a job, so both processes share them.
    tuning = _run_all(
        [(seed, [REACTIVE, *lower, *seasonal]) for seed in TUNE_SEEDS]
        + [(seed, [run]) for seed in HOLT_WINTERS_TUNE_SEEDS for run in hw_candidates]
    )
    chosen = choose(tuning, seasonal, TUNE_SEEDS)
    same_budget = _lowest_target_within(
        tuning, total(tuning, chosen, TUNE_SEEDS).replica_minutes, TUNE_SEEDS
    )
    hw = choose(tuning, hw_candidates, HOLT_WINTERS_TUNE_SEEDS) if hw_candidates else None
    evaluation = _run_all(
        [(seed, [REACTIVE, chosen, same_budget]) for seed in EVAL_SEEDS]
        + ([(seed, [hw]) for seed in HOLT_WINTERS_EVAL_SEEDS] if hw is not None else [])
    )
    return ScalingResults(chosen, same_budget, hw, tuning, evaluation, time.monotonic() - started)


def _change(new: float, old: float) -> str:
    return f"{(new - old) / old * 100:+.0f} %" if old else "n/a"


def _spread(results: Results, run: Run, seeds: Sequence[int]) -> str:
    """Per-seed range of the change against reactive."""
    sla, cost = [], []
    for seed in seeds:
        ours, base = results[seed][run], results[seed][REACTIVE]
        sla.append((ours.sla_minutes - base.sla_minutes) / max(base.sla_minutes, 1) * 100)
        cost.append((ours.replica_minutes - base.replica_minutes) / base.replica_minutes * 100)
    return f"{min(sla):+.0f} to {max(sla):+.0f} %; {min(cost):+.0f} to {max(cost):+.0f} %"


def _row(name: str, results: Results, run: Run, seeds: Sequence[int]) -> str:
    ours, base = total(results, run, seeds), total(results, REACTIVE, seeds)
    per_forecast = f"{ours.forecast_cpu_s / ours.forecasts * 1e3:.2f} ms" if ours.forecasts else "-"
    spread = _spread(results, run, seeds) if run != REACTIVE else "-"
    return (
        f"| {name} | {len(seeds)} | {ours.sla_minutes}"
        f" ({_change(ours.sla_minutes, base.sla_minutes) if run != REACTIVE else '-'})"
        f" | {ours.sla_minutes_in_spikes} | {ours.replica_minutes:,.0f}"
        f" ({_change(ours.replica_minutes, base.replica_minutes) if run != REACTIVE else '-'})"
        f" | {ours.actions} | {per_forecast} | {spread} |"
    )


def markdown(results: ScalingResults) -> str:
    chosen, evaluation = results.chosen, results.evaluation
    reactive = total(evaluation, REACTIVE, EVAL_SEEDS)
    predictive = total(evaluation, chosen, EVAL_SEEDS)
    met = (
        predictive.sla_minutes <= SLA_TARGET * reactive.sla_minutes
        and predictive.replica_minutes <= REPLICA_TARGET * reactive.replica_minutes
    )
    tuned_reactive, tuned = results.tuned(REACTIVE), results.tuned(chosen)
    defaults_tuned = (chosen.quantile, chosen.level) == (forecast.QUANTILE, forecast.LEVEL)
    header = [
        "| scaling | seeds | minutes over SLA (vs reactive) | of them in spikes | replica-minutes (vs reactive) | scaling actions | CPU per forecast | per seed: SLA minutes; replica-minutes |",
        "|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    lines = [
        "## Predictive scaling",
        "",
        "Simulated (tests/bench/bench_scaling.py; the model is in its docstring): seven days of"
        " a seeded load trace (quiet nights, a steep rise at about 08:30, midday and evening"
        " peaks, a quieter weekend, autocorrelated noise, 2-4 unannounced spikes a day of"
        " 10-30 min and +50-150 %) replayed through `core.scaling.decide`: checks every 10 s,"
        f" replicas ready {STARTUP_S // 60} min after being asked for, {CAPACITY_RPS:g} req/s a"
        f" replica, latency {BASE_MS:g} ms / (1 - utilisation), target {TARGET_MS:g} ms, SLA"
        f" {SLA_MS:g} ms, minReplicas 2, maxReplicas 40, default stabilization. Days 1-3 are"
        " history only; days 4-7 (Thursday to Sunday) are scored. Replica-minutes count the"
        " replicas asked for. Target: at least 30 % fewer minutes over the SLA for at most"
        " 10 % more replica-minutes than reactive.",
        "",
        f"Evaluation seeds {', '.join(map(str, EVAL_SEEDS))}:",
        "",
        *header,
        _row(f"reactive ({REACTIVE.label()})", evaluation, REACTIVE, EVAL_SEEDS),
        _row("predictive: seasonal quantile", evaluation, chosen, EVAL_SEEDS),
        _row(
            f"reactive at the same budget ({results.same_budget.label()})",
            evaluation,
            results.same_budget,
            EVAL_SEEDS,
        ),
    ]
    hw = results.holt_winters
    if hw is not None:
        seeds = HOLT_WINTERS_EVAL_SEEDS
        lines += [
            "",
            f"Holt-Winters against the same on seeds {', '.join(map(str, seeds))}:",
            "",
            *header,
            _row("reactive", evaluation, REACTIVE, seeds),
            _row("predictive: seasonal quantile", evaluation, chosen, seeds),
            _row(f"predictive: Holt-Winters ({hw.label()})", evaluation, hw, seeds),
        ]
    lines += [
        "",
        "The forecast (core/forecast.py) takes, for each 5-minute bucket of the horizon, a"
        " quantile of the demand around the same time of day (± one bucket) over the past"
        " 7 days, optionally times the last hour's level against its seasonal median (clamped"
        " to 0.67-1.5), and its peak over the horizon; the headroom multiplies it. Tuned over"
        f" {len(QUANTILES) * len(LEVELS) * len(HEADROOMS) * len(HORIZONS_S)} combinations on"
        f" seeds {', '.join(map(str, TUNE_SEEDS))} (fewest SLA minutes within"
        f" {_change(TUNING_BUDGET, 1)} replica-minutes): **{chosen.label()}** (on those seeds"
        f" {tuned_reactive.sla_minutes} → {tuned.sla_minutes} SLA minutes,"
        f" {_change(tuned.replica_minutes, tuned_reactive.replica_minutes)} replica-minutes);"
        " the evaluation seeds are disjoint from the tuning seeds, and so are the same-budget"
        f" target and Holt-Winters' headroom. `core.forecast`'s defaults (quantile"
        f" {forecast.QUANTILE:g}, level correction {'on' if forecast.LEVEL else 'off'})"
        f" {'are' if defaults_tuned else 'are not'} the tuned values. Target"
        f" {'met' if met else 'not met'} on the evaluation seeds. Of reactive's"
        f" {reactive.sla_minutes} minutes over the SLA, {reactive.sla_minutes_in_spikes} fall"
        " in spikes, which no daily pattern foresees; the forecast leaves"
        f" {predictive.sla_minutes - predictive.sla_minutes_in_spikes} of the"
        f" {reactive.sla_minutes - reactive.sla_minutes_in_spikes} others (mostly the morning"
        " rise) and cuts into the spikes through the capacity a high quantile keeps where"
        " demand is usually high, which a lower latency target buys less efficiently (the"
        " same-budget row).",
    ]
    if hw is not None:
        budget = total(results.tuning, REACTIVE, HOLT_WINTERS_TUNE_SEEDS).replica_minutes
        hw_cost = total(results.tuning, hw, HOLT_WINTERS_TUNE_SEEDS).replica_minutes
        within = hw_cost <= budget * TUNING_BUDGET
        lines.append(
            "Holt-Winters (statsmodels `ExponentialSmoothing`, additive season of a day, no"
            " trend) fits its parameters once a day and reruns the filter at every bucket; the"
            " CPU per forecast includes the daily fit. Its headroom was chosen among"
            f" {', '.join(f'{h:g}' for h in HOLT_WINTERS_HEADROOMS)} on seeds"
            f" {', '.join(map(str, HOLT_WINTERS_TUNE_SEEDS))}"
            + (
                " within the same budget."
                if within
                else f" and none kept within the budget ({_change(hw_cost, budget)} at"
                f" {hw.headroom:g}). Its season is a mean, so it replays the demand read"
                " during a saturated spike (the proportional model reads many times the real"
                " need there) at that time every day; a quantile over days does not."
            )
        )
    else:
        lines.append("The Holt-Winters comparison was not run: statsmodels is not installed.")
    lines += ["", f"Wall time of this section: {results.wall_s:.0f} s.", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    print(markdown(run()))
