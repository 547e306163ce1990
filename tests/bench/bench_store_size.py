"""Benchmark: what a row of each table costs on disk in SQLite, and how long a store lasts.

Rows shaped as the operator writes them (controllers/services/store_sink.py and the other producers:
names of realistic length, the usual messages and JSON documents) go through StoreWriter into
a fresh, migrated SQLite file; SQLite's `dbstat` table then gives each table's pages, indexes
included, and the bytes per row follow. From those, at 1,000 services checked every 10 s
(the default `periodSeconds`): how fast the store grows, how long the raw checks of 7 days
would need, how long the chart's budget holds raw checks before retention by size rolls them
up early, and what 90 days of roll-ups take.

Run: `python tests/bench/bench_store_size.py` (about half a minute). The figures are in
docs/report.md ("Store sizing").
"""

from __future__ import annotations

import asyncio
import json
import random
import sqlite3
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from orchestration_engine.store import StoreWriter, upgrade
from orchestration_engine.store.sizing import SQLITE_ROW_BYTES

ROWS = 20_000
SERVICES = 1_000
PERIOD_S = 10
BUDGET = int(0.8 * 2 * 2**30)  # the chart's default: 80% of a 2Gi volume
RAW_DAYS, ROLLUP_DAYS = 7, 90
RNG = random.Random(7)  # noqa: S311 (sample data, not secrets)


def _service(i: int) -> tuple[str, str]:
    return f"team-{i % 40:02d}", f"checkout-api-{i:04d}"


def rows_of(table: str, i: int, now: datetime) -> dict[str, Any]:
    namespace, name = _service(i % SERVICES)
    moment = now + timedelta(milliseconds=10 * i)
    if table == "health_checks":
        ok = RNG.random() > 0.02
        return {
            "timestamp": moment,
            "namespace": namespace,
            "service": name,
            "ok": ok,
            "latency_ms": RNG.uniform(2, 80) if ok else None,
            "health": "HEALTHY" if ok else "WARNING",
            "message": "" if ok else "connect timeout after 1.0 s",
        }
    if table == "health_check_rollups":
        return {
            "namespace": namespace,
            "service": name,
            "hour": now + timedelta(hours=i // SERVICES),
            "checks": 360,
            "passed": 358,
            "latency_sum_ms": 7300.5,
            "latency_max_ms": 79.2,
            "latency_count": 358,
        }
    if table == "events":
        return {
            "timestamp": moment,
            "kind": "OrchestratedService",
            "namespace": namespace,
            "name": name,
            "reason": "HealthChanged",
            "message": "HEALTHY -> WARNING: 3 of the last 5 checks failed (connect timeout)",
            "data": json.dumps({"from": "HEALTHY", "to": "WARNING"}),
        }
    if table == "workflow_management":
        return {
            "orchestration_id": "5f0c1a2b3c4d5e6f7a8b9c0d1e2f3a4b",
            "namespace": namespace,
            "workflow_id": f"uid-{i:08d}-aaaa-bbbb-cccc-dddddddddddd",
            "workflow_name": f"deploy-{name}-{i}",
            "workflow_type": "DEPLOYMENT",
            "priority": "HIGH",
            "execution_plan": json.dumps(
                [
                    {"name": s, "action": "scale", "dependsOn": []}
                    for s in ("drain", "scale", "check")
                ]
            ),
            "dependencies": "[]",
            "estimated_duration": 300,
            "resource_allocation": json.dumps({"cpu": "2", "memory": "4Gi"}),
            "success_criteria": "{}",
            "rollback_plan": "[]",
            "status": "RUNNING",
            "progress": 33.3,
            "timestamp": moment.isoformat(),
        }
    raise ValueError(table)


def dbstat(path: Path) -> dict[str, int]:
    connection = sqlite3.connect(path)
    try:
        owners = dict(
            connection.execute("SELECT name, tbl_name FROM sqlite_master WHERE tbl_name != ''")
        )
        sizes: dict[str, int] = {}
        for name, pages in connection.execute("SELECT name, sum(pgsize) FROM dbstat GROUP BY name"):
            table = owners.get(name, name)
            sizes[table] = sizes.get(table, 0) + pages
        return sizes
    finally:
        connection.close()


async def measure(tmp: Path) -> dict[str, float]:
    url = f"sqlite:///{tmp / 'store.db'}"
    await upgrade(url)
    empty = dbstat(tmp / "store.db")
    now = datetime(2026, 12, 1, tzinfo=UTC)
    async with StoreWriter(url) as writer:
        for table in ("health_checks", "health_check_rollups", "events", "workflow_management"):
            for i in range(ROWS):
                writer.submit(table, rows_of(table, i, now))
        await writer.flush()
    full = dbstat(tmp / "store.db")
    return {
        table: (full[table] - empty.get(table, 0)) / ROWS
        for table in ("health_checks", "health_check_rollups", "events", "workflow_management")
    }


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        per_row = asyncio.run(measure(Path(tmp)))
    for table, size in per_row.items():
        print(
            f"{table:24s} {size:7.1f} bytes per row (SQLITE_ROW_BYTES: {SQLITE_ROW_BYTES[table]})"
        )
    checks_per_s = SERVICES / PERIOD_S
    growth = checks_per_s * per_row["health_checks"]
    print(
        f"at {SERVICES} services every {PERIOD_S} s: {growth / 1e3:.1f} kB/s, {growth * 3600 / 2**20:.0f} MiB/h"
    )
    print(f"7 days of raw checks: {growth * 86400 * RAW_DAYS / 2**30:.1f} GiB")
    rollups = SERVICES * 24 * ROLLUP_DAYS * per_row["health_check_rollups"]
    print(f"90 days of hourly roll-ups: {rollups / 2**20:.0f} MiB")
    print(f"1 GiB fills in {2**30 / growth / 3600:.1f} h")
    raw_hours = (BUDGET - rollups) / growth / 3600
    print(
        f"budget {BUDGET / 2**30:.2f} GiB holds {raw_hours:.1f} h of raw checks beside 90 days of roll-ups"
    )
    sys.stdout.flush()


if __name__ == "__main__":
    main()
