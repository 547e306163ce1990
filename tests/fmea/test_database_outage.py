"""PostgreSQL stopped under load while the whole operator runs against it (services checked
every second, a workflow arriving every 2 s): reconciliation goes on, the engine says
StoreDegraded, and once the database is back every row is there exactly once.

The expected count comes from the operator itself: ``eoe_store_rows_submitted_total{table}``
(every row handed to the writer) must equal the rows in each table once
``eoe_store_buffered_rows`` is 0, with no ``row_id`` twice; two counts that do not go
through the writer check it independently: ``health_checks`` rows against
``eoe_health_checks_total`` (one row per check), and one ``Succeeded`` row in
``workflow_management`` per workflow. The figures are read when nothing moves any more
(services deleted, workflows finished): two scrapes that agree, around the row count.

60 s down with FMEA_FULL=1 (50 services), 10 s otherwise (10 services).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fmea_disruption_support import (
    GROUP,
    TERMINAL,
    VERSION,
    CountingServer,
    OperatorProcess,
    PostgresServer,
    by_label,
    condition,
    delay,
    engine,
    healthz,
    http_step,
    metric_sum,
    pick,
    quiet,
    running_postgres,
    wait_for,
    workflow,
)
from workflow_support import create_service

from orchestration_engine.store.tables import TABLES

pytestmark = pytest.mark.cluster

OUTAGE_S = pick(10.0, 60.0)
SERVICE_COUNT = pick(10, 50)
WORKFLOW_EVERY_S = 2.0
DATABASE = "fmea_outage"


@pytest.fixture(scope="module")
def postgres() -> Iterator[PostgresServer]:
    with running_postgres() as server:
        server.sql(f"CREATE DATABASE {DATABASE}")
        yield server


class WorkflowFeed:
    """One workflow every ``every`` seconds (a 1 s delay, then an http call), in a thread."""

    def __init__(self, custom: Any, namespace: str, server: CountingServer, every: float) -> None:
        self.custom, self.namespace, self.server, self.every = custom, namespace, server, every
        self.created: list[str] = []
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="workflow-feed", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            name = f"wf-{len(self.created):04d}"
            body = workflow(
                name,
                [
                    delay("pause", 1),
                    http_step("ping", self.server.url(f"/{name}/ping"), dependsOn=["pause"]),
                ],
            )
            try:
                self.custom.create_namespaced_custom_object(
                    GROUP, VERSION, self.namespace, "orchestrationworkflows", body
                )
                self.created.append(name)
            except Exception as error:
                self.errors.append(f"{name}: {error}")
            self._stop.wait(self.every)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)


def table_counts(postgres: PostgresServer) -> dict[str, tuple[int, int]]:
    """(rows, distinct row_ids) of every table, in one statement (one snapshot)."""
    query = " UNION ALL ".join(
        f"SELECT '{name}', count(*), count(DISTINCT row_id) FROM {name}"  # noqa: S608 (our schema)
        for name in TABLES
    )
    counts = {}
    for line in postgres.sql(query, DATABASE).splitlines():
        name, rows, distinct = line.split("|")
        counts[name] = (int(rows), int(distinct))
    return counts


def scalar(postgres: PostgresServer, query: str) -> int:
    return int(postgres.sql(query, DATABASE).strip() or 0)


def iso(moment: float) -> str:
    return datetime.fromtimestamp(moment, UTC).isoformat()


@pytest.mark.timeout(pick(240, 480))
def test_postgres_outage_under_load_loses_and_doubles_nothing(
    control_plane: Any,
    custom: Any,
    namespace: str,
    postgres: PostgresServer,
    server: CountingServer,
    tmp_path: Path,
) -> None:
    operator = OperatorProcess(
        control_plane.kubeconfig,
        tmp_path / "operator",
        "--namespace",
        namespace,
        "--database-url",
        postgres.url(DATABASE),
        "--monitoring-interval-seconds",
        "5",
    )
    feed: WorkflowFeed | None = None
    try:
        operator.wait_ready(timeout=60)
        for i in range(SERVICE_COUNT):
            create_service(
                custom,
                namespace,
                f"svc-{i:03d}",
                {"healthCheck": {"http": {"url": server.url(f"/health/{i}")}, "periodSeconds": 1}},
            )

        def healthy() -> int:
            items = custom.list_namespaced_custom_object(
                GROUP, VERSION, namespace, "orchestratedservices"
            )["items"]
            return sum((i.get("status") or {}).get("health") == "HEALTHY" for i in items)

        wait_for(lambda: healthy() == SERVICE_COUNT, timeout=60, what="every service HEALTHY")
        feed = WorkflowFeed(custom, namespace, server, WORKFLOW_EVERY_S)
        wait_for(
            lambda: quiet(lambda: table_counts(postgres)["health_checks"][0], 0) > 0,
            timeout=30,
            what="rows in the database",
        )
        time.sleep(3)

        # -- the outage ---------------------------------------------------------------------
        errors_before = metric_sum(operator.metrics(), "eoe_store_write_errors_total")
        checks_before = metric_sum(operator.metrics(), "eoe_health_checks_total")
        stopping, stopping_wall = time.monotonic(), time.time()
        created_before = len(feed.created)
        postgres.stop()
        stopped = time.monotonic()
        degraded = wait_for(
            lambda: (
                condition(engine(custom), "StoreDegraded").get("status") == "True"
                and condition(engine(custom), "StoreDegraded")
            ),
            timeout=30,
            interval=0.25,
            what="StoreDegraded True",
        )
        degraded_after = time.monotonic() - stopping
        peak, live = 0.0, []
        while time.monotonic() - stopped < OUTAGE_S:
            peak = max(peak, metric_sum(operator.metrics(), "eoe_store_buffered_rows"))
            live.append(healthz(operator.health_port)[0])
            time.sleep(1)
        checks_during = metric_sum(operator.metrics(), "eoe_health_checks_total") - checks_before
        created_during = len(feed.created) - created_before
        restarting, restarting_wall = time.monotonic(), time.time()
        postgres.start()

        wait_for(
            lambda: condition(engine(custom), "StoreDegraded").get("status") == "False",
            timeout=60,
            interval=0.25,
            what="StoreDegraded False",
        )
        recovered_after = time.monotonic() - restarting
        wait_for(
            lambda: metric_sum(operator.metrics(), "eoe_store_buffered_rows") == 0,
            timeout=60,
            interval=0.25,
            what="the backlog written",
        )
        drained_after = time.monotonic() - restarting
        time.sleep(3)
        feed.close()

        # -- quiesce, then one consistent reading ------------------------------------------
        def unfinished() -> list[str]:
            items = custom.list_namespaced_custom_object(
                GROUP, VERSION, namespace, "orchestrationworkflows"
            )["items"]
            return [
                i["metadata"]["name"]
                for i in items
                if (i.get("status") or {}).get("phase") not in TERMINAL
            ]

        wait_for(lambda: not unfinished(), timeout=60, interval=0.5, what="workflows done")
        custom.delete_collection_namespaced_custom_object(
            GROUP, VERSION, namespace, "orchestratedservices"
        )

        def reading() -> tuple[dict[str, float], float, dict[str, tuple[int, int]]] | None:
            before = operator.metrics()
            counts = table_counts(postgres)
            after = operator.metrics()
            submitted = by_label(before, "eoe_store_rows_submitted_total", "table")
            if (
                submitted != by_label(after, "eoe_store_rows_submitted_total", "table")
                or metric_sum(before, "eoe_store_buffered_rows") != 0
                or metric_sum(after, "eoe_store_buffered_rows") != 0
                or metric_sum(before, "eoe_health_checks_total")
                != metric_sum(after, "eoe_health_checks_total")
            ):
                return None
            return submitted, metric_sum(before, "eoe_health_checks_total"), counts

        submitted, checks, counts = wait_for(
            reading, timeout=60, interval=0.5, what="a reading with nothing moving"
        )
        errors = metric_sum(operator.metrics(), "eoe_store_write_errors_total") - errors_before
        assert operator.process.poll() is None
    except Exception:
        print(operator.log())
        raise
    finally:
        if feed is not None:
            feed.close()
        operator.stop()

    # The engine said so, with the reason.
    assert degraded["reason"] == "StoreUnavailable"
    assert "connection refused" in degraded["message"] or "database" in degraded["message"]
    # Reconciliation went on: checks ran and workflows arrived and ran during the outage.
    assert checks_during >= SERVICE_COUNT * OUTAGE_S * 0.5
    assert set(live) == {200}
    assert errors > 0
    assert peak > 0

    # Nothing lost, nothing doubled: per table, rows == rows submitted, row_ids unique.
    expected = {name: int(submitted.get(name, 0)) for name in TABLES}
    assert {name: rows for name, (rows, _) in counts.items()} == expected
    assert {name: distinct for name, (_, distinct) in counts.items()} == expected
    # Independently of the writer's counter.
    assert counts["health_checks"][0] == checks
    assert (
        scalar(
            postgres,
            "SELECT count(*) FROM (SELECT DISTINCT namespace, service, timestamp "
            "FROM health_checks) AS checks",
        )
        == checks
    )
    succeeded = dict(
        line.split("|")
        for line in postgres.sql(
            "SELECT workflow_name, count(*) FROM workflow_management "
            "WHERE status = 'Succeeded' GROUP BY workflow_name",
            DATABASE,
        ).splitlines()
    )
    assert succeeded == dict.fromkeys(feed.created, "1")
    # The outage's own rows are there: checks made while the database was down.
    window = f"'{iso(stopping_wall + 1)}' AND '{iso(restarting_wall - 1)}'"
    made_during = scalar(
        postgres,
        f"SELECT count(*) FROM health_checks WHERE timestamp BETWEEN {window}",  # noqa: S608
    )
    assert made_during >= SERVICE_COUNT * (OUTAGE_S - 2) * 0.5

    print(
        f"PostgreSQL down {OUTAGE_S:g} s under {SERVICE_COUNT} services checked every 1 s and a "
        f"workflow every {WORKFLOW_EVERY_S:g} s: StoreDegraded after {degraded_after:.1f} s "
        f"({degraded['message']!r}) "
        f"(pg_ctl stop took {stopped - stopping:.1f} s), {checks_during:.0f} checks and "
        f"{created_during} workflows created meanwhile, buffered peak {peak:.0f} rows; "
        f"StoreDegraded cleared {recovered_after:.1f} s after the restart, backlog written "
        f"{drained_after:.1f} s after it; rows per table {expected} = submitted, row_ids "
        f"unique; {made_during} checks made during the outage stored; {len(feed.created)} "
        f"workflows, one Succeeded row each; write errors counted {errors:.0f}",
        flush=True,
    )
