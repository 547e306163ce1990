"""What the operator knows of one OrchestrationWorkflow, kept from its watch events."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from orchestration_engine.api import errors
from orchestration_engine.api.common import API_VERSION, Condition
from orchestration_engine.api.workflow import KIND, WorkflowSpec, WorkflowStatus
from orchestration_engine.core import dag
from orchestration_engine.core.plan import step_graph
from orchestration_engine.core.quantity import parse_quantity
from orchestration_engine.core.scheduler import Candidate, Key, Resources
from orchestration_engine.kube.events import ObjectRef

# Top-level status fields the operator clears by writing null (a merge patch keeps what it
# does not mention).
CLEARABLE = ("queuePosition", "startedAt", "finishedAt", "message", "reason")


def spec_problems(spec: Mapping[str, Any]) -> tuple[WorkflowSpec | None, str | None]:
    """The parsed spec, or why it cannot run (every problem, each naming what is wrong)."""
    try:
        parsed = WorkflowSpec.model_validate(dict(spec))
    except ValidationError as error:
        return None, "; ".join(errors.describe(error))
    problems = [p.message for p in dag.validate(step_graph(parsed.steps), what="step")]
    if problems:
        return None, "; ".join(problems)
    return parsed, None


def resources_of(spec: WorkflowSpec) -> Resources:
    if spec.resources is None:
        return Resources()
    cpu, memory = spec.resources.cpu, spec.resources.memory
    return Resources(
        parse_quantity(cpu) if cpu is not None else Resources().cpu,
        parse_quantity(memory) if memory is not None else Resources().memory,
    )


def resource_version(body: Mapping[str, Any]) -> int:
    """etcd revisions: comparable numbers in practice, though the API calls them opaque."""
    try:
        return int(body.get("metadata", {}).get("resourceVersion") or 0)
    except ValueError:
        return 0


def as_conditions(conditions: list[dict[str, Any]]) -> list[Condition]:
    return [Condition.model_validate(c) for c in conditions]


def status_patch(status: WorkflowStatus) -> dict[str, Any]:
    body = status.model_dump(mode="json", by_alias=True, exclude_none=True)
    for name in CLEARABLE:
        body.setdefault(name, None)
    return body


@dataclass
class WorkflowRecord:
    key: Key
    uid: str
    generation: int | None
    created: datetime
    spec: WorkflowSpec | None
    problems: str | None
    status: WorkflowStatus
    resource_version: int = 0
    # What the controller last wrote or saw, to skip writes that change nothing.
    written: dict[str, Any] | None = None
    written_at: float = 0.0
    # What the controller's last write said (phase, wait, problems, generation).
    signature: tuple[Any, ...] | None = None

    @classmethod
    def from_body(cls, body: Mapping[str, Any]) -> WorkflowRecord:
        meta = body.get("metadata", {})
        spec, problems = spec_problems(body.get("spec") or {})
        created = meta.get("creationTimestamp")
        return cls(
            key=(str(meta.get("namespace", "")), str(meta.get("name", ""))),
            uid=str(meta.get("uid", "")),
            generation=meta.get("generation"),
            created=_parse_time(created) if created else datetime.now(UTC),
            spec=spec,
            problems=problems,
            status=_parse_status(body.get("status") or {}),
            resource_version=resource_version(body),
        )

    def update_spec(self, body: Mapping[str, Any]) -> bool:
        """True if the generation moved (the spec changed)."""
        generation = body.get("metadata", {}).get("generation")
        if generation == self.generation:
            return False
        self.generation = generation
        spec, problems = spec_problems(body.get("spec") or {})
        if spec is not None or self.spec is None:
            self.spec, self.problems = spec, problems
        else:
            # A running workflow keeps the last spec that could run; the problem is shown.
            self.problems = problems
        return True

    def candidate(self) -> Candidate:
        assert self.spec is not None
        return Candidate(
            key=self.key,
            priority=self.spec.priority,
            created=self.created,
            estimated_duration_s=self.spec.estimated_duration_seconds,
            resources=resources_of(self.spec),
            depends_on=tuple(self.spec.depends_on),
        )

    def ref(self) -> ObjectRef:
        return ObjectRef(API_VERSION, KIND, self.key[0], self.key[1], self.uid)


def status_of(body: Mapping[str, Any]) -> WorkflowStatus:
    """The status an object holds, as the operator reads it."""
    return _parse_status(body.get("status") or {})


def _parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _parse_status(raw: Mapping[str, Any]) -> WorkflowStatus:
    try:
        return WorkflowStatus.model_validate(dict(raw))
    except ValidationError:
        # Unreadable status (edited by hand, or an incompatible version): start afresh
        # rather than refuse the object.
        return WorkflowStatus()
