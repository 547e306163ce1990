"""Benchmark: anomaly detection on check series (core/anomaly.py), precision and recall.

Synthetic services (anomaly_traces.py: 3 days each, a check every 10 s, noise, slow checks
and failure blips that are not anomalies, and labelled anomalies of four kinds) are fed
check by check to an ``AnomalyDetector`` with the default policy. Scoring is by event:

- an *episode* is the span from a raised verdict to its clearing (or the end of the trace);
- an episode is a true positive if it overlaps a labelled window extended by
  ``GRACE_SECONDS`` past its end, since a bucket is judged only once it has closed and a
  signal is raised only after a few anomalous buckets; otherwise it is a false positive;
- a labelled window is detected if any episode overlaps it (extended the same way); its
  detection delay is from the window's start to the first such episode's start.

precision = true-positive episodes / all episodes; recall = detected windows / all windows.

The policy's defaults were tuned with ``tune()`` on TUNE_SEEDS only; ``run()`` evaluates on
EVAL_SEEDS, a disjoint set, so the figures are not fitted to the traces they report on.

Run alone: ``python tests/bench/bench_anomaly.py`` (prints the section; ``--tune`` runs the
grid search on the tuning seeds instead).
"""

from __future__ import annotations

import dataclasses
import itertools
import statistics
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from anomaly_traces import KINDS, Trace, generate
from support import met, percentile

from orchestration_engine.core.anomaly import AnomalyDetector, AnomalyPolicy

TUNE_SEEDS = range(0, 10)
EVAL_SEEDS = range(1000, 1020)
GRACE_SECONDS = 300.0
DAYS = 3.0
PERIOD_SECONDS = 10.0


@dataclass
class KindResults:
    windows: int = 0
    detected: int = 0
    delays_min: list[float] = field(default_factory=list)


@dataclass
class AnomalyResults:
    policy: AnomalyPolicy
    seeds: Sequence[int]
    checks: int = 0
    windows: int = 0
    detected: int = 0
    episodes: int = 0
    true_episodes: int = 0
    delays_min: list[float] = field(default_factory=list)
    per_kind: dict[str, KindResults] = field(default_factory=dict)
    detector_us_per_check: float = 0.0

    @property
    def precision(self) -> float:
        return self.true_episodes / self.episodes if self.episodes else 1.0

    @property
    def recall(self) -> float:
        return self.detected / self.windows if self.windows else 1.0


def episodes(trace: Trace, policy: AnomalyPolicy) -> list[tuple[float, float]]:
    """Raised-verdict spans [raised, cleared) over one trace."""
    detector = AnomalyDetector(policy)
    spans: list[tuple[float, float]] = []
    raised_at: float | None = None
    observe = detector.observe
    for at, ok, latency in zip(trace.times, trace.ok, trace.latency_ms, strict=True):
        if observe(at, ok, latency):
            if detector.verdict.active and raised_at is None:
                raised_at = at
            elif not detector.verdict.active and raised_at is not None:
                spans.append((raised_at, at))
                raised_at = None
    if raised_at is not None:
        spans.append((raised_at, trace.times[-1]))
    return spans


def score(
    traces: Iterable[Trace], policy: AnomalyPolicy, seeds: Sequence[int] = ()
) -> AnomalyResults:
    results = AnomalyResults(policy, seeds, per_kind={kind: KindResults() for kind in KINDS})
    detector_seconds = 0.0
    for trace in traces:
        started = time.perf_counter()
        spans = episodes(trace, policy)
        detector_seconds += time.perf_counter() - started
        results.checks += len(trace.times)
        windows = [(a, a.start, a.end + GRACE_SECONDS) for a in trace.anomalies]
        results.episodes += len(spans)
        results.true_episodes += sum(
            any(start < end and begin < stop for _, begin, end in windows) for start, stop in spans
        )
        for anomaly, begin, end in windows:
            kind = results.per_kind[anomaly.kind]
            results.windows += 1
            kind.windows += 1
            hits = [start for start, stop in spans if start < end and begin < stop]
            if hits:
                delay = max(0.0, min(hits) - begin) / 60
                results.detected += 1
                results.delays_min.append(delay)
                kind.detected += 1
                kind.delays_min.append(delay)
    results.detector_us_per_check = 1e6 * detector_seconds / max(1, results.checks)
    return results


def traces(seeds: Iterable[int]) -> list[Trace]:
    return [generate(seed, DAYS, PERIOD_SECONDS) for seed in seeds]


def run() -> AnomalyResults:
    return score(traces(EVAL_SEEDS), AnomalyPolicy.for_period(PERIOD_SECONDS), list(EVAL_SEEDS))


def tune(grid: dict[str, Sequence[Any]] | None = None) -> list[AnomalyResults]:
    """Grid search over policy fields on TUNE_SEEDS; prints every point, best last: by the
    lower of precision and recall, then fewer episodes (an anomaly split into several
    episodes is a flapping condition), then the shorter median delay."""
    grid = grid or {
        "latency_z": [3.0, 4.0, 5.0],
        "latency_min_ratio": [1.5, 2.0],
        "error_window_buckets": [3, 5],
        "error_min_rate": [0.05, 0.1],
        "raise_after": [2, 3],
        "clear_after": [3, 5],
    }
    tuning = traces(TUNE_SEEDS)
    base = AnomalyPolicy.for_period(PERIOD_SECONDS)
    points = []
    for values in itertools.product(*grid.values()):
        policy = dataclasses.replace(base, **dict(zip(grid, values, strict=True)))
        points.append(score(tuning, policy, list(TUNE_SEEDS)))

    def key(r: AnomalyResults) -> tuple[float, int, float]:
        delay = statistics.median(r.delays_min) if r.delays_min else float("inf")
        return round(min(r.precision, r.recall), 3), -r.episodes, -delay

    points.sort(key=key)
    for r in points:
        chosen = ", ".join(f"{name}={getattr(r.policy, name)}" for name in grid)
        delay = statistics.median(r.delays_min) if r.delays_min else float("nan")
        print(
            f"{chosen}: precision {r.precision:.3f} recall {r.recall:.3f}"
            f" ({r.episodes} episodes, {r.windows} windows) delay {delay:.1f} min"
        )
    return points


def delays(values: Sequence[float]) -> str:
    if not values:
        return "-"
    return f"{statistics.median(values):.1f} / {percentile(values, 95):.1f}"


def markdown(r: AnomalyResults) -> str:
    p = r.policy
    seeds = f"{min(r.seeds)}-{max(r.seeds)}" if r.seeds else "-"
    lines = [
        "## Anomaly detection",
        "",
        f"`core/anomaly.py` with its default policy, fed {len(r.seeds)} synthetic services check"
        f" by check ({DAYS:g} days each, a check every {PERIOD_SECONDS:g} s, {r.checks:,}"
        " checks; tests/bench/anomaly_traces.py): log-normal latency with a diurnal cycle, a"
        " slow wander and small lasting level changes, single slow checks and short failure"
        " blips, none of them anomalies; and labelled latency level shifts, ramps, spikes and"
        " error bursts. An episode (raised to cleared) is a true positive if it overlaps a"
        f" labelled window extended by {GRACE_SECONDS / 60:g} min past its end; a window is"
        " detected if an episode overlaps it, and its delay runs from its start to that"
        " episode's.",
        "",
        "| traces | labelled anomalies | episodes | false episodes | precision (target ≥ 0.9) | recall (target ≥ 0.9) | met? | delay median / p95 min | detector µs/check |",
        "|---:|---:|---:|---:|---:|---:|---|---:|---:|",
        f"| {len(r.seeds)} | {r.windows} | {r.episodes} | {r.episodes - r.true_episodes}"
        f" | {r.precision:.3f} | {r.recall:.3f} | {met(r.precision >= 0.9 and r.recall >= 0.9)}"
        f" | {delays(r.delays_min)} | {r.detector_us_per_check:.1f} |",
        "",
        "| kind | labelled | detected | recall | delay median / p95 min |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, kind in r.per_kind.items():
        recall = kind.detected / kind.windows if kind.windows else float("nan")
        lines.append(
            f"| {name.replace('_', ' ')} | {kind.windows} | {kind.detected} | {recall:.3f}"
            f" | {delays(kind.delays_min)} |"
        )
    lines += [
        "",
        f"Method: {p.bucket_seconds:g} s buckets; a bucket's latency is the median of its"
        " checks, judged in log space by a robust z-score against the median and MAD of the"
        f" last {p.baseline_buckets} normal buckets (z > {p.latency_z:g} and at least"
        f" {p.latency_min_ratio:g}x the usual); its errors by a binomial tail over the last"
        f" {p.error_window_buckets} buckets against the usual failure rate (p <"
        f" {p.error_p_value:g}, the rate floored at {p.error_rate_floor:.0%}); raised after"
        f" {p.raise_after} anomalous buckets, cleared after {p.clear_after} normal ones. The"
        f" defaults were tuned on seeds {min(TUNE_SEEDS)}-{max(TUNE_SEEDS)}; these figures are"
        f" from seeds {seeds}, which the tuning never saw.",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    if "--tune" in sys.argv[1:]:
        tune()
    else:
        print(markdown(run()))
    sys.exit(0)
