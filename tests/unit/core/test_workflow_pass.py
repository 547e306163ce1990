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


def test_finished_workflows_are_compacted_whatever_else_holds() -> None:
    for phase in TERMINAL_PHASES:
        assert triage(phase, problems=True, has_spec=False, suspend=True) is Triage.COMPACT


def test_problems_stall_a_waiting_workflow_but_not_a_running_one() -> None:
    assert triage(P.QUEUED, problems=True, has_spec=True, suspend=True) is Triage.STALLED
    assert triage(P.RUNNING, problems=True, has_spec=True, suspend=False) is Triage.RESUME


def test_an_admitted_workflow_resumes_even_without_a_spec() -> None:
    for phase in RUNNING_PHASES:
        assert triage(phase, problems=False, has_spec=False, suspend=False) is Triage.RESUME


def test_suspend_is_written_once() -> None:
    assert triage(P.QUEUED, problems=False, has_spec=True, suspend=True) is Triage.SUSPEND
    assert triage(P.SUSPENDED, problems=False, has_spec=True, suspend=True) is Triage.SKIP


def test_the_rest_go_to_the_scheduler_and_specless_ones_wait() -> None:
    for phase in (P.PENDING, P.QUEUED, P.HALTED, P.SUSPENDED):
        assert triage(phase, problems=False, has_spec=True, suspend=False) is Triage.SCHEDULE
        assert triage(phase, problems=False, has_spec=False, suspend=False) is Triage.SKIP


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
