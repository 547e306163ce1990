"""Rows are checked and completed when submitted, so a bad one fails in the caller's hands."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from enum import StrEnum
from typing import Any

import pytest

from orchestration_engine.store.rows import RowError, decode, encode, prepare
from orchestration_engine.store.tables import TABLES

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


class Priority(StrEnum):
    CRITICAL = "CRITICAL"


def service_row(**overrides: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "orchestration_id": "o-1",
        "namespace": "shop",
        "service_id": "uid-1",
        "service_name": "payments",
        "service_type": "web",
        "priority": Priority.CRITICAL,
        "health_status": "HEALTHY",
        "resource_requirements": {"cpu": "500m", "memory": "256Mi"},
        "dependencies": ["postgres"],
        "configuration": {},
        "metrics": {"latencyMs": 12.5},
        "uptime_percentage": 100,
    }
    row.update(overrides)
    return row


def test_completes_row_id_and_timestamp() -> None:
    row = prepare("service_registry", service_row(), now=NOW)
    assert len(row["row_id"]) == 32
    assert row["timestamp"] == "2026-11-23T10:00:00+00:00"
    assert row["last_health_check"] is None
    assert "id" not in row


def test_json_columns_become_json_text_and_enums_their_value() -> None:
    row = prepare("service_registry", service_row(), now=NOW)
    assert json.loads(row["resource_requirements"]) == {"cpu": "500m", "memory": "256Mi"}
    assert row["dependencies"] == '["postgres"]'
    assert row["priority"] == "CRITICAL"
    assert row["uptime_percentage"] == 100.0
    assert isinstance(row["uptime_percentage"], float)


def test_a_given_row_id_is_kept() -> None:
    assert prepare("service_registry", service_row(row_id="abc"))["row_id"] == "abc"


def test_text_timestamps_are_utc_iso() -> None:
    local = datetime(2026, 11, 23, 12, 0, tzinfo=timezone(timedelta(hours=2)))
    row = prepare("service_registry", service_row(timestamp=local, last_health_check=local))
    assert row["timestamp"] == "2026-11-23T10:00:00+00:00"
    assert row["last_health_check"] == "2026-11-23T10:00:00+00:00"


def test_series_timestamps_are_aware_utc_datetimes() -> None:
    row = prepare(
        "health_checks",
        {"namespace": "shop", "service": "payments", "ok": True, "timestamp": "2026-11-23T12:00Z"},
    )
    assert row["timestamp"] == datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
    naive = prepare(
        "health_checks",
        {"namespace": "n", "service": "s", "ok": False, "timestamp": datetime(2026, 1, 1)},
    )
    assert naive["timestamp"].tzinfo is UTC


def test_events_data_defaults_to_an_empty_object() -> None:
    row = prepare(
        "events",
        {"kind": "OrchestrationEngine", "name": "default", "reason": "Halted", "message": "m"},
    )
    assert row["data"] == "{}"
    assert row["namespace"] is None


@pytest.mark.parametrize(
    ("table", "row", "message"),
    [
        ("nope", {}, "unknown table 'nope'"),
        ("service_registry", service_row(colour="red"), "unknown column"),
        ("service_registry", service_row(id=4), "unknown column"),
        ("service_registry", service_row(service_name=None), "service_name is required"),
        ("service_registry", service_row(uptime_percentage="high"), "expected a number"),
        ("service_registry", service_row(uptime_percentage=float("nan")), "not a finite"),
        ("service_registry", service_row(uptime_percentage=True), "expected a number"),
        ("service_registry", service_row(service_type=3), "expected text"),
        ("service_registry", service_row(row_id="x" * 65), "longer than 64"),
        ("service_registry", service_row(configuration={"a": object()}), "as JSON"),
        ("health_checks", {"namespace": "n", "service": "s", "ok": 1}, "true or false"),
        (
            "health_checks",
            {"namespace": "n", "service": "s", "ok": True, "timestamp": "yesterday"},
            "not an ISO 8601",
        ),
        (
            "health_check_rollups",
            {"namespace": "n", "service": "s", "hour": NOW, "checks": 2**31, "passed": 0},
            "does not fit in 32 bits",
        ),
        (
            "health_check_rollups",
            {"namespace": "n", "service": "s", "hour": NOW, "checks": 1.0, "passed": 0},
            "expected an integer",
        ),
    ],
)
def test_refuses_what_no_database_would_accept(
    table: str, row: dict[str, Any], message: str
) -> None:
    with pytest.raises(RowError, match=message):
        prepare(table, row)


def test_every_table_is_covered() -> None:
    assert set(TABLES) == {
        "service_registry",
        "workflow_management",
        "orchestration_metrics",
        "events",
        "health_checks",
        "health_check_rollups",
        "scaling_samples",
        "optimization_runs",
    }


def test_spill_lines_round_trip() -> None:
    row = prepare(
        "health_checks",
        {"namespace": "n", "service": "s", "ok": True, "latency_ms": 3.25, "timestamp": NOW},
    )
    line = encode("health_checks", row)
    assert line.endswith(b"\n")
    assert line.count(b"\n") == 1
    assert decode(line) == ("health_checks", row)


@pytest.mark.parametrize(
    "line", [b"garbage\n", b'{"table": "health_checks"}\n', b'{"table": 1, "row": []}\n']
)
def test_unreadable_spill_lines(line: bytes) -> None:
    with pytest.raises(RowError, match="unreadable spill line"):
        decode(line)
