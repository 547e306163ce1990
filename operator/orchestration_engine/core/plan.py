"""A workflow's execution plan: its steps in waves and its rollback order."""

from __future__ import annotations

from dataclasses import dataclass

from orchestration_engine.api.workflow import Step, WorkflowSpec
from orchestration_engine.core import dag


@dataclass(frozen=True)
class WorkflowPlan:
    waves: list[list[str]]
    rollback_order: list[str]

    @property
    def step_count(self) -> int:
        return sum(len(w) for w in self.waves)


def step_graph(steps: list[Step]) -> dict[str, list[str]]:
    return {s.name: list(s.depends_on) for s in steps}


def plan_workflow(spec: WorkflowSpec) -> WorkflowPlan:
    """Raises dag.GraphError naming cycles and unknown step names."""
    return WorkflowPlan(
        waves=dag.waves(step_graph(spec.steps), what="step"),
        # Rollback steps undo in reverse: the last one written runs first.
        rollback_order=[s.name for s in reversed(spec.rollback)],
    )
