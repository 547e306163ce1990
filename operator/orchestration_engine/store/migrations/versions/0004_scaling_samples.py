"""The autoscaler's demand history: one row per service with scaling every demand bucket.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-24
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID: sa.types.TypeEngine[int] = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
REAL: sa.types.TypeEngine[float] = sa.Double().with_variant(sa.REAL(), "sqlite")

INDEXES = (
    (
        "ix_scaling_samples_namespace_service_timestamp",
        ["namespace", "service", "timestamp"],
    ),
    ("ix_scaling_samples_timestamp", ["timestamp"]),
)


def upgrade() -> None:
    op.create_table(
        "scaling_samples",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("row_id", sa.String(64), nullable=False),
        sa.Column("timestamp", sa.DateTime(timezone=True), nullable=False),
        sa.Column("namespace", sa.Text(), nullable=False),
        sa.Column("service", sa.Text(), nullable=False),
        sa.Column("replicas", sa.Integer(), nullable=False),
        sa.Column("p95_latency_ms", REAL, nullable=True),
        sa.Column("demand", REAL, nullable=False),
        sa.Column("forecast", REAL, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_scaling_samples"),
        sa.UniqueConstraint("row_id", name="uq_scaling_samples_row_id"),
        sqlite_autoincrement=True,
    )
    for name, columns in INDEXES:
        op.create_index(name, "scaling_samples", columns)


def downgrade() -> None:
    for name, _columns in reversed(INDEXES):
        op.drop_index(name, table_name="scaling_samples")
    op.drop_table("scaling_samples")
