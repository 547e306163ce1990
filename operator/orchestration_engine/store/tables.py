"""The metrics store's schema: the durable mirror of every decision the operator makes.

``service_registry``, ``workflow_management`` and ``orchestration_metrics`` keep the original
engine's columns, names and meaning (JSON documents as text, timestamps as ISO 8601 UTC text)
so that queries and dashboards written for it keep working; ``namespace`` is added where
objects are namespaced. ``events``, ``health_checks`` and ``health_check_rollups`` are new.

Every table has ``row_id``, a unique id chosen by the writer before the first attempt: a batch
whose commit outcome is unknown (the connection died during COMMIT) is simply sent again, and
``ON CONFLICT (row_id) DO NOTHING`` makes the second copy vanish.

The Alembic migrations in ``migrations/versions`` build exactly this; a test compares them.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    REAL,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Double,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator, TypeEngine

ROW_ID_LENGTH = 64

# Deterministic constraint names, so migrations can refer to them on every backend.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING_CONVENTION)


class UtcDateTime(TypeDecorator[datetime]):
    """``DateTime(timezone=True)`` that is UTC and timezone-aware on every backend.

    PostgreSQL has ``timestamptz``; SQLite stores the wall-clock text and forgets the offset,
    so values are turned into UTC on the way in (a naive one is taken to be UTC already) and
    given back their UTC offset on the way out. Range queries then mean the same everywhere.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        moment: datetime = value
        if moment.tzinfo is None:
            return moment.replace(tzinfo=UTC)
        return moment.astimezone(UTC)


def _id_type() -> TypeEngine[int]:
    # SQLite: INTEGER PRIMARY KEY is the rowid, as in the original schema. PostgreSQL: 64 bits,
    # because the check series alone can pass 2^31 rows within the life of a cluster.
    return BigInteger().with_variant(Integer(), "sqlite")


def _real() -> TypeEngine[float]:
    # SQLite: REAL, as the original (8-byte). PostgreSQL's REAL is 4-byte and would turn
    # 99.95 into 99.94999694824219, so DOUBLE PRECISION there.
    return Double().with_variant(REAL(), "sqlite")


def _id() -> Column[int]:
    return Column("id", _id_type(), primary_key=True, autoincrement=True)


def _row_id() -> Column[str]:
    return Column("row_id", String(ROW_ID_LENGTH), nullable=False)


def _text(name: str, *, nullable: bool = False) -> Column[str]:
    return Column(name, Text(), nullable=nullable)


def _int(name: str) -> Column[int]:
    return Column(name, Integer(), nullable=False)


def _float(name: str, *, nullable: bool = False) -> Column[float]:
    return Column(name, _real(), nullable=nullable)


def _moment(name: str) -> Column[datetime]:
    # A real timestamp type for the series that are queried by time range.
    return Column(name, UtcDateTime(), nullable=False)


service_registry = Table(
    "service_registry",
    metadata,
    _id(),
    _row_id(),
    _text("orchestration_id"),
    _text("namespace", nullable=True),
    _text("service_id"),
    _text("service_name"),
    _text("service_type"),
    _text("priority"),
    _text("health_status"),
    _text("resource_requirements"),  # JSON
    _text("dependencies"),  # JSON
    _text("configuration"),  # JSON
    _text("metrics"),  # JSON
    _text("last_health_check", nullable=True),  # ISO 8601
    _float("uptime_percentage"),
    _text("timestamp"),  # ISO 8601 UTC
    UniqueConstraint("row_id"),
    # The report: the latest row for each service.
    Index(None, "namespace", "service_name", "timestamp"),
    sqlite_autoincrement=True,
)

workflow_management = Table(
    "workflow_management",
    metadata,
    _id(),
    _row_id(),
    _text("orchestration_id"),
    _text("namespace", nullable=True),
    _text("workflow_id"),
    _text("workflow_name"),
    _text("workflow_type"),
    _text("priority"),
    _text("execution_plan"),  # JSON
    _text("dependencies"),  # JSON
    _int("estimated_duration"),
    _text("resource_allocation"),  # JSON
    _text("success_criteria"),  # JSON
    _text("rollback_plan"),  # JSON
    _text("status"),
    _float("progress"),
    _text("timestamp"),  # ISO 8601 UTC
    UniqueConstraint("row_id"),
    Index(None, "namespace", "workflow_name", "timestamp"),
    sqlite_autoincrement=True,
)

orchestration_metrics = Table(
    "orchestration_metrics",
    metadata,
    _id(),
    _row_id(),
    _text("orchestration_id"),
    _int("total_services"),
    _int("active_services"),
    _int("failed_services"),
    _int("healthy_services"),
    _int("warning_services"),
    _int("critical_services"),
    _int("total_workflows"),
    _int("completed_workflows"),
    _int("failed_workflows"),
    _float("average_response_time"),
    _text("resource_utilization"),  # JSON
    _float("optimization_score"),
    _float("reliability_score"),
    _float("performance_score"),
    _float("cost_efficiency"),
    Column("quantum_enhancement_active", Boolean(), nullable=False),
    _float("ai_optimization_score"),
    _text("timestamp"),  # ISO 8601 UTC
    UniqueConstraint("row_id"),
    Index(None, "timestamp"),
    sqlite_autoincrement=True,
)

events = Table(
    "events",
    metadata,
    _id(),
    _row_id(),
    _moment("timestamp"),
    _text("kind"),  # OrchestratedService | OrchestrationWorkflow | OrchestrationEngine | …
    _text("namespace", nullable=True),  # None for the cluster-scoped engine
    _text("name"),
    _text("reason"),
    _text("message"),
    Column("data", Text(), nullable=False, default="{}"),  # JSON
    UniqueConstraint("row_id"),
    Index(None, "timestamp"),
    sqlite_autoincrement=True,
)

health_checks = Table(
    "health_checks",
    metadata,
    _id(),
    _row_id(),
    _moment("timestamp"),
    _text("namespace"),
    _text("service"),
    Column("ok", Boolean(), nullable=False),
    _float("latency_ms", nullable=True),  # None when no answer came back
    _text("health", nullable=True),  # the service's health after this check
    _text("message", nullable=True),
    UniqueConstraint("row_id"),
    # The report (queries.py): covers its per-service totals, and orders each service's
    # passing latencies for the p95. It also finds one service's checks, so it replaced the
    # (namespace, service, timestamp) index of revision 0002: every index on this table costs
    # write rate (on SQLite, keeping both cost a third of the writer's throughput; the swap, a
    # sixth).
    Index(None, "namespace", "service", "ok", "latency_ms", "timestamp"),
    # Retention deletes by time alone.
    Index(None, "timestamp"),
    sqlite_autoincrement=True,
)

health_check_rollups = Table(
    "health_check_rollups",
    metadata,
    _id(),
    _row_id(),
    _text("namespace"),
    _text("service"),
    _moment("hour"),  # the start of the hour, UTC
    _int("checks"),
    _int("passed"),
    _float("latency_sum_ms"),
    _float("latency_max_ms", nullable=True),
    # Latency figures cover passing checks with a latency, as the report's do; the mean is
    # latency_sum_ms / latency_count.
    _int("latency_count"),
    UniqueConstraint("row_id"),
    UniqueConstraint("namespace", "service", "hour"),
    Index(None, "hour"),
    sqlite_autoincrement=True,
)

# One row per service with scaling every demand bucket (core/forecast.py): the history the
# predictive autoscaler forecasts from, kept as long as the raw checks.
scaling_samples = Table(
    "scaling_samples",
    metadata,
    _id(),
    _row_id(),
    _moment("timestamp"),  # the start of the bucket
    _text("namespace"),
    _text("service"),
    _int("replicas"),
    _float("p95_latency_ms", nullable=True),
    _float("demand"),  # replicas that would have met the latency target
    _float("forecast", nullable=True),  # what the forecast said for this bucket, if any
    UniqueConstraint("row_id"),
    Index(None, "namespace", "service", "timestamp"),
    Index(None, "timestamp"),
    sqlite_autoincrement=True,
)

# One row per optimiser round (docs/optimizer.md): the figures the engine's status shows, and
# the whole plan, which the status only samples.
optimization_runs = Table(
    "optimization_runs",
    metadata,
    _id(),
    _row_id(),
    _moment("timestamp"),
    _text("orchestration_id"),
    _text("strategy"),
    _text("solver"),
    _float("score"),
    _float("objective_value", nullable=True),  # the strategy's cost: lower is better
    _float("bound", nullable=True),
    Column("feasible", Boolean(), nullable=False),
    _int("services"),
    _int("changes"),
    _float("duration_ms"),
    _text("plan"),  # JSON: per service namespace, name, current, planned, reason
    _text("notes"),  # JSON list
    _text("recommendations"),  # JSON list, empty when enableAIDecisionMaking is off
    UniqueConstraint("row_id"),
    Index(None, "timestamp"),
    sqlite_autoincrement=True,
)

TABLES: dict[str, Table] = {table.name: table for table in metadata.sorted_tables}
