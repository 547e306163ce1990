"""Seeded optimiser instances for the benchmark and the tests: a fleet under a capacity.

A service draws a priority (more NORMAL than the rest), a per-replica request from a few
common sizes, replicas ``min..max``, and a demand around its current replicas (some far
over, as after a traffic spike; one in ten unknown). The capacity lies part of the way
(``pressure``) from the minimums' requests to the maximums', so the optimiser has to choose
whom to cut.
"""

from __future__ import annotations

import random

from orchestration_engine.api.common import Priority
from orchestration_engine.core.optimizer import Capacity, Problem, Service

PRIORITIES = (
    (Priority.CRITICAL, 1),
    (Priority.HIGH, 2),
    (Priority.NORMAL, 4),
    (Priority.LOW, 2),
    (Priority.MAINTENANCE, 1),
)
CPU_SIZES = (0.1, 0.25, 0.5, 1.0, 2.0)
MEMORY_SIZES = (128 * 2**20, 256 * 2**20, 512 * 2**20, 2**30, 4 * 2**30)


def generate(seed: int, services: int, *, max_choices: int = 6, pressure: float = 0.6) -> Problem:
    """``services`` services with at most ``max_choices`` replica counts each; the capacity
    lies ``pressure`` of the way from the minimums' requests to the maximums' (unbounded
    when pressure is 0)."""
    rng = random.Random(seed)  # noqa: S311 - seeded for reproducible instances
    fleet = []
    for n in range(services):
        priority = rng.choices([p for p, _ in PRIORITIES], [w for _, w in PRIORITIES])[0]
        low = rng.randint(1, 3)
        high = low + rng.randint(0, max_choices - 1)
        current = rng.randint(low, high)
        demand: float | None = current * rng.lognormvariate(0.2, 0.5)
        if rng.random() < 0.1:
            demand = None
        target = rng.choice((50.0, 100.0, 200.0))
        sla = target * rng.choice((1.0, 1.5, 2.0)) if rng.random() < 0.6 else None
        fleet.append(
            Service(
                key=("bench", f"svc-{n:03d}"),
                priority=priority,
                min_replicas=low,
                max_replicas=high,
                cpu=rng.choice(CPU_SIZES),
                memory=float(rng.choice(MEMORY_SIZES)),
                current=current,
                demand=demand,
                target_latency_ms=target,
                sla_latency_ms=sla,
            )
        )
    if pressure <= 0:
        return Problem(tuple(fleet))
    # Between the minimums (0) and every maximum (1), so the minimums always fit.
    cpu = [sum(s.cpu * getattr(s, f) for s in fleet) for f in ("min_replicas", "max_replicas")]
    memory = [
        sum(s.memory * getattr(s, f) for s in fleet) for f in ("min_replicas", "max_replicas")
    ]
    return Problem(
        tuple(fleet),
        Capacity(
            cpu=cpu[0] + pressure * (cpu[1] - cpu[0]),
            memory=memory[0] + pressure * (memory[1] - memory[0]),
        ),
    )
