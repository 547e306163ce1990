"""Benchmark: the resource optimiser's solvers (issue: quantum-enhanced optimisation).

Seeded instances (optimizer_instances.py) with the capacity 30% of the way from the
minimums' requests to the maximums', under each classical objective (PERFORMANCE, COST,
RELIABILITY, SCALABILITY; QUANTUM_ENHANCED is the annealer on one of them):

- Small: 8 services, at most 6 replica counts each, where branch and bound finds the
  optimum. Gap: ``(objective - optimum) / optimum``. Instances whose capacity does not bind
  are skipped: every solver reaches the separable optimum on them.
- Large: 50, 100 and 200 services, at most 8 counts each. No optimum: the gap is to the
  better of greedy and annealing on the same instance.

The annealer is the default one (``SimulatedAnnealing``: 8 reads of 1,000 sweeps, seeded),
its plan repaired and topped up as ``optimise`` does. Times are wall-clock per plan on one
core, the QUBO's construction included (the extension's import is done before timing).

The issue's targets: annealing within 2% of the optimum on small instances, better than
greedy on large ones.
"""

from __future__ import annotations

import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from optimizer_instances import generate  # noqa: E402

from orchestration_engine.api.engine import OptimizationStrategy  # noqa: E402
from orchestration_engine.core.optimizer import (  # noqa: E402
    Problem,
    Solver,
    compile_problem,
    optimise,
)

STRATEGIES = (
    OptimizationStrategy.PERFORMANCE,
    OptimizationStrategy.COST,
    OptimizationStrategy.RELIABILITY,
    OptimizationStrategy.SCALABILITY,
)
SMALL_SEEDS = range(30)
SMALL_SERVICES = 8
LARGE_SIZES = (50, 100, 200)
LARGE_SEEDS = range(3)
PRESSURE = 0.3
TARGET_SMALL_GAP = 2.0  # percent of the optimum


@dataclass
class Row:
    """One solver on one class of instances."""

    instances: str
    solver: str
    gaps: list[float] = field(default_factory=list)  # percent
    times: list[float] = field(default_factory=list)  # seconds
    best: int = 0  # instances where it found the optimum (small) or the better plan (large)


@dataclass
class Result:
    small: list[Row]
    large: list[Row]
    small_count: int
    large_count: int
    wall_s: float


def _solve(
    problem: Problem, strategy: OptimizationStrategy, solver: Solver, seed: int
) -> tuple[float, float]:
    started = time.perf_counter()
    plan = optimise(problem, strategy, solver=solver, seed=seed)
    return plan.objective, time.perf_counter() - started


def _gap(value: float, reference: float) -> float:
    return 100.0 * (value - reference) / max(reference, 1e-9)


def run() -> Result:
    started = time.monotonic()
    # The first annealing loads dwave-samplers' extension: not a cost of any one plan.
    optimise(generate(0, 3), OptimizationStrategy.QUANTUM_ENHANCED, solver=Solver.ANNEAL)
    small = {s: Row(f"small ({SMALL_SERVICES} services)", s.value) for s in Solver}
    small_count = 0
    for seed in SMALL_SEEDS:
        for strategy in STRATEGIES:
            problem = generate(seed, SMALL_SERVICES, max_choices=6, pressure=PRESSURE)
            if not compile_problem(problem, strategy).bounded:
                continue
            small_count += 1
            results = {s: _solve(problem, strategy, s, seed) for s in Solver}
            optimum = results[Solver.EXACT][0]
            for solver, (objective, seconds) in results.items():
                row = small[solver]
                row.gaps.append(_gap(objective, optimum))
                row.times.append(seconds)
                row.best += objective <= optimum + 1e-9
    large: list[Row] = []
    large_count = 0
    for size in LARGE_SIZES:
        rows = {s: Row(f"large ({size} services)", s.value) for s in (Solver.GREEDY, Solver.ANNEAL)}
        for seed in LARGE_SEEDS:
            for strategy in STRATEGIES:
                problem = generate(1000 + seed, size, max_choices=8, pressure=PRESSURE)
                large_count += 1
                results = {s: _solve(problem, strategy, s, seed) for s in rows}
                better = min(objective for objective, _ in results.values())
                for solver, (objective, seconds) in results.items():
                    rows[solver].gaps.append(_gap(objective, better))
                    rows[solver].times.append(seconds)
                    rows[solver].best += objective <= better + 1e-9
        large.extend(rows.values())
    return Result(list(small.values()), large, small_count, large_count, time.monotonic() - started)


def markdown(result: Result) -> str:
    lines = [
        "## Resource optimiser",
        "",
        f"Seeded fleets (tests/bench/optimizer_instances.py) under the PERFORMANCE, COST, "
        f"RELIABILITY and SCALABILITY objectives, the capacity {PRESSURE:.0%} of the way from "
        "the minimums' requests to the maximums'. Small: the gap to the optimum (branch and "
        f"bound), {result.small_count} instances where the capacity binds. Large: the gap to "
        f"the better of greedy and annealing, {result.large_count // len(LARGE_SIZES)} "
        "instances per size. Annealing: 8 reads of 1,000 sweeps of dwave-samplers' simulated "
        "annealer on the QUBO, then repair and greedy top-up (core/qubo.py).",
        "",
        "| instances | solver | mean gap | worst gap | best plan | mean time | worst time |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for row in result.small + result.large:
        lines.append(
            f"| {row.instances} | {row.solver} | {statistics.mean(row.gaps):.2f}% | "
            f"{max(row.gaps):.2f}% | {row.best}/{len(row.gaps)} | "
            f"{1000 * statistics.mean(row.times):.1f} ms | {1000 * max(row.times):.1f} ms |"
        )
    anneal_small = next(r for r in result.small if r.solver == Solver.ANNEAL)
    greedy_small = next(r for r in result.small if r.solver == Solver.GREEDY)
    small_met = statistics.mean(anneal_small.gaps) <= TARGET_SMALL_GAP
    large_anneal = [r for r in result.large if r.solver == Solver.ANNEAL]
    large_greedy = [r for r in result.large if r.solver == Solver.GREEDY]
    anneal_wins = sum(r.best for r in large_anneal)
    greedy_wins = sum(r.best for r in large_greedy)
    large_met = all(
        statistics.mean(a.gaps) < statistics.mean(g.gaps)
        for a, g in zip(large_anneal, large_greedy, strict=True)
    )
    lines += [
        "",
        f"On small instances annealing is {statistics.mean(anneal_small.gaps):.2f}% from the "
        f"optimum on average (worst {max(anneal_small.gaps):.2f}%), greedy "
        f"{statistics.mean(greedy_small.gaps):.2f}% (worst {max(greedy_small.gaps):.2f}%): the "
        f"2% target is {'met on average' if small_met else 'not met on average'}, on "
        f"{sum(g <= TARGET_SMALL_GAP for g in anneal_small.gaps)} of {len(anneal_small.gaps)} "
        "instances. On large instances annealing "
        f"found the better plan {anneal_wins} times out of {result.large_count}, greedy "
        f"{greedy_wins} (ties count for both): annealing is "
        f"{'better than greedy at every size' if large_met else 'not better than greedy at every size'}"
        f", at {statistics.mean(t for r in large_anneal for t in r.times):.2f} s a plan "
        f"against {1000 * statistics.mean(t for r in large_greedy for t in r.times):.0f} ms. "
        f"Wall time of this section: {result.wall_s:.0f} s.",
    ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(markdown(run()))
