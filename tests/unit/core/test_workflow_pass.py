"""A scheduling pass's choices for each workflow: phase and flags in, what to do out."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from orchestration_engine.api.workflow import WorkflowPhase
from orchestration_engine.core.scheduler import Wait
from orchestration_engine.core.workflow_pass import (
    Triage,
    cycle_problem,
    dependency_graphs,
    triage,
    waiting_phase,
)
from orchestration_engine.core.workflow_run import RUNNING_PHASES, TERMINAL_PHASES

P = WorkflowPhase
WAITING = (P.PENDING, P.QUEUED, P.HALTED, P.SUSPENDED)


# (phase, problems, has_spec, suspend) -> what the pass does
TABLE = [
    *(((phase, True, False, True), Triage.COMPACT) for phase in TERMINAL_PHASES),
    # Problems stall a waiting workflow, but not a running one.
    ((P.QUEUED, True, True, True), Triage.STALLED),
    ((P.RUNNING, True, True, False), Triage.RESUME),
    # An admitted workflow resumes even without a spec.
    *(((phase, False, False, False), Triage.RESUME) for phase in RUNNING_PHASES),
    # Suspended is written once.
    ((P.QUEUED, False, True, True), Triage.SUSPEND),
    ((P.SUSPENDED, False, True, True), Triage.SKIP),
    # The rest go to the scheduler; one without a spec waits for it.
    *(((phase, False, True, False), Triage.SCHEDULE) for phase in WAITING),
    *(((phase, False, False, False), Triage.SKIP) for phase in WAITING),
]


def test_triage_table() -> None:
    for (phase, problems, has_spec, suspend), expected in TABLE:
        chosen = triage(phase, problems=problems, has_spec=has_spec, suspend=suspend)
        assert chosen is expected, (phase, problems, has_spec, suspend)


@settings(deadline=None)  # a shared, loaded machine: time says nothing here
@given(
    phase=st.sampled_from(list(WorkflowPhase)),
    problems=st.booleans(),
    has_spec=st.booleans(),
    suspend=st.booleans(),
)
def test_triage_is_total_and_never_schedules_a_running_or_finished_one(
    phase: WorkflowPhase, problems: bool, has_spec: bool, suspend: bool
) -> None:
    chosen = triage(phase, problems=problems, has_spec=has_spec, suspend=suspend)
    if chosen is Triage.SCHEDULE:
        assert phase not in RUNNING_PHASES
        assert phase not in TERMINAL_PHASES
        assert has_spec
        assert not problems
        assert not suspend
    assert (chosen is Triage.RESUME) == (phase in RUNNING_PHASES)


def test_waiting_phase() -> None:
    assert waiting_phase(Wait("WaitingForDependencies", "a"), P.QUEUED) is P.PENDING
    assert waiting_phase(Wait("EmergencyHalt", "halt", 1), P.HALTED) is P.HALTED
    assert waiting_phase(Wait("EmergencyHalt", "halt", 1), P.PENDING) is P.QUEUED
    assert waiting_phase(Wait("Capacity", "full", 3), P.HALTED) is P.QUEUED


def test_dependency_graphs_per_namespace() -> None:
    graphs = dependency_graphs({("a", "x"): ("y",), ("a", "y"): (), ("b", "x"): ["z"]})
    assert graphs == {"a": {"x": ["y"], "y": []}, "b": {"x": ["z"]}}


def test_a_cycle_is_named_from_the_workflow_that_waits() -> None:
    graph = {"a": ["b"], "b": ["c"], "c": ["a"], "d": ["a"]}
    assert cycle_problem(graph, "b") == (
        "dependsOn forms a cycle: b -> c -> a -> b (each workflow depends on the next)"
    )
    assert cycle_problem(graph, "d") is None  # waits on a cycle, but is not in one
    assert cycle_problem({"a": ["missing"]}, "a") is None
