"""OrchestrationWorkflow handlers."""

from __future__ import annotations

from typing import Any

import kopf

from orchestration_engine.api.common import GROUP, VERSION
from orchestration_engine.api.workflow import PLURAL, WorkflowSpec
from orchestration_engine.core import dag
from orchestration_engine.core.plan import step_graph
from orchestration_engine.handlers.acceptance import acceptance_status, judge, on_spec_change


def workflow_problems(spec: dict[str, Any]) -> list[str]:
    problems = judge(WorkflowSpec, spec)
    if problems:
        return problems
    parsed = WorkflowSpec.model_validate(spec)
    return [p.message for p in dag.validate(step_graph(parsed.steps), what="step")]


async def accept_workflow(
    spec: kopf.Spec, status: kopf.Status, meta: kopf.Meta, patch: kopf.Patch, **_: Any
) -> None:
    problems = workflow_problems(dict(spec))
    patch.status.update(
        acceptance_status(
            dict(status), meta.get("generation"), problems, ready_message="the spec is accepted"
        )
    )


async def workflow_event(event: kopf.RawEvent, memo: kopf.Memo, **_: Any) -> None:
    memo.workflows.observe(event.get("type"), event["object"])


def register(registry: kopf.OperatorRegistry) -> None:
    on_spec_change(registry, PLURAL, accept_workflow)
    kopf.on.event(GROUP, VERSION, PLURAL, registry=registry)(workflow_event)
