"""What one scheduling pass of the workflow controller does with each workflow (pure).

controllers/workflows/controller.py runs the pass; core/scheduler.py admits. Before the
scheduler, each workflow without a runner is sorted by ``triage``: a finished one is compacted,
one whose spec cannot be read shows its problems (Pending, Stalled), one admitted before
(Running, RollingBack: after a restart) gets a runner again, a suspended one says so, and the
rest are the scheduler's candidates. After it, each waiting workflow gets its phase from
``waiting_phase``, unless its ``dependsOn`` forms a cycle (``cycle_problem``): it can never
start, and says why.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from enum import StrEnum

from orchestration_engine.api.workflow import WorkflowPhase
from orchestration_engine.core import dag
from orchestration_engine.core.scheduler import Key, Wait
from orchestration_engine.core.workflow_run import RUNNING_PHASES, TERMINAL_PHASES

SUSPENDED = Wait("Suspended", "suspended (spec.suspend)")
DEPENDENCIES = "WaitingForDependencies"  # the scheduler's reason that a cycle can explain


class Triage(StrEnum):
    COMPACT = "Compact"  # finished: keep only what a finished one needs
    STALLED = "Stalled"  # its spec cannot be run: Pending, with its problems
    RESUME = "Resume"  # admitted before: a runner continues where its status says
    SUSPEND = "Suspend"  # spec.suspend, and not shown Suspended yet
    SKIP = "Skip"  # nothing to do (no spec, or already Suspended)
    SCHEDULE = "Schedule"  # a candidate for the scheduler


def triage(phase: WorkflowPhase, *, problems: bool, has_spec: bool, suspend: bool) -> Triage:
    """What the pass does with a workflow that has no runner."""
    if phase in TERMINAL_PHASES:
        return Triage.COMPACT
    if problems and phase not in RUNNING_PHASES:
        return Triage.STALLED
    if phase in RUNNING_PHASES:
        return Triage.RESUME
    if not has_spec:
        return Triage.SKIP
    if suspend:
        return Triage.SUSPEND if phase != WorkflowPhase.SUSPENDED else Triage.SKIP
    return Triage.SCHEDULE


def waiting_phase(wait: Wait, current: WorkflowPhase) -> WorkflowPhase:
    """The phase of a workflow the scheduler did not admit."""
    if wait.position is None:
        return WorkflowPhase.PENDING  # not eligible yet, so not in the queue
    if current == WorkflowPhase.HALTED and wait.reason == "EmergencyHalt":
        return WorkflowPhase.HALTED  # parked by the halt, and still held by it
    return WorkflowPhase.QUEUED


def dependency_graphs(
    depends_on: Mapping[Key, Sequence[str]],
) -> dict[str, dict[str, list[str]]]:
    """Each namespace's graph of workflow names to the names they depend on."""
    graphs: dict[str, dict[str, list[str]]] = {}
    for (namespace, name), deps in depends_on.items():
        graphs.setdefault(namespace, {})[name] = list(deps)
    return graphs


def cycle_problem(graph: Mapping[str, Sequence[str]], name: str) -> str | None:
    """Why ``name`` can never start when its ``dependsOn`` leads back to it; None otherwise."""
    cycle = dag.cycle_through(graph, name)
    if cycle is None:
        return None
    return f"dependsOn forms a cycle: {' -> '.join(cycle)} (each workflow depends on the next)"
