"""OrchestrationWorkflow: a DAG of operational steps, scheduled by priority."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import ConfigDict, Field, ValidationError, field_validator, model_validator

from orchestration_engine.api.base import Model, StatusModel, cel, validations
from orchestration_engine.api.bounds import (
    MAX_EXPECTED_STATUS,
    MAX_HEADER_VALUE_LENGTH,
    MAX_HEADERS,
    MAX_SECONDS,
    MAX_SERVICES,
)
from orchestration_engine.api.common import (
    DNS_LABEL,
    Conditions,
    ObjectName,
    Priority,
    ResourceAmounts,
    WorkloadRef,
)

KIND = "OrchestrationWorkflow"
PLURAL = "orchestrationworkflows"
MAX_STEPS = 64
MAX_STEP_DEPENDENCIES = 32
MAX_TTL_SECONDS = 2**31 - 1  # a Job's ttlSecondsAfterFinished is an int32 too


class WorkflowType(StrEnum):
    OPTIMIZATION = "optimization"
    MONITORING = "monitoring"
    SCALING = "scaling"
    MAINTENANCE = "maintenance"
    RECOVERY = "recovery"


class StepAction(StrEnum):
    SCALE = "scale"
    RESTART = "restart"
    FAILOVER = "failover"
    FAILBACK = "failback"
    WAIT_HEALTHY = "waitHealthy"
    HTTP = "http"
    JOB = "job"
    PATCH = "patch"
    DELAY = "delay"


class WorkflowPhase(StrEnum):
    PENDING = "Pending"
    QUEUED = "Queued"
    RUNNING = "Running"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"
    ROLLING_BACK = "RollingBack"
    ROLLED_BACK = "RolledBack"
    SUSPENDED = "Suspended"
    HALTED = "Halted"
    CANCELLED = "Cancelled"


class StepPhase(StrEnum):
    PENDING = "Pending"
    RUNNING = "Running"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"
    SKIPPED = "Skipped"


# --- per-action parameters: checked offline (plan, webhook) and again before a step runs ---


class _TargetParams(Model):
    """A step that acts on a workload, named directly or through an OrchestratedService."""

    service: ObjectName | None = None
    workload_ref: WorkloadRef | None = None

    @model_validator(mode="after")
    def _one_target(self) -> _TargetParams:
        if (self.service is None) == (self.workload_ref is None):
            raise ValueError("takes exactly one of service or workloadRef")
        return self


class ScaleParams(_TargetParams):
    replicas: int = Field(ge=0, le=10000)


class RestartParams(_TargetParams):
    pass


class ServiceParams(Model):
    service: ObjectName


class WaitHealthyParams(Model):
    services: list[ObjectName] = Field(min_length=1, max_length=MAX_SERVICES)


class HttpMethod(StrEnum):
    GET = "GET"
    POST = "POST"
    PUT = "PUT"
    PATCH = "PATCH"
    DELETE = "DELETE"
    HEAD = "HEAD"


HttpStatus = Annotated[int, Field(ge=100, le=599)]
HeaderValue = Annotated[str, Field(max_length=MAX_HEADER_VALUE_LENGTH)]


class HttpParams(Model):
    url: str = Field(max_length=2048, pattern=r"^https?://[^\s/]+")
    method: HttpMethod = HttpMethod.GET
    headers: dict[str, HeaderValue] = Field(default_factory=dict, max_length=MAX_HEADERS)
    body: str | dict[str, Any] | list[Any] | None = None
    expected_status: list[HttpStatus] = Field(
        default_factory=lambda: [200], min_length=1, max_length=MAX_EXPECTED_STATUS
    )


class JobParams(Model):
    template: dict[str, Any]

    @field_validator("template")
    @classmethod
    def _has_pod_template(cls, template: dict[str, Any]) -> dict[str, Any]:
        if not isinstance(template.get("template"), dict):
            raise ValueError("template must be a batch/v1 Job spec with a pod `template`")
        return template


class PatchTarget(Model):
    api_version: str = Field(min_length=1, max_length=253)
    kind: str = Field(min_length=1, max_length=63)
    name: ObjectName


class PatchParams(Model):
    target: PatchTarget
    patch: dict[str, Any] = Field(min_length=1)


class DelayParams(Model):
    seconds: float = Field(ge=0, le=86400)


PARAMS_BY_ACTION: dict[StepAction, type[Model]] = {
    StepAction.SCALE: ScaleParams,
    StepAction.RESTART: RestartParams,
    StepAction.FAILOVER: ServiceParams,
    StepAction.FAILBACK: ServiceParams,
    StepAction.WAIT_HEALTHY: WaitHealthyParams,
    StepAction.HTTP: HttpParams,
    StepAction.JOB: JobParams,
    StepAction.PATCH: PatchParams,
    StepAction.DELAY: DelayParams,
}


class StepParams(Model):
    """Every key any action takes. The CRD's schema for ``params``: the server checks each
    key's type and CEL can test which are present; the per-action model then checks that the
    keys fit the step's action (offline, in ``plan`` and in the operator)."""

    service: ObjectName | None = None
    workload_ref: WorkloadRef | None = None
    replicas: int | None = Field(default=None, ge=0, le=10000)
    services: list[ObjectName] | None = Field(default=None, max_length=MAX_SERVICES)
    url: str | None = Field(default=None, max_length=2048)
    method: HttpMethod | None = None
    headers: dict[str, HeaderValue] | None = Field(default=None, max_length=MAX_HEADERS)
    body: str | dict[str, Any] | list[Any] | None = None
    expected_status: list[HttpStatus] | None = Field(default=None, max_length=MAX_EXPECTED_STATUS)
    template: dict[str, Any] | None = None
    target: PatchTarget | None = None
    patch: dict[str, Any] | None = None
    seconds: float | None = Field(default=None, ge=0, le=86400)


def _step_rule(rule: str, message: str) -> dict[str, str]:
    """A rule on one step whose message names the step."""
    return cel(rule, message, messageExpression=f'"step \'" + self.name + "\': {message}"')


# Server-side checks that a step has the params its action needs; PARAMS_BY_ACTION is the
# full check.
_PARAM_RULES = [
    _step_rule(
        "self.action != 'job' || has(self.params.template)",
        "a job step needs params.template (a batch/v1 Job spec)",
    ),
    _step_rule(
        "self.action != 'scale' || (has(self.params.replicas))",
        "a scale step needs params.replicas",
    ),
    _step_rule(
        "self.action != 'http' || (has(self.params.url))",
        "an http step needs params.url",
    ),
    _step_rule(
        "self.action != 'delay' || (has(self.params.seconds))",
        "a delay step needs params.seconds",
    ),
    _step_rule(
        "self.action != 'waitHealthy' || (has(self.params.services))",
        "a waitHealthy step needs params.services",
    ),
    _step_rule(
        "self.action != 'patch' || (has(self.params.target) && has(self.params.patch))",
        "a patch step needs params.target and params.patch",
    ),
    _step_rule(
        "!(self.action in ['failover', 'failback']) || (has(self.params.service))",
        "a failover or failback step needs params.service",
    ),
]


class Step(Model):
    model_config = ConfigDict(json_schema_extra=validations(*_PARAM_RULES))

    name: str = Field(min_length=1, max_length=63, pattern=DNS_LABEL)
    action: StepAction
    params: StepParams = Field(default_factory=StepParams)
    depends_on: list[Annotated[str, Field(max_length=63)]] = Field(
        default_factory=list,
        max_length=MAX_STEP_DEPENDENCIES,
        json_schema_extra={"x-kubernetes-list-type": "set"},
    )
    timeout_seconds: int | None = Field(default=None, ge=1, le=86400)
    retries: int = Field(default=0, ge=0, le=20)

    @model_validator(mode="after")
    def _params_fit_action(self) -> Step:
        try:
            self.typed_params()
        except ValidationError as error:
            problems = "; ".join(
                "params" + "".join(f".{p}" for p in e["loc"]) + f": {e['msg']}"
                for e in error.errors()
            )
            raise ValueError(f"step {self.name!r} ({self.action.value}): {problems}") from None
        return self

    def typed_params(self) -> Model:
        """The params as the action's own model; raises ValidationError if they do not fit."""
        return PARAMS_BY_ACTION[self.action].model_validate(self.params.to_k8s())


def _unique_names_rule(what: str) -> dict[str, str]:
    return cel(
        "self.all(s, self.exists_one(t, t.name == s.name))",
        f"{what} names must be unique",
        # Names the first name written twice. Names are taken before filtering: the API
        # server's cost estimate of a filtered Step (whose params are free-form) is beyond the
        # messageExpression budget, and so is join(); hence the first offender only.
        messageExpression=(
            f'"{what} names must be unique: " + '
            'self.map(s, s.name).filter(n, !self.exists_one(t, t.name == n))[0] + " repeated"'
        ),
    )


class SuccessCriteria(Model):
    services_healthy: list[ObjectName] = Field(default_factory=list, max_length=64)


def _first_missing(*, with_dependency: bool) -> str:
    """CEL: "step 'b' dependsOn 'ghost'" (or "step 'b'") for the first step whose dependsOn
    names something that is not a step."""
    missing = "!self.steps.exists(t, t.name == d)"
    named = '"step \'" + s.name + "\'"'
    if with_dependency:
        named += f' + " dependsOn \'" + s.dependsOn.filter(d, {missing})[0] + "\'"'
    return (
        f"self.steps.map(s, has(s.dependsOn) && s.dependsOn.exists(d, {missing}) ? "
        f'{named} : "").filter(x, x != "")[0]'
    )


class WorkflowSpec(Model):
    model_config = ConfigDict(
        json_schema_extra=validations(
            cel(
                "self.steps.all(s, !has(s.dependsOn) || "
                "s.dependsOn.all(d, self.steps.exists(t, t.name == d)))",
                "a step's dependsOn names a step that does not exist",
                # The first offending step and the first name it depends on that is not a
                # step (join() and filtered Steps are beyond the messageExpression budget).
                # Over 32 steps, the step only: naming the dependency too costs twice the
                # rule, and at 64 steps of 32 missing names that exceeds the API server's
                # runtime budget, which then answers with the expression's text instead.
                messageExpression=(
                    '"a step\'s dependsOn names a step that does not exist: " + '
                    "(size(self.steps) <= 32 ? "
                    f"{_first_missing(with_dependency=True)} : "
                    f"{_first_missing(with_dependency=False)})"
                ),
            ),
            # What ran must stay what the status describes (a Job's template is immutable
            # for the same reason): a changed plan is a new workflow.
            cel(
                "self.steps == oldSelf.steps && "
                "(has(self.rollback) == has(oldSelf.rollback)) && "
                "(!has(self.rollback) || self.rollback == oldSelf.rollback)",
                "steps and rollback cannot change once the workflow exists; "
                "create a new workflow instead",
            ),
        )
    )

    display_name: str | None = Field(default=None, max_length=256)
    workflow_type: WorkflowType = WorkflowType.MAINTENANCE
    priority: Priority = Priority.NORMAL
    depends_on: list[ObjectName] = Field(
        default_factory=list, max_length=64, json_schema_extra={"x-kubernetes-list-type": "set"}
    )
    estimated_duration_seconds: int | None = Field(default=None, ge=0, le=MAX_SECONDS)
    resources: ResourceAmounts | None = None
    deadline_seconds: int | None = Field(default=None, ge=1, le=MAX_SECONDS)
    suspend: bool = False
    # Seconds after the workflow finished until the operator deletes it (as a Job's field of
    # the same name); unset: the engine's workflowRetention.ttlSecondsAfterFinished.
    ttl_seconds_after_finished: int | None = Field(default=None, ge=0, le=MAX_TTL_SECONDS)
    steps: list[Step] = Field(
        min_length=1,
        max_length=MAX_STEPS,
        json_schema_extra=validations(_unique_names_rule("step")),
    )
    success_criteria: SuccessCriteria | None = None
    rollback: list[Step] = Field(
        default_factory=list,
        max_length=MAX_STEPS,
        json_schema_extra=validations(_unique_names_rule("rollback step")),
    )

    @field_validator("steps", "rollback")
    @classmethod
    def _unique_step_names(cls, steps: list[Step]) -> list[Step]:
        names = [s.name for s in steps]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"step names must be unique: {', '.join(duplicates)} repeated")
        return steps


class StepStatus(StatusModel):
    name: str
    phase: StepPhase = StepPhase.PENDING
    attempts: int = 0
    started_at: datetime | None = None
    finished_at: datetime | None = None
    message: str | None = None


class WorkflowStatus(StatusModel):
    observed_generation: int | None = None
    phase: WorkflowPhase = WorkflowPhase.PENDING
    progress: float = 0.0
    queue_position: int | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    message: str | None = None
    # Why it failed, as a CamelCase reason (also the Succeeded condition's reason).
    reason: str | None = None
    steps: list[StepStatus] = Field(default_factory=list)
    rollback_steps: list[StepStatus] = Field(default_factory=list)
    conditions: Conditions


class OrchestrationWorkflow(Model):
    model_config = ConfigDict(extra="ignore")

    spec: WorkflowSpec
    status: WorkflowStatus = Field(default_factory=WorkflowStatus)
