"""Labelled synthetic check traces for the anomaly-detection benchmark (bench_anomaly.py).

One trace is one service checked every ``period_seconds`` for a few days, as the monitor
sees it: (time, ok, latency_ms), latency None when the check failed. A seed fixes
everything, so a trace is the same on every machine and every run.

What is *normal* (never labelled), drawn per service:

- latency log-normal around a median of 3 to 300 ms, per-check sigma 0.1 to 0.4 (log space);
- a diurnal cycle of ±10 to 50 % and a slow wander (an AR(1) level with a 2 h time constant);
- single slow checks, 5 to 50 times the usual latency, on 0.2 to 1 % of checks;
- failures at a base rate of 0.1 to 1 %, plus about once a day a blip of 2 or 3 failures in a
  row (a pod restarting behind the service);
- about once a day a lasting change of the latency level by up to 1.3x either way (a
  deployment), the new level being the new normal;
- checks slower than the 5 s probe timeout fail, as the probe would report them.

What is *anomalous*, each a labelled window [start, end) at least 2 h from the next and
4 h after the trace starts (so every detector has had time to learn the service):

- ``level_shift``: latency 2x to 6x for 15 to 120 minutes;
- ``ramp``: latency climbing steadily from 1x to 3x..10x over 20 to 60 minutes, then back;
- ``spike``: latency 4x to 30x for 3 to 10 minutes;
- ``error_burst``: 15 to 100 % of checks failing for 5 to 30 minutes.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field

KINDS = ("level_shift", "ramp", "spike", "error_burst")
DAY = 86_400.0
TIMEOUT_MS = 5_000.0
# Traces start on a fixed epoch plus a random offset, so bucket boundaries fall anywhere.
EPOCH = 1_767_225_600.0
WARMUP_SECONDS = 4 * 3600.0
MIN_SPACING_SECONDS = 2 * 3600.0
MAX_SPACING_SECONDS = 6 * 3600.0
WANDER_SIGMA = 0.08
WANDER_TIME_CONSTANT = 2 * 3600.0
BLIPS_PER_DAY = 1.0
DEPLOYS_PER_DAY = 1.0
DEPLOY_MAX_FACTOR = 1.3


@dataclass(frozen=True, slots=True)
class Anomaly:
    kind: str
    start: float
    end: float
    magnitude: float  # latency factor (at the peak, for a ramp) or share of checks failing


@dataclass(slots=True)
class Trace:
    seed: int
    period_seconds: float
    base_latency_ms: float
    base_error_rate: float
    times: list[float] = field(default_factory=list)
    ok: list[bool] = field(default_factory=list)
    latency_ms: list[float | None] = field(default_factory=list)
    anomalies: list[Anomaly] = field(default_factory=list)


def log_uniform(rng: random.Random, low: float, high: float) -> float:
    return math.exp(rng.uniform(math.log(low), math.log(high)))


def schedule(rng: random.Random, start: float, end: float) -> list[Anomaly]:
    anomalies: list[Anomaly] = []
    cursor = start + WARMUP_SECONDS
    while True:
        kind = rng.choice(KINDS)
        if kind == "level_shift":
            minutes, magnitude = rng.uniform(15, 120), log_uniform(rng, 2, 6)
        elif kind == "ramp":
            minutes, magnitude = rng.uniform(20, 60), log_uniform(rng, 3, 10)
        elif kind == "spike":
            minutes, magnitude = rng.uniform(3, 10), log_uniform(rng, 4, 30)
        else:
            minutes, magnitude = rng.uniform(5, 30), rng.uniform(0.15, 1.0)
        if cursor + 60 * minutes + MIN_SPACING_SECONDS > end:
            return anomalies
        anomalies.append(Anomaly(kind, cursor, cursor + 60 * minutes, magnitude))
        cursor += 60 * minutes + rng.uniform(MIN_SPACING_SECONDS, MAX_SPACING_SECONDS)


def effect(anomaly: Anomaly | None, at: float) -> tuple[float, float]:
    """(log latency factor, failure probability) that an anomaly adds at a moment."""
    if anomaly is None:
        return 0.0, 0.0
    if anomaly.kind == "error_burst":
        return 0.0, anomaly.magnitude
    factor = math.log(anomaly.magnitude)
    if anomaly.kind == "ramp":
        factor *= (at - anomaly.start) / (anomaly.end - anomaly.start)
    return factor, 0.0


def generate(seed: int, days: float = 3.0, period_seconds: float = 10.0) -> Trace:
    rng = random.Random(seed)  # noqa: S311 - seeded for reproducible traces
    start = EPOCH + rng.uniform(0, DAY)
    end = start + days * DAY
    trace = Trace(
        seed=seed,
        period_seconds=period_seconds,
        base_latency_ms=log_uniform(rng, 3, 300),
        base_error_rate=log_uniform(rng, 0.001, 0.01),
    )
    sigma = rng.uniform(0.1, 0.4)
    diurnal = math.log1p(rng.uniform(0.1, 0.5))
    phase = rng.uniform(0, 2 * math.pi)
    outlier_rate = rng.uniform(0.002, 0.01)
    blip_rate = BLIPS_PER_DAY * period_seconds / DAY
    deploy_rate = DEPLOYS_PER_DAY * period_seconds / DAY
    persistence = math.exp(-period_seconds / WANDER_TIME_CONSTANT)
    innovation = WANDER_SIGMA * math.sqrt(1 - persistence**2)
    trace.anomalies = schedule(rng, start, end)

    log_base = math.log(trace.base_latency_ms)
    wander = deployed = 0.0
    blip_left = 0
    upcoming = iter(trace.anomalies)
    current = next(upcoming, None)
    count = int(days * DAY / period_seconds)
    times, oks, latencies = trace.times, trace.ok, trace.latency_ms
    for i in range(count):
        at = start + i * period_seconds + rng.uniform(0, 0.2 * period_seconds)
        while current is not None and at >= current.end:
            current = next(upcoming, None)
        active = current if current is not None and at >= current.start else None
        shift, failing = effect(active, at)
        wander = wander * persistence + rng.gauss(0, innovation)
        if blip_left == 0 and rng.random() < blip_rate:
            blip_left = rng.choice((2, 3))
        if rng.random() < deploy_rate:
            deployed += rng.uniform(-1, 1) * math.log(DEPLOY_MAX_FACTOR)
        cycle = diurnal * math.sin(2 * math.pi * at / DAY + phase)
        level = log_base + cycle + wander + deployed + shift
        latency = math.exp(level + rng.gauss(0, sigma))
        if rng.random() < outlier_rate:
            latency *= log_uniform(rng, 5, 50)
        ok = rng.random() >= max(trace.base_error_rate, failing) and latency < TIMEOUT_MS
        if blip_left:
            blip_left -= 1
            ok = False
        times.append(at)
        oks.append(ok)
        latencies.append(round(latency, 3) if ok else None)
    return trace
