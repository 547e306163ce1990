"""Optimiser problems for unit tests: services by hand (svc) and random fleets (problems)."""

from __future__ import annotations

from hypothesis import strategies as st

from orchestration_engine.api.common import Priority
from orchestration_engine.api.engine import OptimizationStrategy
from orchestration_engine.core.optimizer import (
    Capacity,
    Problem,
    Service,
)

GI = 2**30


CLASSICAL = [s for s in OptimizationStrategy if s is not OptimizationStrategy.QUANTUM_ENHANCED]


def svc(
    name: str,
    priority: Priority = Priority.NORMAL,
    *,
    low: int = 1,
    high: int = 6,
    cpu: float = 1.0,
    memory: float = 1.0 * GI,
    current: int = 2,
    demand: float | None = 2.0,
    target: float | None = 100.0,
    sla: float | None = None,
) -> Service:
    return Service(("shop", name), priority, low, high, cpu, memory, current, demand, target, sla)


@st.composite
def problems(draw: st.DrawFn, max_services: int = 6, max_choices: int = 5) -> Problem:
    n = draw(st.integers(1, max_services))
    services = []
    for k in range(n):
        low = draw(st.integers(0, 3))
        high = low + draw(st.integers(0, max_choices - 1))
        services.append(
            Service(
                ("ns", f"s{k}"),
                draw(st.sampled_from(list(Priority))),
                low,
                high,
                draw(st.sampled_from([0.0, 0.1, 0.5, 1.0, 2.0])),
                draw(st.sampled_from([0.0, 128.0, 1024.0])) * 2**20,
                draw(st.integers(low, high)),
                draw(st.none() | st.floats(0.0, 12.0)),
                draw(st.none() | st.sampled_from([50.0, 100.0])),
                draw(st.none() | st.sampled_from([60.0, 150.0])),
            )
        )
    cpu = draw(st.none() | st.floats(0.0, 20.0))
    memory = draw(st.none() | st.floats(0.0, 8.0 * 1024)) if draw(st.booleans()) else None
    return Problem(tuple(services), Capacity(cpu, memory * 2**20 if memory else memory))
