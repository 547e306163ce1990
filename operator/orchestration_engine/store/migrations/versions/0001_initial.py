"""The original engine's three tables, with namespace and row_id, and the events audit table.

Revision ID: 0001
Revises:
Create Date: 2026-11-24
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Migrations are frozen in time: they spell out their types instead of importing tables.py.
ID: sa.types.TypeEngine[int] = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
REAL: sa.types.TypeEngine[float] = sa.Double().with_variant(sa.REAL(), "sqlite")


def _id() -> sa.Column[int]:
    return sa.Column("id", ID, primary_key=True, autoincrement=True)


def _row_id(table: str) -> list[sa.schema.SchemaItem]:
    return [
        sa.Column("row_id", sa.String(64), nullable=False),
        sa.UniqueConstraint("row_id", name=f"uq_{table}_row_id"),
    ]


def _text(name: str, *, nullable: bool = False) -> sa.Column[str]:
    return sa.Column(name, sa.Text(), nullable=nullable)


def _int(name: str) -> sa.Column[int]:
    return sa.Column(name, sa.Integer(), nullable=False)


def _real(name: str) -> sa.Column[float]:
    return sa.Column(name, REAL, nullable=False)


def upgrade() -> None:
    op.create_table(
        "service_registry",
        _id(),
        *_row_id("service_registry"),
        _text("orchestration_id"),
        _text("namespace", nullable=True),
        _text("service_id"),
        _text("service_name"),
        _text("service_type"),
        _text("priority"),
        _text("health_status"),
        _text("resource_requirements"),
        _text("dependencies"),
        _text("configuration"),
        _text("metrics"),
        _text("last_health_check", nullable=True),
        _real("uptime_percentage"),
        _text("timestamp"),
        sa.PrimaryKeyConstraint("id", name="pk_service_registry"),
        sqlite_autoincrement=True,
    )
    op.create_table(
        "workflow_management",
        _id(),
        *_row_id("workflow_management"),
        _text("orchestration_id"),
        _text("namespace", nullable=True),
        _text("workflow_id"),
        _text("workflow_name"),
        _text("workflow_type"),
        _text("priority"),
        _text("execution_plan"),
        _text("dependencies"),
        _int("estimated_duration"),
        _text("resource_allocation"),
        _text("success_criteria"),
        _text("rollback_plan"),
        _text("status"),
        _real("progress"),
        _text("timestamp"),
        sa.PrimaryKeyConstraint("id", name="pk_workflow_management"),
        sqlite_autoincrement=True,
    )
    op.create_table(
        "orchestration_metrics",
        _id(),
        *_row_id("orchestration_metrics"),
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
        _real("average_response_time"),
        _text("resource_utilization"),
        _real("optimization_score"),
        _real("reliability_score"),
        _real("performance_score"),
        _real("cost_efficiency"),
        sa.Column("quantum_enhancement_active", sa.Boolean(), nullable=False),
        _real("ai_optimization_score"),
        _text("timestamp"),
        sa.PrimaryKeyConstraint("id", name="pk_orchestration_metrics"),
        sqlite_autoincrement=True,
    )
    op.create_table(
        "events",
        _id(),
        *_row_id("events"),
        sa.Column("timestamp", sa.DateTime(timezone=True), nullable=False),
        _text("kind"),
        _text("namespace", nullable=True),
        _text("name"),
        _text("reason"),
        _text("message"),
        _text("data"),
        sa.PrimaryKeyConstraint("id", name="pk_events"),
        sqlite_autoincrement=True,
    )


def downgrade() -> None:
    for table in ("events", "orchestration_metrics", "workflow_management", "service_registry"):
        op.drop_table(table)
