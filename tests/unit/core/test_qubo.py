"""core.qubo: the encoding, the sampler seam, and annealed plans that are always valid."""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping

import dimod
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

# Same directory, no package: pytest (prepend import mode) puts it on sys.path.
from optimizer_support import CLASSICAL, problems, svc

from orchestration_engine.api.common import Priority
from orchestration_engine.api.engine import OptimizationStrategy
from orchestration_engine.core.optimizer import (
    Capacity,
    Problem,
    Service,
    Solver,
    compile_problem,
    optimise,
)
from orchestration_engine.core.qubo import (
    MU_FACTOR,
    SimulatedAnnealing,
    decode,
    dual_price,
    energy,
    formulate,
    relaxed,
)

# Short anneals: the properties are about validity, not quality (the benchmark measures it).
QUICK = SimulatedAnnealing(seed=1, num_reads=2, num_sweeps=100)


def _fleet() -> Problem:
    services = (
        svc("payments", Priority.CRITICAL, current=3, demand=6.6, sla=150.0, low=2, high=8),
        svc("cart", Priority.HIGH, current=3, demand=4.4, sla=120.0, low=1, high=6),
        svc("reports", Priority.LOW, current=2, demand=3.0, low=1, high=5),
    )
    return Problem(services, Capacity(cpu=10.0))


def test_energy_is_the_objective_when_the_capacity_does_not_bind() -> None:
    problem = Problem(_fleet().services)  # unbounded
    c = compile_problem(problem, OptimizationStrategy.PERFORMANCE)
    qubo = formulate(c)
    assert c.bounded == ()
    for count in range(qubo.size + 1):
        # The first ``count`` steps on: services filled in variable order.
        sample = [1 if v < count else 0 for v in range(qubo.size)]
        replicas = decode(c, qubo, dict(enumerate(sample)))
        assert math.isclose(energy(qubo, sample), c.objective(replicas), abs_tol=1e-9)


def test_the_dual_price_makes_the_relaxed_plan_fit() -> None:
    c = compile_problem(_fleet(), OptimizationStrategy.PERFORMANCE)
    assert c.bounded == (0,)
    price = dual_price(c)
    assert price > 0
    assert c.fits(relaxed(c, price))
    assert not c.fits(relaxed(c, price * 0.99))


def test_the_capacity_terms_price_load_over_the_room() -> None:
    c = compile_problem(_fleet(), OptimizationStrategy.PERFORMANCE)
    qubo = formulate(c)
    all_on = [1] * qubo.size
    replicas = decode(c, qubo, dict(enumerate(all_on)))
    assert not c.fits(replicas)
    assert energy(qubo, all_on) > c.objective(replicas)
    # Energy = objective + λ(L - R) + μ(L - R)², L the load above the minimums.
    price = dual_price(c)
    room = 1.0 - c.load(c.low, 0)
    shares = [c.share[i][0] for i in qubo.steps]
    mu = MU_FACTOR * price / statistics.median(shares)
    # Steps on in order within each service (the only order the gains make sense in):
    # service 0 has steps 0-2, service 1 steps 3-5, service 2 steps 6-7.
    for sample in ([0] * qubo.size, all_on, [1, 0, 0, 1, 1, 0, 0, 0]):
        plan = decode(c, qubo, dict(enumerate(sample)))
        excess = c.load(plan, 0) - c.load(c.low, 0) - room
        expected = c.objective(plan) + price * excess + mu * excess**2
        assert math.isclose(energy(qubo, sample), expected, rel_tol=1e-9)


def test_annealing_is_reproducible_and_matches_the_optimum_here() -> None:
    problem = _fleet()
    strategy = OptimizationStrategy.QUANTUM_ENHANCED
    first = optimise(problem, strategy, seed=7)
    again = optimise(problem, strategy, seed=7)
    exact = optimise(problem, OptimizationStrategy.PERFORMANCE, solver=Solver.EXACT)
    assert first.replicas == again.replicas
    assert math.isclose(first.objective, exact.objective, abs_tol=1e-9)
    assert any("classical simulation of quantum annealing" in n for n in first.notes)


class AllOn:
    """A sampler that asks for everything: the repair has to bring it under the capacity."""

    def sample(self, bqm: dimod.BinaryQuadraticModel) -> Mapping[int, int]:
        return dict.fromkeys(range(bqm.num_variables), 1)


def test_a_plugged_in_sampler_is_repaired_into_a_valid_plan() -> None:
    problem = _fleet()
    plan = optimise(problem, OptimizationStrategy.QUANTUM_ENHANCED, sampler=AllOn())
    c = compile_problem(problem, OptimizationStrategy.PERFORMANCE)
    replicas = [plan.replicas[s.key] for s in problem.services]
    assert c.fits(replicas)
    # 12 replicas asked for, room for 10: the repair takes the two whose loss costs least,
    # the LOW service's third (latency 150 -> 100 ms, weight 2) and the CRITICAL one's fifth
    # (its SLA is met at 4), which is also the optimum here.
    assert plan.replicas == {("shop", "payments"): 4, ("shop", "cart"): 4, ("shop", "reports"): 2}
    exact = optimise(problem, OptimizationStrategy.PERFORMANCE, solver=Solver.EXACT)
    assert plan.replicas == exact.replicas


def test_services_without_choices_need_no_annealing() -> None:
    services = (Service(("ns", "a"), Priority.HIGH, 2, 2, 1.0, 0.0, 2, 5.0, 100.0),)
    plan = optimise(Problem(services), OptimizationStrategy.QUANTUM_ENHANCED)
    assert plan.replicas == {("ns", "a"): 2}


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(problems(max_services=5, max_choices=4), st.sampled_from(CLASSICAL))
def test_annealed_plans_are_always_valid(problem: Problem, base: OptimizationStrategy) -> None:
    plan = optimise(problem, OptimizationStrategy.QUANTUM_ENHANCED, base=base, sampler=QUICK)
    c = compile_problem(problem, base)
    replicas = [plan.replicas[s.key] for s in problem.services]
    for s, r in zip(problem.services, replicas, strict=True):
        assert s.min_replicas <= r <= s.max_replicas
    assert plan.feasible == c.fits(c.low)
    if plan.feasible:
        assert c.fits(replicas)


@settings(max_examples=60, deadline=None)
@given(problems(max_services=5, max_choices=4), st.sampled_from(CLASSICAL), st.data())
def test_energy_is_objective_plus_capacity_terms(
    problem: Problem, strategy: OptimizationStrategy, data: st.DataObject
) -> None:
    c = compile_problem(problem, strategy)
    if not c.fits(c.low):
        return
    qubo = formulate(c)
    # A count per service, its first steps on: the assignments the decoder reads exactly.
    counts = [data.draw(st.integers(0, t - lo)) for lo, t in zip(c.low, c.top, strict=True)]
    sample = [1 if k < counts[i] else 0 for i, k in _step_positions(qubo.steps)]
    replicas = decode(c, qubo, dict(enumerate(sample)))
    assert replicas == [lo + n for lo, n in zip(c.low, counts, strict=True)]
    price = dual_price(c)
    expected = c.objective(replicas)
    for d in c.bounded:
        shares = [c.share[i][d] for i in qubo.steps if c.share[i][d] > 0]
        if not shares:
            continue
        mu = MU_FACTOR * price / statistics.median(shares)
        excess = c.load(replicas, d) - 1.0
        expected += price * excess + mu * excess**2
    assert math.isclose(energy(qubo, sample), expected, rel_tol=1e-7, abs_tol=1e-7)


def _step_positions(steps: tuple[int, ...]) -> list[tuple[int, int]]:
    """(service, index of the step within its service) for each variable."""
    seen: dict[int, int] = {}
    positions = []
    for i in steps:
        positions.append((i, seen.get(i, 0)))
        seen[i] = seen.get(i, 0) + 1
    return positions
