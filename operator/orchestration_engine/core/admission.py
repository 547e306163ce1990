"""Admission review of our three kinds: pure, the object and its neighbours in, a verdict out.

The same checks ``plan`` and the operator make (the pydantic models, the step graph), plus
the ones that need other objects, which the CRD's schema and CEL rules cannot make:

- rejected: a second OrchestrationEngine (it is a singleton named ``default``); a service
  whose ``dependsOn`` closes a cycle with existing services; a failover whose standby is the
  primary itself; anything the models or the step graph reject;
- warned (allowed): references to services or workflows that do not exist yet. GitOps tools
  apply a directory in no particular order, so refusing a forward reference would make a
  valid set of files fail to sync; the operator reports a reference still missing once it
  acts (``Stalled``, ``WaitingForDependencies``).

Deletes are never reviewed: the webhook is registered for CREATE and UPDATE only.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from orchestration_engine.api import errors
from orchestration_engine.api.engine import SINGLETON_NAME, EngineSpec
from orchestration_engine.api.service import ServiceSpec
from orchestration_engine.api.workflow import StepAction, WorkflowSpec
from orchestration_engine.core import dag
from orchestration_engine.core.plan import plan_workflow


@dataclass(frozen=True)
class Neighbours:
    """What the review needs of the object's namespace: the OrchestratedServices (name →
    its ``dependsOn``) and the OrchestrationWorkflows' names."""

    services: Mapping[str, Sequence[str]] = field(default_factory=dict)
    workflows: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    message: str = ""
    warnings: tuple[str, ...] = ()


def _rejected(problems: Sequence[str]) -> Verdict:
    return Verdict(False, "; ".join(problems))


def review_engine(name: str, spec: Mapping[str, Any]) -> Verdict:
    if name != SINGLETON_NAME:
        return Verdict(
            False,
            f"the OrchestrationEngine is a singleton named {SINGLETON_NAME!r}; "
            f"edit that one instead of creating {name!r}",
        )
    try:
        EngineSpec.model_validate(spec)
    except ValidationError as error:
        return _rejected(errors.describe(error))
    return Verdict(True)


def review_service(name: str, spec_body: Mapping[str, Any], neighbours: Neighbours) -> Verdict:
    try:
        spec = ServiceSpec.model_validate(spec_body)
    except ValidationError as error:
        return _rejected(errors.describe(error))
    failover = spec.failover
    if (
        failover is not None
        and spec.workload_ref is not None
        and failover.standby_ref == spec.workload_ref
    ):
        return Verdict(False, "failover.standbyRef names the primary workloadRef itself")
    graph = {n: list(deps) for n, deps in neighbours.services.items()}
    graph[name] = list(spec.depends_on)
    cycle = dag.cycle_through(graph, name)
    if cycle:
        return Verdict(False, "dependsOn would close a cycle: " + " -> ".join(cycle))
    missing = [d for d in spec.depends_on if d not in neighbours.services]
    warnings = []
    if missing:
        warnings.append("dependsOn names services that do not exist yet: " + ", ".join(missing))
    return Verdict(True, warnings=tuple(warnings))


def _services_named(spec: WorkflowSpec) -> list[str]:
    named: list[str] = []
    for step in [*spec.steps, *spec.rollback]:
        params = step.params
        if params.service:
            named.append(params.service)
        if step.action is StepAction.WAIT_HEALTHY and params.services:
            named.extend(params.services)
    if spec.success_criteria is not None:
        named.extend(spec.success_criteria.services_healthy)
    return list(dict.fromkeys(named))


def review_workflow(name: str, spec_body: Mapping[str, Any], neighbours: Neighbours) -> Verdict:
    try:
        spec = WorkflowSpec.model_validate(spec_body)
    except ValidationError as error:
        return _rejected(errors.describe(error))
    try:
        plan_workflow(spec)
    except dag.GraphError as error:
        return _rejected([str(p.message) for p in error.problems])
    warnings = []
    services = [s for s in _services_named(spec) if s not in neighbours.services]
    if services:
        warnings.append("steps name services that do not exist yet: " + ", ".join(services))
    workflows = [w for w in spec.depends_on if w not in neighbours.workflows and w != name]
    if workflows:
        warnings.append("dependsOn names workflows that do not exist yet: " + ", ".join(workflows))
    return Verdict(True, warnings=tuple(warnings))
