"""core/optimization_round.py: which problem and solver a spec asks for, and what comes out."""

from __future__ import annotations

from orchestration_engine.api.common import Priority, ResourceAmounts
from orchestration_engine.api.engine import OptimizationStrategy
from orchestration_engine.core.optimization_round import (
    STATUS_CHANGES,
    Allotment,
    Observed,
    allotments,
    capacity_binds,
    choose,
    problem_of,
    store_row,
    summary,
)
from orchestration_engine.core.optimizer import Solver, optimise

ONE_CPU = ResourceAmounts(cpu="1", memory="128Mi")


def scaled(name: str, priority: Priority, current: int, **more: object) -> Observed:
    fields: dict[str, object] = {
        "key": ("shop", name),
        "priority": priority,
        "current": current,
        "resources": ONE_CPU,
        "min_replicas": 1,
        "max_replicas": 5,
    }
    fields.update(more)
    return Observed(**fields)  # type: ignore[arg-type]


def test_quantum_enhanced_anneals_only_when_enabled() -> None:
    assert choose(OptimizationStrategy.QUANTUM_ENHANCED, True).solver is Solver.ANNEAL
    off = choose(OptimizationStrategy.QUANTUM_ENHANCED, False)
    assert off.solver is Solver.GREEDY
    assert off.note is not None
    assert "disabled" in off.note
    for strategy in (OptimizationStrategy.COST, OptimizationStrategy.RELIABILITY):
        assert choose(strategy, True) == choose(strategy, False)
        assert choose(strategy, True).solver is Solver.GREEDY


def test_services_without_scaling_take_room_but_keep_their_count() -> None:
    fixed = Observed(("shop", "db"), Priority.CRITICAL, 3, ResourceAmounts(cpu="1"))
    problem = problem_of([fixed, scaled("web", Priority.LOW, 3)], ResourceAmounts(cpu="4"))
    db = problem.services[0]
    assert (db.min_replicas, db.max_replicas, db.current) == (3, 3, 3)
    plan = optimise(problem, OptimizationStrategy.COST)
    assert plan.replicas == {("shop", "db"): 3, ("shop", "web"): 1}
    # Only services with scaling get an allotment; the capacity binds, so it is a ceiling.
    observed = [fixed, scaled("web", Priority.LOW, 3)]
    assert allotments(plan, observed, OptimizationStrategy.COST) == {
        ("shop", "web"): Allotment(None, 1)
    }


def test_cost_under_pressure_takes_from_low_first() -> None:
    fleet = [scaled("checkout", Priority.HIGH, 3), scaled("batch", Priority.LOW, 3)]
    plan = optimise(problem_of(fleet, ResourceAmounts(cpu="4")), OptimizationStrategy.COST)
    assert plan.replicas == {("shop", "checkout"): 3, ("shop", "batch"): 1}
    assert capacity_binds(plan)


def test_no_ceiling_while_the_capacity_does_not_bind() -> None:
    fleet = [scaled("checkout", Priority.HIGH, 2)]
    plan = optimise(problem_of(fleet, ResourceAmounts(cpu="16")), OptimizationStrategy.COST)
    assert not capacity_binds(plan)
    # COST's count is the demand the autoscaler follows anyway: nothing binds.
    assert allotments(plan, fleet, OptimizationStrategy.COST) == {}
    # RELIABILITY adds a floor of its own (HIGH: two replicas).
    reliable = optimise(
        problem_of(fleet, ResourceAmounts(cpu="16")), OptimizationStrategy.RELIABILITY
    )
    [allotment] = allotments(reliable, fleet, OptimizationStrategy.RELIABILITY).values()
    assert allotment.floor is not None
    assert allotment.floor >= 2
    assert allotment.ceiling is None


def test_reliability_keeps_two_critical_replicas_under_pressure() -> None:
    fleet = [scaled("payments", Priority.CRITICAL, 1), scaled("batch", Priority.LOW, 3)]
    plan = optimise(problem_of(fleet, ResourceAmounts(cpu="4")), OptimizationStrategy.RELIABILITY)
    # The floor first, then spares where the priority weight makes them worth most.
    assert plan.replicas[("shop", "payments")] >= 2
    assert plan.replicas[("shop", "batch")] >= 1
    assert sum(plan.replicas.values()) == 4


def test_infeasible_minimums_are_ceilings_too() -> None:
    fleet = [
        scaled("a", Priority.LOW, 2, min_replicas=2),
        scaled("b", Priority.LOW, 2, min_replicas=2),
    ]
    plan = optimise(problem_of(fleet, ResourceAmounts(cpu="3")), OptimizationStrategy.COST)
    assert not plan.feasible
    assert capacity_binds(plan)
    assert allotments(plan, fleet, OptimizationStrategy.COST)[("shop", "a")] == Allotment(None, 2)


def test_summary_lists_the_most_important_changes_first_and_caps_them() -> None:
    fleet = [scaled(f"low-{i:02}", Priority.LOW, 3) for i in range(30)]
    fleet.append(scaled("pay", Priority.CRITICAL, 1))
    plan = optimise(problem_of(fleet, ResourceAmounts(cpu="40")), OptimizationStrategy.RELIABILITY)
    choice = choose(OptimizationStrategy.RELIABILITY, True)
    doc = summary(
        plan, fleet, choice, strategy=OptimizationStrategy.RELIABILITY, at="t", duration_ms=1.234
    )
    assert doc["strategy"] == doc["objective"] == "RELIABILITY"
    assert doc["solver"] == "greedy"
    assert doc["durationMs"] == 1.2
    assert doc["services"] == 31
    assert doc["changes"] > STATUS_CHANGES
    assert len(doc["plannedChanges"]) == STATUS_CHANGES
    first = doc["plannedChanges"][0]
    assert (first["name"], first["current"]) == ("pay", 1)
    assert first["planned"] >= 2
    assert first["reason"].startswith("pay: demand")
    assert doc["score"] == round(plan.score, 2)


def test_quantum_summary_names_the_objective_and_the_solver_used() -> None:
    fleet = [scaled("web", Priority.NORMAL, 2, demand=4.0, target_latency_ms=100)]
    problem = problem_of(fleet, ResourceAmounts(cpu="3"))
    plan = optimise(problem, OptimizationStrategy.QUANTUM_ENHANCED, solver=Solver.ANNEAL)
    doc = summary(
        plan,
        fleet,
        choose(OptimizationStrategy.QUANTUM_ENHANCED, True),
        strategy=OptimizationStrategy.QUANTUM_ENHANCED,
        at="t",
        duration_ms=5,
    )
    assert (doc["strategy"], doc["objective"], doc["solver"]) == (
        "QUANTUM_ENHANCED",
        "PERFORMANCE",
        "anneal",
    )
    assert any("classical simulation" in note for note in doc["notes"])
    off = optimise(problem, OptimizationStrategy.QUANTUM_ENHANCED, solver=Solver.GREEDY)
    doc = summary(
        off,
        fleet,
        choose(OptimizationStrategy.QUANTUM_ENHANCED, False),
        strategy=OptimizationStrategy.QUANTUM_ENHANCED,
        at="t",
        duration_ms=5,
    )
    assert doc["solver"] == "greedy"
    assert "disabled" in doc["notes"][0]


def test_store_row_keeps_every_change_and_the_figures() -> None:
    fleet = [scaled(f"s{i}", Priority.LOW, 3) for i in range(25)]
    plan = optimise(problem_of(fleet, ResourceAmounts(cpu="30")), OptimizationStrategy.COST)
    choice = choose(OptimizationStrategy.COST, True)
    doc = summary(plan, fleet, choice, strategy=OptimizationStrategy.COST, at="t", duration_ms=2)
    row = store_row(plan, fleet, doc, "run-1", [{"message": "m"}])
    assert row["changes"] == doc["changes"] == len(row["plan"]) == 25
    assert all(item["planned"] < item["current"] for item in row["plan"])
    assert row["recommendations"] == [{"message": "m"}]
    assert row["strategy"] == "COST"
    assert row["solver"] == "greedy"
