"""core.scheduler: which waiting workflows start now, every rule of its docstring and its edges.

(Named test_workflow_scheduler.py: tests/unit/probes/test_scheduler.py already takes the
basename test_scheduler.py.)
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from orchestration_engine.api.common import Priority
from orchestration_engine.core.scheduler import (
    AGING_STEP_SECONDS,
    Candidate,
    Key,
    Limits,
    Resources,
    Schedule,
    effective_rank,
    schedule,
)

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
NS = "shop"
GI = 2**30

CRITICAL, HIGH, NORMAL, LOW, MAINTENANCE = (
    Priority.CRITICAL,
    Priority.HIGH,
    Priority.NORMAL,
    Priority.LOW,
    Priority.MAINTENANCE,
)
UNLIMITED = Limits(max_concurrent=10, capacity=None)


def res(cpu: str | int = 0, memory_gi: str | int = 0) -> Resources:
    return Resources(Decimal(cpu), Decimal(memory_gi) * GI)


def cand(
    name: str,
    priority: Priority = NORMAL,
    *,
    waited: float = 0.0,
    duration: int | None = None,
    resources: Resources | None = None,
    deps: tuple[str, ...] = (),
    namespace: str = NS,
) -> Candidate:
    return Candidate(
        key=(namespace, name),
        priority=priority,
        created=NOW - timedelta(seconds=waited),
        estimated_duration_s=duration,
        resources=resources or Resources(),
        depends_on=deps,
    )


def run(
    candidates: list[Candidate],
    limits: Limits = UNLIMITED,
    *,
    running: Mapping[Key, Resources] | None = None,
    phases: Mapping[Key, str] | None = None,
) -> Schedule:
    known = {c.key: "Queued" for c in candidates}
    known.update(phases or {})
    return schedule(candidates, running or {}, limits, known, NOW)


def names(keys: list[Key]) -> list[str]:
    return [k[1] for k in keys]


def order(candidates: list[Candidate]) -> list[str]:
    """The scheduling order: admit them one at a time into a single free slot."""
    result = run(candidates, Limits(max_concurrent=1, capacity=None))
    by_position = sorted(
        (w.position, k[1]) for k, w in result.waiting.items() if w.position is not None
    )
    return names(result.admit) + [name for _, name in by_position]


def one(name: str) -> Key:
    return (NS, name)


# --- the simplest cases -------------------------------------------------------------------


def test_nothing_to_schedule() -> None:
    assert run([]) == Schedule(admit=[], waiting={}, cancel={})


def test_everything_starts_when_there_is_room() -> None:
    result = run([cand("a"), cand("b"), cand("c")])
    assert sorted(names(result.admit)) == ["a", "b", "c"]
    assert result.waiting == {}
    assert result.cancel == {}


def test_inputs_are_not_modified() -> None:
    candidates = [cand("b", LOW), cand("a", HIGH)]
    running = {one("x"): res(1)}
    phases = {c.key: "Queued" for c in candidates}
    schedule(candidates, running, Limits(2, res(4, 4)), phases, NOW)
    assert names([c.key for c in candidates]) == ["b", "a"]
    assert running == {one("x"): res(1)}
    assert phases == {one("b"): "Queued", one("a"): "Queued"}


# --- priority and aging -------------------------------------------------------------------


def test_priority_order_highest_first() -> None:
    candidates = [cand("m", MAINTENANCE), cand("l", LOW), cand("n", NORMAL), cand("h", HIGH)]
    candidates.append(cand("c", CRITICAL))
    assert order(candidates) == ["c", "h", "n", "l", "m"]


@pytest.mark.parametrize(
    ("priority", "waited", "expected"),
    [
        (CRITICAL, 0, CRITICAL),
        (CRITICAL, 10**9, CRITICAL),
        (HIGH, 0, HIGH),
        (HIGH, 10**9, HIGH),  # CRITICAL is never reached by waiting
        (NORMAL, 299.999, NORMAL),
        (NORMAL, 300, HIGH),
        (NORMAL, 10**6, HIGH),
        (LOW, 0, LOW),
        (LOW, 299.999, LOW),
        (LOW, 300, NORMAL),  # exactly one aging step
        (LOW, 599.999, NORMAL),
        (LOW, 600, HIGH),  # exactly two
        (LOW, 900, HIGH),  # ceiling
        (LOW, 86400, HIGH),
        (MAINTENANCE, 300, LOW),
        (MAINTENANCE, 600, NORMAL),
        (MAINTENANCE, 900, HIGH),
        (MAINTENANCE, 10**9, HIGH),
        (LOW, -5000, LOW),  # created "in the future" (clock skew): no boost, no penalty
    ],
)
def test_effective_rank(priority: Priority, waited: float, expected: Priority) -> None:
    assert effective_rank(priority, waited) == expected.rank


def test_aging_step_is_five_minutes() -> None:
    assert AGING_STEP_SECONDS == 300


def test_low_under_five_minutes_stays_behind_fresh_normal() -> None:
    assert order([cand("low", LOW, waited=299), cand("normal", NORMAL)]) == ["normal", "low"]


def test_low_at_exactly_five_minutes_outranks_fresh_normal() -> None:
    # Same effective priority; the older goes first.
    assert order([cand("normal", NORMAL), cand("low", LOW, waited=300)]) == ["low", "normal"]


def test_low_at_five_minutes_stays_behind_fresh_high() -> None:
    assert order([cand("low", LOW, waited=300), cand("high", HIGH)]) == ["high", "low"]


def test_low_just_under_ten_minutes_stays_behind_fresh_high() -> None:
    assert order([cand("low", LOW, waited=599), cand("high", HIGH)]) == ["high", "low"]


def test_low_at_exactly_ten_minutes_outranks_fresh_high() -> None:
    assert order([cand("high", HIGH), cand("low", LOW, waited=600)]) == ["low", "high"]


def test_aging_stops_at_high_an_older_high_still_goes_first() -> None:
    # The LOW one has waited a day, so it is HIGH now, not CRITICAL: the HIGH one that has
    # waited a day and a second is older and goes first.
    candidates = [cand("low", LOW, waited=86400), cand("high", HIGH, waited=86401)]
    assert order(candidates) == ["high", "low"]


def test_critical_is_never_reached_by_aging() -> None:
    candidates = [cand("old-low", LOW, waited=10**7), cand("old-high", HIGH, waited=10**7)]
    candidates.append(cand("fresh-critical", CRITICAL))
    assert order(candidates)[0] == "fresh-critical"


def test_aged_maintenance_reaches_the_top_below_critical() -> None:
    candidates = [
        cand("maint", MAINTENANCE, waited=900),
        cand("high", HIGH, waited=10),
        cand("crit", CRITICAL),
    ]
    assert order(candidates) == ["crit", "maint", "high"]


# --- ties ---------------------------------------------------------------------------------


def test_same_priority_oldest_first() -> None:
    candidates = [cand("new", waited=10), cand("old", waited=20), cand("mid", waited=15)]
    assert order(candidates) == ["old", "mid", "new"]


def test_same_age_shortest_estimated_duration_first_unset_last() -> None:
    candidates = [
        cand("unset"),
        cand("long", duration=600),
        cand("short", duration=60),
        cand("zero", duration=0),
    ]
    assert order(candidates) == ["zero", "short", "long", "unset"]


def test_age_beats_duration() -> None:
    assert order([cand("quick", duration=1), cand("older", waited=1, duration=9999)]) == [
        "older",
        "quick",
    ]


def test_same_age_and_duration_by_name() -> None:
    assert order([cand("b", duration=5), cand("c", duration=5), cand("a", duration=5)]) == [
        "a",
        "b",
        "c",
    ]


def test_same_age_both_unset_by_name() -> None:
    assert order([cand("zeta"), cand("alpha")]) == ["alpha", "zeta"]


def test_full_tie_by_namespace_then_name() -> None:
    candidates = [cand("a", namespace="ns-b"), cand("b", namespace="ns-a")]
    result = run(candidates, Limits(max_concurrent=1, capacity=None))
    assert result.admit == [("ns-a", "b")]
    assert result.waiting[("ns-b", "a")].position == 1


def test_order_does_not_depend_on_input_order() -> None:
    candidates = [
        cand("a", LOW, waited=700),
        cand("b", HIGH, waited=5),
        cand("c", NORMAL, duration=3),
        cand("d", NORMAL),
        cand("e", CRITICAL),
    ]
    assert order(candidates) == order(list(reversed(candidates))) == ["e", "a", "b", "c", "d"]


# --- concurrency --------------------------------------------------------------------------


def test_max_concurrent_counts_the_running_ones() -> None:
    running = {one("r1"): Resources(), one("r2"): Resources()}
    result = run([cand("a", HIGH), cand("b"), cand("c", LOW)], Limits(3, None), running=running)
    assert names(result.admit) == ["a"]
    assert result.waiting[one("b")].reason == "ConcurrencyLimit"
    assert result.waiting[one("b")].position == 1
    assert result.waiting[one("c")].position == 2
    assert "3 workflows are running (maxConcurrentWorkflows)" in result.waiting[one("c")].message


def test_slots_already_full_admits_nothing() -> None:
    running = {one("r1"): Resources(), one("r2"): Resources()}
    result = run([cand("a", CRITICAL), cand("b")], Limits(2, None), running=running)
    assert result.admit == []
    assert {k: (w.reason, w.position) for k, w in result.waiting.items()} == {
        one("a"): ("ConcurrencyLimit", 1),
        one("b"): ("ConcurrencyLimit", 2),
    }


def test_more_running_than_allowed_admits_nothing() -> None:
    # E.g. maxConcurrentWorkflows was lowered while workflows ran.
    running = {one(f"r{i}"): Resources() for i in range(5)}
    result = run([cand("a")], Limits(2, None), running=running)
    assert result.admit == []
    assert result.waiting[one("a")].reason == "ConcurrencyLimit"


def test_zero_concurrency_admits_nothing() -> None:
    result = run([cand("a")], Limits(0, None))
    assert result.admit == []
    assert result.waiting[one("a")].position == 1


def test_fills_the_free_slots_in_order() -> None:
    candidates = [cand(f"w{i}", waited=100 - i) for i in range(5)]
    result = run(candidates, Limits(3, None), running={one("r"): Resources()})
    assert names(result.admit) == ["w0", "w1"]
    assert [result.waiting[one(f"w{i}")].position for i in (2, 3, 4)] == [1, 2, 3]


# --- capacity -----------------------------------------------------------------------------


def test_capacity_exactly_equal_fits() -> None:
    result = run([cand("a", resources=res(2, 4))], Limits(5, res(2, 4)))
    assert names(result.admit) == ["a"]


def test_remaining_capacity_exactly_equal_fits() -> None:
    running = {one("r"): res("1.5", 3)}
    result = run([cand("a", resources=res("0.5", 1))], Limits(5, res(2, 4)), running=running)
    assert names(result.admit) == ["a"]


def test_admitted_ones_use_up_the_capacity() -> None:
    candidates = [cand(n, waited=10 - i, resources=res(1, 1)) for i, n in enumerate("abc")]
    result = run(candidates, Limits(5, res(2, 8)))
    assert names(result.admit) == ["a", "b"]
    wait = result.waiting[one("c")]
    assert wait.reason == "InsufficientCapacity"
    assert wait.position == 1
    assert wait.message == "waits for capacity: needs cpu 1, memory 1Gi, cpu 0, memory 6Gi free"


def test_memory_alone_can_block() -> None:
    running = {one("r"): res(0, 3)}
    result = run([cand("a", resources=res(0, 2))], Limits(5, res(16, 4)), running=running)
    assert result.admit == []
    assert result.waiting[one("a")].reason == "InsufficientCapacity"


def test_cpu_alone_can_block() -> None:
    running = {one("r"): res("1.5")}
    result = run([cand("a", resources=res("0.75"))], Limits(5, res(2, 4)), running=running)
    assert result.admit == []
    assert result.waiting[one("a")].message == (
        "waits for capacity: needs cpu 750m, memory 0, cpu 500m, memory 4Gi free"
    )


def test_more_than_the_whole_capacity_says_so() -> None:
    result = run([cand("huge", resources=res(32, 1))], Limits(5, res(16, 64)))
    wait = result.waiting[one("huge")]
    assert wait.reason == "ExceedsCapacity"
    assert wait.position == 1
    assert wait.message == (
        "needs cpu 32, memory 1Gi, more than the engine's whole capacity (cpu 16, memory 64Gi)"
    )


def test_exceeds_capacity_even_when_running_ones_hold_some() -> None:
    result = run(
        [cand("huge", resources=res(1, 128))],
        Limits(5, res(16, 64)),
        running={one("r"): res(8, 8)},
    )
    assert result.waiting[one("huge")].reason == "ExceedsCapacity"


def test_unlimited_capacity_ignores_resources() -> None:
    result = run([cand("huge", resources=res(10**6, 10**6))], Limits(5, None))
    assert names(result.admit) == ["huge"]


def test_zero_resources_fit_a_full_engine() -> None:
    running = {one("r"): res(16, 64)}
    result = run([cand("light")], Limits(5, res(16, 64)), running=running)
    assert names(result.admit) == ["light"]


def test_running_over_capacity_blocks_even_zero_resources() -> None:
    # Capacity lowered below what runs: nothing fits until enough finishes.
    running = {one("r"): res(20, 1)}
    result = run([cand("light")], Limits(5, res(16, 64)), running=running)
    assert result.admit == []
    assert result.waiting[one("light")].reason == "InsufficientCapacity"


def test_best_effort_backfill_smaller_ones_behind_a_blocked_one_start() -> None:
    candidates = [
        cand("big", HIGH, resources=res(8, 1)),
        cand("small", NORMAL, resources=res(2, 1)),
        cand("tiny", LOW, resources=res(1, 1)),
    ]
    result = run(candidates, Limits(5, res(10, 64)), running={one("r"): res(6, 1)})
    assert names(result.admit) == ["small", "tiny"]
    assert result.waiting[one("big")].reason == "InsufficientCapacity"
    assert result.waiting[one("big")].position == 1


def test_backfill_stops_at_the_concurrency_limit() -> None:
    candidates = [
        cand("big", HIGH, resources=res(4)),
        cand("s1", NORMAL, waited=2, resources=res(1)),
        cand("s2", NORMAL, waited=1, resources=res(1)),
    ]
    result = run(candidates, Limits(2, res(4)), running={one("r"): res(1)})
    assert names(result.admit) == ["s1"]
    assert {k[1]: (w.reason, w.position) for k, w in result.waiting.items()} == {
        "big": ("InsufficientCapacity", 1),
        "s2": ("ConcurrencyLimit", 2),
    }


def test_a_blocked_big_one_keeps_its_place_ahead_of_later_ones() -> None:
    candidates = [
        cand("big", HIGH, resources=res(8)),
        cand("n1", NORMAL, waited=2, resources=res(3)),
        cand("n2", NORMAL, waited=1, resources=res(3)),
    ]
    result = run(candidates, Limits(5, res(4)))
    assert names(result.admit) == ["n1"]
    assert result.waiting[one("big")].position == 1
    assert result.waiting[one("n2")].position == 2


# --- emergency halt -----------------------------------------------------------------------


def test_halt_lets_only_critical_start() -> None:
    candidates = [cand("h", HIGH, waited=10), cand("c", CRITICAL), cand("n"), cand("l", LOW)]
    result = run(candidates, Limits(10, None, halted=True))
    assert names(result.admit) == ["c"]
    assert {k[1]: (w.reason, w.position) for k, w in result.waiting.items()} == {
        "h": ("EmergencyHalt", 1),
        "n": ("EmergencyHalt", 2),
        "l": ("EmergencyHalt", 3),
    }
    assert "only CRITICAL workflows start" in result.waiting[one("h")].message


def test_aged_workflows_do_not_count_as_critical_during_a_halt() -> None:
    result = run([cand("old", LOW, waited=10**7)], Limits(10, None, halted=True))
    assert result.admit == []
    assert result.waiting[one("old")].reason == "EmergencyHalt"


def test_halted_critical_still_admitted_within_slots_and_capacity() -> None:
    candidates = [
        cand("c1", CRITICAL, waited=3, resources=res(4)),
        cand("c2", CRITICAL, waited=2, resources=res(1)),
        cand("c3", CRITICAL, waited=1, resources=res(1)),
        cand("n", NORMAL, waited=100),
    ]
    result = run(candidates, Limits(2, res(4), halted=True), running={one("r"): res(1)})
    assert names(result.admit) == ["c2"]
    assert {k[1]: (w.reason, w.position) for k, w in result.waiting.items()} == {
        "c1": ("InsufficientCapacity", 1),
        "c3": ("ConcurrencyLimit", 2),
        "n": ("EmergencyHalt", 3),
    }


def test_halted_non_critical_take_no_slot_from_critical_behind_them() -> None:
    candidates = [cand("h", HIGH, waited=100), cand("c", CRITICAL)]
    result = run(candidates, Limits(1, None, halted=True))
    assert names(result.admit) == ["c"]


# --- dependencies -------------------------------------------------------------------------


def test_succeeded_dependency_makes_it_eligible() -> None:
    result = run([cand("b", deps=("a",))], phases={one("a"): "Succeeded"})
    assert names(result.admit) == ["b"]


def test_missing_dependency_waits_not_found() -> None:
    result = run([cand("b", deps=("a", "ghost"))], phases={one("a"): "Succeeded"})
    assert result.admit == []
    wait = result.waiting[one("b")]
    assert wait.reason == "DependencyNotFound"
    assert wait.position is None
    assert wait.message == "waits for workflow ghost, which does not exist"


@pytest.mark.parametrize(
    "phase",
    ["Pending", "Queued", "Running", "RollingBack", "Suspended", "Halted"],
)
def test_unfinished_dependency_waits(phase: str) -> None:
    result = run([cand("b", deps=("a",))], phases={one("a"): phase})
    assert result.admit == []
    wait = result.waiting[one("b")]
    assert wait.reason == "WaitingForDependencies"
    assert wait.position is None
    assert wait.message == "waits for workflow a to succeed"


def test_waiting_names_only_the_unfinished_dependencies() -> None:
    phases = {one("a"): "Succeeded", one("b"): "Running", one("c"): "Queued"}
    result = run([cand("d", deps=("a", "b", "c"))], phases=phases)
    assert result.waiting[one("d")].message == "waits for workflow b, c to succeed"


@pytest.mark.parametrize("phase", ["Failed", "RolledBack", "Cancelled"])
def test_dependency_that_will_never_succeed_cancels(phase: str) -> None:
    result = run([cand("b", deps=("a",))], phases={one("a"): phase})
    assert result.admit == []
    assert one("b") not in result.waiting
    assert result.cancel == {one("b"): f"workflow a ({phase}) will not succeed"}


def test_one_doomed_dependency_among_others_cancels() -> None:
    phases = {one("a"): "Running", one("b"): "Failed", one("c"): "Succeeded"}
    result = run([cand("d", deps=("a", "b", "c"))], phases=phases)
    assert result.cancel == {one("d"): "workflow b (Failed) will not succeed"}


def test_missing_dependency_is_reported_before_a_failed_one() -> None:
    phases = {one("a"): "Failed"}
    result = run([cand("d", deps=("a", "ghost"))], phases=phases)
    assert result.cancel == {}
    assert result.waiting[one("d")].reason == "DependencyNotFound"


def test_dependencies_are_looked_up_in_the_candidates_own_namespace() -> None:
    phases = {("other", "a"): "Succeeded"}
    result = run([cand("b", deps=("a",))], phases=phases)
    assert result.waiting[one("b")].reason == "DependencyNotFound"

    phases = {("other", "a"): "Failed", one("a"): "Succeeded"}
    result = run([cand("b", deps=("a",))], phases=phases)
    assert names(result.admit) == ["b"]
    assert result.cancel == {}


def test_a_candidate_waiting_for_another_candidate() -> None:
    result = run([cand("a"), cand("b", deps=("a",))])
    assert names(result.admit) == ["a"]
    assert result.waiting[one("b")].reason == "WaitingForDependencies"


def test_positions_count_only_eligible_waiting_workflows() -> None:
    candidates = [
        cand("dep-wait", CRITICAL, deps=("x",)),
        cand("dep-missing", CRITICAL, deps=("ghost",)),
        cand("doomed", CRITICAL, deps=("f",)),
        cand("first", HIGH),
        cand("second", NORMAL, waited=2),
        cand("third", NORMAL, waited=1),
        cand("fourth", LOW),
    ]
    phases = {one("x"): "Running", one("f"): "Failed"}
    result = run(candidates, Limits(2, None), running={one("x"): Resources()}, phases=phases)
    assert names(result.admit) == ["first"]
    positions = {k[1]: w.position for k, w in result.waiting.items()}
    assert positions == {
        "dep-wait": None,
        "dep-missing": None,
        "second": 1,
        "third": 2,
        "fourth": 3,
    }
    assert names(list(result.cancel)) == ["doomed"]


# --- properties ---------------------------------------------------------------------------

PRIORITIES = list(Priority)


@st.composite
def scenarios(
    draw: st.DrawFn,
) -> tuple[list[Candidate], dict[Key, Resources], Limits, dict[Key, str]]:
    amounts = st.builds(
        Resources,
        st.integers(0, 8).map(Decimal),
        st.integers(0, 8).map(lambda g: Decimal(g * GI)),
    )
    count = draw(st.integers(0, 12))
    candidates: list[Candidate] = []
    names_ = [f"w{i}" for i in range(count)]
    phases: dict[Key, str] = {}
    other = ["x0", "x1", "x2"]
    for i, name in enumerate(names_):
        deps = draw(st.lists(st.sampled_from([*names_[:i], *other, "ghost"]), max_size=2))
        candidates.append(
            Candidate(
                key=(draw(st.sampled_from(["ns-a", "ns-b"])), name),
                priority=draw(st.sampled_from(PRIORITIES)),
                created=NOW - timedelta(seconds=draw(st.integers(0, 1500))),
                estimated_duration_s=draw(st.none() | st.integers(0, 1000)),
                resources=draw(amounts),
                depends_on=tuple(dict.fromkeys(deps)),
            )
        )
        phases[candidates[-1].key] = "Queued"
    for namespace in ("ns-a", "ns-b"):
        for name in other:
            phase = draw(
                st.none() | st.sampled_from(["Succeeded", "Running", "Failed", "Cancelled"])
            )
            if phase is not None:
                phases[(namespace, name)] = phase
    running = {("ns-a", f"r{i}"): draw(amounts) for i in range(draw(st.integers(0, 4)))}
    capacity = draw(
        st.none()
        | st.builds(
            Resources,
            st.integers(0, 24).map(Decimal),
            st.integers(0, 24).map(lambda g: Decimal(g * GI)),
        )
    )
    limits = Limits(
        max_concurrent=draw(st.integers(0, 8)), capacity=capacity, halted=draw(st.booleans())
    )
    return candidates, running, limits, phases


@settings(max_examples=120, deadline=None)
@given(scenarios())
def test_schedule_properties(
    scenario: tuple[list[Candidate], dict[Key, Resources], Limits, dict[Key, str]],
) -> None:
    candidates, running, limits, phases = scenario
    result = schedule(candidates, running, limits, phases, NOW)
    by_key = {c.key: c for c in candidates}
    admitted = [by_key[k] for k in result.admit]

    # Every candidate lands in exactly one of admit, waiting, cancel.
    assert len(result.admit) == len(set(result.admit))
    assert set(result.admit) | set(result.waiting) | set(result.cancel) == set(by_key)
    assert len(result.admit) + len(result.waiting) + len(result.cancel) == len(candidates)

    # Never more than the free slots.
    assert len(admitted) <= max(0, limits.max_concurrent - len(running))

    # Never more than the capacity.
    used = sum((c.resources for c in admitted), sum(running.values(), Resources()))
    if limits.capacity is not None and admitted:
        assert used.fits_in(limits.capacity)

    # No non-CRITICAL start during a halt.
    if limits.halted:
        assert all(c.priority is Priority.CRITICAL for c in admitted)

    # Positions are exactly 1..k, given to the eligible waiting ones only.
    positions = sorted(w.position for w in result.waiting.values() if w.position is not None)
    assert positions == list(range(1, len(positions) + 1))
    for key, wait in result.waiting.items():
        dependency_wait = wait.reason in ("DependencyNotFound", "WaitingForDependencies")
        assert (wait.position is None) == dependency_wait, (key, wait)

    # Admitted and cancelled ones have their dependencies as the rules say.
    for candidate in admitted:
        assert all(phases[(candidate.key[0], d)] == "Succeeded" for d in candidate.depends_on)
    for key in result.cancel:
        namespace = key[0]
        deps = by_key[key].depends_on
        assert all((namespace, d) in phases for d in deps)
        assert any(phases[(namespace, d)] in ("Failed", "RolledBack", "Cancelled") for d in deps)

    # Each wait reason is true of the final state (capacity is never left idle for nothing).
    free_slots = limits.max_concurrent - len(running) - len(admitted)
    for key, wait in result.waiting.items():
        candidate = by_key[key]
        if wait.reason == "ConcurrencyLimit":
            assert free_slots <= 0
        elif wait.reason == "InsufficientCapacity":
            assert limits.capacity is not None
            assert not candidate.resources.fits_in(limits.capacity - used)
        elif wait.reason == "ExceedsCapacity":
            assert limits.capacity is not None
            assert not candidate.resources.fits_in(limits.capacity)
        elif wait.reason == "EmergencyHalt":
            assert limits.halted
            assert candidate.priority is not Priority.CRITICAL

    # Input order does not matter.
    again = schedule(list(reversed(candidates)), running, limits, phases, NOW)
    assert again == result
