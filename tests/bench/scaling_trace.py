"""A replayed load trace for the scaling benchmark: seeded, plain data (requests/s a minute).

The shape a business-facing service sees: quiet nights, a steep rise when the working day
starts (the ramp a reactive autoscaler trails), a midday and an evening peak, a quieter
weekend without the morning rush. On top of that, three kinds of randomness a forecast has to
live with: the day's level and timing drift a little from day to day, the load is noisy minute
to minute (autocorrelated, as real traffic is), and a few unannounced spikes a day (10-30 min,
+50-150 %) that no daily pattern predicts and that must not be learnt as one.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

MINUTES_PER_DAY = 1440


@dataclass(frozen=True, slots=True)
class TraceShape:
    peak_rps: float = 150.0  # the weekday's highest minute, before noise and spikes
    night_fraction: float = 0.08  # of the peak, the small hours
    weekend_factor: float = 0.7
    day_level_sigma: float = 0.06  # day-to-day level drift (log scale)
    timing_jitter_min: float = 15.0  # day-to-day drift of the peaks' times
    noise_sigma: float = 0.06  # minute-to-minute noise (log scale, stationary)
    noise_memory: float = 0.85  # AR(1) coefficient: noise persists a few minutes
    spikes_per_day: tuple[int, int] = (2, 4)
    spike_minutes: tuple[int, int] = (10, 30)
    spike_height: tuple[float, float] = (0.5, 1.5)  # relative increase at the plateau


def _logistic(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def _bump(minute: float, centre: float, width: float) -> float:
    return math.exp(-0.5 * ((minute - centre) / width) ** 2)


def _day_profile(weekend: bool, shift: float) -> list[float]:
    """A day's relative load (max 1), minute by minute; ``shift`` moves its events (min)."""
    values = []
    for minute in range(MINUTES_PER_DAY):
        m = minute - shift
        if weekend:
            # No rush: the day starts late and slowly.
            working = _logistic((m - 600) / 60) * _logistic((1380 - m) / 50)
            load = 0.35 * working + 0.35 * _bump(m, 810, 150) + 0.45 * _bump(m, 1215, 90)
        else:
            # The working day starts at about 08:30 within a quarter of an hour.
            working = _logistic((m - 510) / 7) * _logistic((1380 - m) / 45)
            load = 0.5 * working + 0.4 * _bump(m, 750, 100) + 0.45 * _bump(m, 1200, 75)
        values.append(load)
    return values


def trace(seed: int, days: int = 7, shape: TraceShape | None = None) -> list[float]:
    """Requests/s for each minute of ``days`` days from a Monday 00:00; same seed, same trace."""
    return generate(seed, days, shape)[0]


def generate(
    seed: int, days: int = 7, shape: TraceShape | None = None
) -> tuple[list[float], list[bool]]:
    """The trace and, for each minute, whether a spike is in it (to tell the two apart)."""
    shape = shape or TraceShape()
    chance = random.Random(seed)  # noqa: S311
    weekday_max = max(_day_profile(False, 0.0))
    load: list[float] = []
    for day in range(days):
        weekend = day % 7 >= 5
        profile = _day_profile(weekend, chance.gauss(0.0, shape.timing_jitter_min))
        level = math.exp(chance.gauss(0.0, shape.day_level_sigma))
        if weekend:
            level *= shape.weekend_factor
        for value in profile:
            relative = shape.night_fraction + (1 - shape.night_fraction) * value / weekday_max
            load.append(shape.peak_rps * level * relative)
    innovation = shape.noise_sigma * math.sqrt(1 - shape.noise_memory**2)
    noise = 0.0
    for minute in range(len(load)):
        noise = shape.noise_memory * noise + chance.gauss(0.0, innovation)
        load[minute] *= math.exp(noise)
    spiking = [False] * len(load)
    for day in range(days):
        for _ in range(chance.randint(*shape.spikes_per_day)):
            start = day * MINUTES_PER_DAY + chance.randrange(MINUTES_PER_DAY)
            _add_spike(load, spiking, start, chance, shape)
    return load, spiking


def _add_spike(
    load: list[float],
    spiking: list[bool],
    start: int,
    chance: random.Random,
    shape: TraceShape,
) -> None:
    """A trapezoid: up in 1-3 min, a plateau, down in 2-5 min."""
    length = chance.randint(*shape.spike_minutes)
    height = chance.uniform(*shape.spike_height)
    rise = chance.randint(1, 3)
    fall = chance.randint(2, 5)
    for offset in range(length):
        minute = start + offset
        if minute >= len(load):
            break
        ramp = min(1.0, (offset + 1) / rise, (length - offset) / fall)
        load[minute] *= 1 + height * ramp
        spiking[minute] = True
