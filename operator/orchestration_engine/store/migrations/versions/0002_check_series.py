"""The raw health-check series, its hourly roll-ups, and the indexes the report's queries use.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID: sa.types.TypeEngine[int] = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
REAL: sa.types.TypeEngine[float] = sa.Double().with_variant(sa.REAL(), "sqlite")

# (index name, table, columns)
INDEXES = (
    (
        "ix_service_registry_namespace_service_name_timestamp",
        "service_registry",
        ["namespace", "service_name", "timestamp"],
    ),
    (
        "ix_workflow_management_namespace_workflow_name_timestamp",
        "workflow_management",
        ["namespace", "workflow_name", "timestamp"],
    ),
    ("ix_orchestration_metrics_timestamp", "orchestration_metrics", ["timestamp"]),
    ("ix_events_timestamp", "events", ["timestamp"]),
    (
        "ix_health_checks_namespace_service_timestamp",
        "health_checks",
        ["namespace", "service", "timestamp"],
    ),
    ("ix_health_checks_timestamp", "health_checks", ["timestamp"]),
    ("ix_health_check_rollups_hour", "health_check_rollups", ["hour"]),
)


def upgrade() -> None:
    op.create_table(
        "health_checks",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("row_id", sa.String(64), nullable=False),
        sa.Column("timestamp", sa.DateTime(timezone=True), nullable=False),
        sa.Column("namespace", sa.Text(), nullable=False),
        sa.Column("service", sa.Text(), nullable=False),
        sa.Column("ok", sa.Boolean(), nullable=False),
        sa.Column("latency_ms", REAL, nullable=True),
        sa.Column("health", sa.Text(), nullable=True),
        sa.Column("message", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_health_checks"),
        sa.UniqueConstraint("row_id", name="uq_health_checks_row_id"),
        sqlite_autoincrement=True,
    )
    op.create_table(
        "health_check_rollups",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("row_id", sa.String(64), nullable=False),
        sa.Column("namespace", sa.Text(), nullable=False),
        sa.Column("service", sa.Text(), nullable=False),
        sa.Column("hour", sa.DateTime(timezone=True), nullable=False),
        sa.Column("checks", sa.Integer(), nullable=False),
        sa.Column("passed", sa.Integer(), nullable=False),
        sa.Column("latency_sum_ms", REAL, nullable=False),
        sa.Column("latency_max_ms", REAL, nullable=True),
        sa.Column("latency_count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_health_check_rollups"),
        sa.UniqueConstraint("row_id", name="uq_health_check_rollups_row_id"),
        sa.UniqueConstraint(
            "namespace", "service", "hour", name="uq_health_check_rollups_namespace_service_hour"
        ),
        sqlite_autoincrement=True,
    )
    for name, table, columns in INDEXES:
        op.create_index(name, table, columns)


def downgrade() -> None:
    for name, table, _columns in reversed(INDEXES):
        op.drop_index(name, table_name=table)
    op.drop_table("health_check_rollups")
    op.drop_table("health_checks")
