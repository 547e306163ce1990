"""OrchestrationEngine ``default``: the operator-wide configuration, phase and emergency halt."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import ConfigDict, Field

from orchestration_engine.api.base import Model, StatusModel
from orchestration_engine.api.bounds import MAX_SECONDS
from orchestration_engine.api.common import Conditions, ObjectName, ResourceAmounts
from orchestration_engine.api.workflow import MAX_TTL_SECONDS

KIND = "OrchestrationEngine"
PLURAL = "orchestrationengines"
SINGLETON_NAME = "default"
DEFAULT_HISTORY_LIMIT = 100
MAX_HISTORY_LIMIT = 100_000


class OptimizationStrategy(StrEnum):
    PERFORMANCE = "PERFORMANCE"
    COST = "COST"
    RELIABILITY = "RELIABILITY"
    SCALABILITY = "SCALABILITY"
    QUANTUM_ENHANCED = "QUANTUM_ENHANCED"


class EnginePhase(StrEnum):
    INITIALIZING = "INITIALIZING"
    ACTIVE = "ACTIVE"
    COORDINATING = "COORDINATING"
    OPTIMIZING = "OPTIMIZING"
    SCALING = "SCALING"
    MONITORING = "MONITORING"
    FAILOVER = "FAILOVER"
    MAINTENANCE = "MAINTENANCE"
    EMERGENCY_HALT = "EMERGENCY_HALT"
    COMPLETED = "COMPLETED"


class HaltReason(StrEnum):
    RESOURCE_EXHAUSTION = "ResourceExhaustion"
    SERVICE_FAILURES = "ServiceFailures"
    WORKFLOW_FAILURES = "WorkflowFailures"
    TIMEOUT = "Timeout"
    MANUAL = "Manual"


class Thresholds(Model):
    resource_percent: float = Field(default=95, gt=0, le=100)
    failed_services_percent: float = Field(default=50, gt=0, le=100)
    failed_workflows_percent: float = Field(default=30, gt=0, le=100)


class WorkflowRetention(Model):
    """How long finished workflows stay in the cluster (docs/workflows.md, "Retention").

    The store keeps every workflow's history whatever is deleted here.
    """

    # Unset: no workflow is deleted for its age (a workflow's own field still applies).
    ttl_seconds_after_finished: int | None = Field(default=None, ge=0, le=MAX_TTL_SECONDS)
    # Per namespace, as a CronJob's history limits: the newest that many of each outcome stay.
    successful_workflows_history_limit: int = Field(
        default=DEFAULT_HISTORY_LIMIT, ge=0, le=MAX_HISTORY_LIMIT
    )
    failed_workflows_history_limit: int = Field(
        default=DEFAULT_HISTORY_LIMIT, ge=0, le=MAX_HISTORY_LIMIT
    )


class SecretKeyRef(Model):
    """A key of a Secret; the engine is cluster-scoped, so the Secret's namespace is named."""

    namespace: ObjectName
    name: ObjectName
    key: str = Field(min_length=1, max_length=253)


class Notification(Model):
    """Where the emergency halt is announced: a POST of a small JSON document."""

    webhook_url: str = Field(max_length=2048, pattern=r"^https?://[^\s/]+")
    # Sent as ``Authorization: Bearer <token>``; read when sending, never logged.
    token_secret_ref: SecretKeyRef | None = None


def _default_capacity() -> ResourceAmounts:
    return ResourceAmounts(cpu="16", memory="64Gi")


class EngineSpec(Model):
    monitoring_interval_seconds: int = Field(default=30, ge=1, le=86400)
    optimization_interval_seconds: int = Field(default=300, ge=1, le=86400)
    failover_timeout_seconds: int = Field(default=60, ge=1, le=3600)
    max_concurrent_workflows: int = Field(default=10, ge=1, le=10000)
    capacity: ResourceAmounts = Field(
        default_factory=_default_capacity,
        json_schema_extra={"default": {"cpu": "16", "memory": "64Gi"}},
    )
    optimization_strategy: OptimizationStrategy = OptimizationStrategy.PERFORMANCE
    enable_quantum_optimization: bool = True
    # API.md spells it with "AI"; the generated camelCase would be enableAiDecisionMaking.
    enable_ai_decision_making: bool = Field(default=True, alias="enableAIDecisionMaking")
    auto_scaling_enabled: bool = True
    predictive_scaling: bool = True
    real_time_monitoring: bool = True
    emergency_halt_enabled: bool = True
    max_orchestration_duration_seconds: int = Field(default=86400, ge=1, le=MAX_SECONDS)
    halt: bool = False
    # Why a manual halt was asked for; `orchestration-engine halt --reason` sets it.
    halt_reason: str | None = Field(default=None, max_length=1024)
    thresholds: Thresholds = Field(default_factory=Thresholds, json_schema_extra={"default": {}})
    notification: Notification | None = None
    workflow_retention: WorkflowRetention = Field(
        default_factory=WorkflowRetention, json_schema_extra={"default": {}}
    )


class ServiceCounts(StatusModel):
    total: int = 0
    healthy: int = 0
    warning: int = 0
    degraded: int = 0
    critical: int = 0
    failed: int = 0
    unknown: int = 0


class WorkflowCounts(StatusModel):
    total: int = 0
    queued: int = 0
    running: int = 0
    succeeded: int = 0
    failed: int = 0


class Scores(StatusModel):
    optimization: float | None = None
    reliability: float | None = None
    performance: float | None = None
    cost_efficiency: float | None = None


class PlannedChange(StatusModel):
    namespace: str
    name: str
    current: int
    planned: int
    reason: str = ""


class Optimization(StatusModel):
    """The optimiser's latest plan (docs/optimizer.md); the store keeps every plan whole."""

    strategy: OptimizationStrategy
    objective: OptimizationStrategy  # whose cost is minimised (QUANTUM_ENHANCED: PERFORMANCE)
    solver: str  # greedy | anneal
    time: datetime
    duration_ms: float
    score: float  # = scores.optimization: the plan's cost between the floor and the bound
    cost: float | None = None
    bound: float | None = None
    feasible: bool
    capacity_binds: bool
    services: int  # services planned (those with ``scaling``)
    changes: int  # services whose planned count differs from their current one
    notes: list[str] = Field(default_factory=list)
    # The most important changes first, at most 20.
    planned_changes: list[PlannedChange] = Field(default_factory=list)


class Recommendation(StatusModel):
    namespace: str
    service: str
    kind: str  # scale | capacity | anomaly | forecast
    message: str
    evidence: dict[str, float] = Field(default_factory=dict)


class EngineStatus(StatusModel):
    observed_generation: int | None = None
    phase: EnginePhase = EnginePhase.INITIALIZING
    health_score: float | None = None
    services: ServiceCounts = Field(default_factory=ServiceCounts)
    workflows: WorkflowCounts = Field(default_factory=WorkflowCounts)
    scores: Scores = Field(default_factory=Scores)
    message: str | None = None
    # Written every minute and read back through the watch: the liveness probe's canary.
    heartbeat_time: datetime | None = None
    optimization: Optimization | None = None
    # From the optimiser, the anomaly detector and the forecasts (enableAIDecisionMaking).
    recommendations: list[Recommendation] = Field(default_factory=list)
    conditions: Conditions


class OrchestrationEngine(Model):
    model_config = ConfigDict(extra="ignore")

    spec: EngineSpec = Field(default_factory=EngineSpec)
    status: EngineStatus = Field(default_factory=EngineStatus)
