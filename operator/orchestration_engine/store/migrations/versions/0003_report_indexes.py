"""The report's index on the health-check series: per-service totals and p95 without sorting.

``(namespace, service, ok, latency_ms, timestamp)`` covers every column the report reads, in
the order its p95 needs. It replaces ``(namespace, service, timestamp)``, which it makes
redundant for finding one service's checks: an index on the busiest table costs write rate
(on SQLite, keeping both took a third off the writer's throughput; the swap, a sixth).

Building it on a large PostgreSQL table blocks writes to ``health_checks`` until it is done
(CREATE INDEX CONCURRENTLY cannot run inside the migration's transaction); the store writer
buffers meanwhile, so nothing is lost, the rows only arrive late.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

REPORT = (
    "ix_health_checks_namespace_service_ok_latency_ms_timestamp",
    ["namespace", "service", "ok", "latency_ms", "timestamp"],
)
REPLACED = ("ix_health_checks_namespace_service_timestamp", ["namespace", "service", "timestamp"])


def upgrade() -> None:
    op.create_index(REPORT[0], "health_checks", REPORT[1])
    op.drop_index(REPLACED[0], table_name="health_checks")


def downgrade() -> None:
    op.create_index(REPLACED[0], "health_checks", REPLACED[1])
    op.drop_index(REPORT[0], table_name="health_checks")
