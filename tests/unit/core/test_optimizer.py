"""core.optimizer: the strategies' plans on hand-made fleets, and properties over random ones."""

from __future__ import annotations

import itertools
import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from optimizer_support import CLASSICAL, GI, problems, svc

from orchestration_engine.api.common import Priority, ResourceAmounts
from orchestration_engine.api.engine import OptimizationStrategy
from orchestration_engine.core.optimizer import (
    Capacity,
    Compiled,
    Problem,
    Solver,
    capacity_from,
    compile_problem,
    optimise,
    requests_from,
)


def test_cost_lowers_low_priority_services_first_under_pressure() -> None:
    services = (
        svc("checkout", Priority.HIGH, demand=4.0),
        svc("reports", Priority.LOW, demand=4.0),
    )
    # Room for 6 replicas: both want 4.
    plan = optimise(Problem(services, Capacity(cpu=6.0)), OptimizationStrategy.COST)
    assert plan.replicas == {("shop", "checkout"): 4, ("shop", "reports"): 2}
    assert plan.feasible
    assert "best 4 without the capacity limit" in plan.reasons[("shop", "reports")]


def test_cost_with_room_meets_demand_and_no_more() -> None:
    services = (svc("api", demand=2.5), svc("batch", Priority.LOW, demand=1.2))
    plan = optimise(Problem(services), OptimizationStrategy.COST)
    assert plan.replicas == {("shop", "api"): 3, ("shop", "batch"): 2}
    assert plan.score == 100.0


def test_reliability_keeps_two_replicas_of_critical_services() -> None:
    services = (
        svc("payments", Priority.CRITICAL, low=1, demand=0.5, current=1),
        svc("search", Priority.NORMAL, low=1, demand=1.0, current=1),
    )
    # Room for 3 replicas: the second goes to the CRITICAL service's floor.
    plan = optimise(Problem(services, Capacity(cpu=3.0)), OptimizationStrategy.RELIABILITY)
    assert plan.replicas[("shop", "payments")] >= 2
    assert "floor 2" in plan.reasons[("shop", "payments")]


def test_reliability_floor_stays_within_max() -> None:
    services = (svc("singleton", Priority.CRITICAL, low=1, high=1, current=1, demand=1.0),)
    plan = optimise(Problem(services), OptimizationStrategy.RELIABILITY)
    assert plan.replicas[("shop", "singleton")] == 1


def test_performance_raises_the_service_furthest_over_its_sla_first() -> None:
    services = (
        # Model at 3 replicas: 100 * 4.4 / 3 = 147 ms against a 120 ms SLA.
        svc("cart", current=3, demand=4.4, sla=120.0, low=3),
        # 100 * 6.6 / 3 = 220 ms against a 150 ms SLA: further over.
        svc("payments", current=3, demand=6.6, sla=150.0, low=3),
    )
    plan = optimise(Problem(services, Capacity(cpu=7.0)), OptimizationStrategy.PERFORMANCE)
    assert plan.replicas == {("shop", "cart"): 3, ("shop", "payments"): 4}
    reason = plan.reasons[("shop", "payments")]
    assert "demand 6.6 replicas" in reason
    assert "p95 model 220 ms > SLA 150 ms at 3" in reason
    assert "4 replicas (model 165 ms)" in reason


def test_performance_stops_once_the_sla_is_met() -> None:
    services = (svc("api", current=2, demand=3.0, sla=150.0, low=1, high=10),)
    plan = optimise(Problem(services), OptimizationStrategy.PERFORMANCE)
    # 100 * 3 / 2 = 150 ms: met at 2; more replicas only cost.
    assert plan.replicas[("shop", "api")] == 2


def test_scalability_leaves_headroom_over_demand() -> None:
    services = (svc("api", demand=4.0, high=10),)
    plan = optimise(Problem(services), OptimizationStrategy.SCALABILITY)
    assert plan.replicas[("shop", "api")] == 5  # 4 * 1.25


def test_infeasible_minimums_are_flagged_and_returned() -> None:
    services = (svc("a", low=3), svc("b", low=3))
    plan = optimise(Problem(services, Capacity(cpu=4.0)), OptimizationStrategy.PERFORMANCE)
    assert not plan.feasible
    assert plan.replicas == {("shop", "a"): 3, ("shop", "b"): 3}
    assert any("cpu 150%" in note for note in plan.notes)


def test_unknown_demand_is_taken_as_current() -> None:
    services = (svc("api", current=3, demand=None, high=10),)
    plan = optimise(Problem(services), OptimizationStrategy.COST)
    assert plan.replicas[("shop", "api")] == 3
    assert "unknown: taken as current" in plan.reasons[("shop", "api")]


def test_quantum_enhanced_needs_a_classical_base() -> None:
    with pytest.raises(ValueError, match="classical"):
        optimise(
            Problem(()),
            OptimizationStrategy.QUANTUM_ENHANCED,
            base=OptimizationStrategy.QUANTUM_ENHANCED,
        )


def test_quantities_from_the_api() -> None:
    assert capacity_from(ResourceAmounts(cpu="16", memory="64Gi")) == Capacity(16.0, 64.0 * GI)
    assert capacity_from(ResourceAmounts(cpu="500m")) == Capacity(0.5, None)
    assert requests_from(ResourceAmounts(cpu="250m", memory="256Mi")) == (0.25, 256.0 * 2**20)
    assert requests_from(None) == (0.0, 0.0)


def test_service_rejects_inverted_bounds() -> None:
    with pytest.raises(ValueError, match="replicas"):
        svc("bad", low=4, high=2)


# -- properties over random fleets -----------------------------------------------------------


def exhaustive(c: Compiled) -> float:
    """The optimum's objective by trying every combination (tiny instances only)."""
    ranges = [range(lo, t + 1) for lo, t in zip(c.low, c.top, strict=True)]
    return min(c.objective(combo) for combo in itertools.product(*ranges) if c.fits(combo))


FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FAST
@given(problems(), st.sampled_from(CLASSICAL), st.sampled_from([Solver.GREEDY, Solver.EXACT]))
def test_plans_are_within_bounds_and_fit_when_the_minimums_fit(
    problem: Problem, strategy: OptimizationStrategy, solver: Solver
) -> None:
    plan = optimise(problem, strategy, solver=solver)
    for s in problem.services:
        assert s.min_replicas <= plan.replicas[s.key] <= s.max_replicas
    c = compile_problem(problem, strategy)
    minimums_fit = c.fits(c.low)
    assert plan.feasible == minimums_fit
    if minimums_fit:
        assert c.fits([plan.replicas[s.key] for s in problem.services])
    assert 0.0 <= plan.score <= 100.0
    assert plan.bound <= plan.objective + 1e-9
    assert set(plan.reasons) == {s.key for s in problem.services}


@FAST
@given(problems(), st.sampled_from(CLASSICAL))
def test_exact_is_never_worse_than_greedy_and_is_optimal(
    problem: Problem, strategy: OptimizationStrategy
) -> None:
    exact = optimise(problem, strategy, solver=Solver.EXACT)
    greedy = optimise(problem, strategy, solver=Solver.GREEDY)
    assert exact.objective <= greedy.objective + 1e-9
    c = compile_problem(problem, strategy)
    if c.fits(c.low):
        assert math.isclose(exact.objective, exhaustive(c), rel_tol=1e-9, abs_tol=1e-9)


@FAST
@given(problems(), st.sampled_from(CLASSICAL))
def test_costs_are_convex_within_the_window(
    problem: Problem, strategy: OptimizationStrategy
) -> None:
    # The greedy's heap and the QUBO's unary encoding both rely on gains that never grow.
    c = compile_problem(problem, strategy)
    for row in c.costs:
        gains = [a - b for a, b in itertools.pairwise(row)]
        assert all(g >= -1e-9 for g in gains)
        assert all(later <= earlier + 1e-9 for earlier, later in itertools.pairwise(gains))
