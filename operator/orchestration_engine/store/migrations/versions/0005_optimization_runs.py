"""The optimiser's rounds: one row per plan, with the whole plan.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-24
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID: sa.types.TypeEngine[int] = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
REAL: sa.types.TypeEngine[float] = sa.Double().with_variant(sa.REAL(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "optimization_runs",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("row_id", sa.String(64), nullable=False),
        sa.Column("timestamp", sa.DateTime(timezone=True), nullable=False),
        sa.Column("orchestration_id", sa.Text(), nullable=False),
        sa.Column("strategy", sa.Text(), nullable=False),
        sa.Column("solver", sa.Text(), nullable=False),
        sa.Column("score", REAL, nullable=False),
        sa.Column("objective_value", REAL, nullable=True),
        sa.Column("bound", REAL, nullable=True),
        sa.Column("feasible", sa.Boolean(), nullable=False),
        sa.Column("services", sa.Integer(), nullable=False),
        sa.Column("changes", sa.Integer(), nullable=False),
        sa.Column("duration_ms", REAL, nullable=False),
        sa.Column("plan", sa.Text(), nullable=False),
        sa.Column("notes", sa.Text(), nullable=False),
        sa.Column("recommendations", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_optimization_runs"),
        sa.UniqueConstraint("row_id", name="uq_optimization_runs_row_id"),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_optimization_runs_timestamp", "optimization_runs", ["timestamp"])


def downgrade() -> None:
    op.drop_index("ix_optimization_runs_timestamp", table_name="optimization_runs")
    op.drop_table("optimization_runs")
