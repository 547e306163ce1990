"""core.plan: a workflow's waves and rollback order."""

from __future__ import annotations

import pytest

from orchestration_engine.api.workflow import WorkflowSpec
from orchestration_engine.core import dag
from orchestration_engine.core.plan import plan_workflow


def spec(
    steps: list[dict[str, object]], rollback: list[dict[str, object]] | None = None
) -> WorkflowSpec:
    return WorkflowSpec.model_validate({"steps": steps, "rollback": rollback or []})


def delay(name: str, *deps: str) -> dict[str, object]:
    return {"name": name, "action": "delay", "params": {"seconds": 1}, "dependsOn": list(deps)}


def test_plan_of_a_diamond() -> None:
    result = plan_workflow(
        spec([delay("a"), delay("b", "a"), delay("c", "a"), delay("d", "b", "c")])
    )
    assert result.waves == [["a"], ["b", "c"], ["d"]]
    assert result.step_count == 4


def test_rollback_runs_last_step_first() -> None:
    result = plan_workflow(
        spec([delay("a")], rollback=[delay("undo-1"), delay("undo-2"), delay("undo-3")])
    )
    assert result.rollback_order == ["undo-3", "undo-2", "undo-1"]


def test_cycle_raises_naming_it() -> None:
    with pytest.raises(dag.GraphError, match=r"a -> b -> a"):
        plan_workflow(spec([delay("a", "b"), delay("b", "a")]))
