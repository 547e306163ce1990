"""OrchestratedService: one managed service, its health checks, failover and scaling."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import ConfigDict, Field, field_validator, model_validator

from orchestration_engine.api.base import Model, StatusModel, cel, validations
from orchestration_engine.api.bounds import MAX_LATENCY_MS
from orchestration_engine.api.common import (
    Conditions,
    LocalObjectRef,
    ObjectName,
    Priority,
    ResourceAmounts,
    WorkloadRef,
)

KIND = "OrchestratedService"
PLURAL = "orchestratedservices"


class ServiceType(StrEnum):
    DATABASE = "database"
    WEB = "web"
    MONITORING = "monitoring"
    ANALYTICS = "analytics"
    SECURITY = "security"
    ORCHESTRATION = "orchestration"
    OTHER = "other"


class Health(StrEnum):
    """Best first; UNKNOWN until the first check."""

    HEALTHY = "HEALTHY"
    WARNING = "WARNING"
    DEGRADED = "DEGRADED"
    CRITICAL = "CRITICAL"
    FAILED = "FAILED"
    UNKNOWN = "UNKNOWN"


class ActiveTarget(StrEnum):
    PRIMARY = "primary"
    STANDBY = "standby"


HttpStatus = Annotated[int, Field(ge=100, le=599)]


def _http_url() -> Any:
    """An absolute http(s) URL, checked by the API server (CEL) and by the model."""
    return Field(
        max_length=2048,
        json_schema_extra=validations(
            cel(
                "isURL(self) && (self.startsWith('http://') || self.startsWith('https://'))",
                "url must be an absolute http:// or https:// URL",
                messageExpression="'url must be an absolute http:// or https:// URL, not ' + self",
            )
        ),
    )


def _absolute_http_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("url must be an absolute http:// or https:// URL")
    return url


class HttpCheck(Model):
    url: str = _http_url()
    expected_status: list[HttpStatus] = Field(
        default_factory=lambda: [200],
        min_length=1,
        max_length=32,
        json_schema_extra={"default": [200]},
    )

    _url = field_validator("url")(_absolute_http_url)


class TcpCheck(Model):
    host: str = Field(min_length=1, max_length=253)
    port: int = Field(ge=1, le=65535)


class HealthCheck(Model):
    """One of ``http`` or ``tcp``; with neither, the workload's readiness alone decides."""

    model_config = ConfigDict(
        json_schema_extra=validations(
            cel(
                "!(has(self.http) && has(self.tcp))",
                "healthCheck takes one of http or tcp, not both",
            ),
            cel(
                "self.timeoutSeconds <= self.periodSeconds",
                # No messageExpression: the API server estimates string(int) as unbounded
                # and refuses the CRD; the message names both fields already.
                "timeoutSeconds must not exceed periodSeconds",
            ),
        )
    )

    http: HttpCheck | None = None
    tcp: TcpCheck | None = None
    period_seconds: int = Field(default=10, ge=1, le=86400)
    timeout_seconds: int = Field(default=1, ge=1, le=3600)
    failure_threshold: int = Field(default=3, ge=1, le=1000)
    success_threshold: int = Field(default=1, ge=1, le=1000)
    # Unset: latency never makes a passing service WARNING.
    warning_latency_ms: float | None = Field(default=None, gt=0, le=MAX_LATENCY_MS)

    @model_validator(mode="after")
    def _one_probe(self) -> HealthCheck:
        if self.http is not None and self.tcp is not None:
            raise ValueError("healthCheck takes one of http or tcp, not both")
        if self.timeout_seconds > self.period_seconds:
            raise ValueError("timeoutSeconds must not exceed periodSeconds")
        return self


class Failover(Model):
    standby_ref: WorkloadRef
    service_ref: LocalObjectRef
    # Unset: the engine's failoverTimeoutSeconds.
    timeout_seconds: int | None = Field(default=None, ge=1, le=3600)
    automatic_failback: bool = False
    # How long the primary must have been HEALTHY, and the failover must lie back, before an
    # automatic failback: the minimum interval between a failover and the switch back, so a
    # flapping primary costs at most one round trip per interval (docs/services.md).
    failback_delay_seconds: int = Field(default=300, ge=0, le=86400)


class PrometheusScaling(Model):
    """An external load signal: ``query``'s value is the whole service's load, ``target``
    the load one replica takes (replicas = ceil(value / target))."""

    url: str = _http_url()
    query: str = Field(min_length=1, max_length=4096)
    # Bounded below too: a load of 1e308 over a target of 1e-300 is no replica count.
    target: float = Field(ge=1e-6, le=1e15)

    _url = field_validator("url")(_absolute_http_url)


class Scaling(Model):
    model_config = ConfigDict(
        json_schema_extra=validations(
            cel(
                "self.minReplicas <= self.maxReplicas",
                "minReplicas must not exceed maxReplicas",
            )
        )
    )

    min_replicas: int = Field(default=1, ge=0, le=10000)
    max_replicas: int = Field(ge=1, le=10000)
    target_latency_ms: float | None = Field(default=None, gt=0, le=MAX_LATENCY_MS)
    scale_up_stabilization_seconds: int = Field(default=0, ge=0, le=3600)
    scale_down_stabilization_seconds: int = Field(default=300, ge=0, le=3600)
    predictive: bool = False
    prometheus: PrometheusScaling | None = None

    @model_validator(mode="after")
    def _bounds(self) -> Scaling:
        if self.min_replicas > self.max_replicas:
            raise ValueError("minReplicas must not exceed maxReplicas")
        return self


class Sla(Model):
    availability_percent: float = Field(default=99.9, gt=0, le=100)
    latency_ms: float | None = Field(default=None, gt=0, le=MAX_LATENCY_MS)


class ServiceSpec(Model):
    display_name: str | None = Field(default=None, max_length=256)
    service_type: ServiceType = ServiceType.OTHER
    priority: Priority = Priority.NORMAL
    workload_ref: WorkloadRef | None = None
    health_check: HealthCheck | None = None
    resources: ResourceAmounts | None = None
    depends_on: list[ObjectName] = Field(
        default_factory=list, max_length=64, json_schema_extra={"x-kubernetes-list-type": "set"}
    )
    failover: Failover | None = None
    scaling: Scaling | None = None
    sla: Sla | None = None

    @field_validator("depends_on")
    @classmethod
    def _unique(cls, names: list[str]) -> list[str]:
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"dependsOn lists {', '.join(duplicates)} more than once")
        return names


class ReplicaCounts(StatusModel):
    desired: int = 0
    ready: int = 0


class ServiceStatus(StatusModel):
    observed_generation: int | None = None
    health: Health = Health.UNKNOWN
    active_target: ActiveTarget = ActiveTarget.PRIMARY
    last_check_time: datetime | None = None
    last_latency_ms: float | None = None
    consecutive_failures: int = 0
    consecutive_successes: int = 0
    uptime_percent: float | None = None
    replicas: ReplicaCounts | None = None
    failover_count: int = 0
    last_failover_time: datetime | None = None
    last_scale_time: datetime | None = None
    message: str | None = None
    conditions: Conditions


class OrchestratedService(Model):
    """A whole object as read from the API server (metadata kept as a plain mapping)."""

    model_config = ConfigDict(extra="ignore")

    spec: ServiceSpec
    status: ServiceStatus = Field(default_factory=ServiceStatus)
