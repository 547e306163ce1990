"""The `watch` screen as a pure function: objects' dicts in, rows and text out."""

from __future__ import annotations

import io
from typing import Any

from rich.console import Console

from orchestration_engine.cli.watch_view import (
    MAX_EVENTS,
    Snapshot,
    frame,
    plain,
    progress_text,
    render,
)


def service(name: str, health: str | None, **status: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"metadata": {"name": name, "namespace": "shop"}, "spec": {}}
    if health is not None:
        body["status"] = {"health": health, **status}
    return body


def workflow(name: str, phase: str, steps: list[str], done: int, **status: Any) -> dict[str, Any]:
    step_status = [
        {"name": s, "phase": "Succeeded" if i < done else "Pending"} for i, s in enumerate(steps)
    ]
    return {
        "metadata": {"name": name, "namespace": "shop"},
        "spec": {"steps": [{"name": s, "action": "delay"} for s in steps]},
        "status": {"phase": phase, "steps": step_status, **status},
    }


def event(name: str, reason: str, at: str, kind: str = "OrchestratedService") -> dict[str, Any]:
    return {
        "metadata": {"name": f"{name}.{at}", "namespace": "shop"},
        "involvedObject": {"kind": kind, "name": name, "namespace": "shop"},
        "reason": reason,
        "message": f"{reason} on\n{name}",
        "type": "Warning" if reason == "FailedOver" else "Normal",
        "lastTimestamp": at,
    }


HALTED_ENGINE = {
    "metadata": {"name": "default"},
    "status": {
        "phase": "EMERGENCY_HALT",
        "healthScore": 41.25,
        "conditions": [
            {
                "type": "EmergencyHalt",
                "status": "True",
                "reason": "Manual",
                "message": "DB maintenance",
            }
        ],
    },
}


def snapshot(**overrides: Any) -> Snapshot:
    fields: dict[str, Any] = {
        "engine": HALTED_ENGINE,
        "services": [
            service("web", "HEALTHY", lastLatencyMs=12.25, uptimePercent=99.5),
            service(
                "db",
                "FAILED",
                uptimePercent=80.0,
                activeTarget="standby",
                replicas={"desired": 2, "ready": 0},
            ),
            service("cache", None),
        ],
        "workflows": [
            workflow("done", "Succeeded", ["a", "b"], 2, message="all steps succeeded"),
            workflow("later", "Queued", ["a", "b", "c"], 0, queuePosition=2),
            workflow("sooner", "Queued", ["a"], 0, queuePosition=1),
            {
                **workflow("busy", "Running", ["a", "b", "c", "d"], 1),
                "status": {
                    "phase": "Running",
                    "steps": [
                        {"name": "a", "phase": "Succeeded"},
                        {"name": "b", "phase": "Running", "attempts": 1},
                        {"name": "c", "phase": "Running", "attempts": 2},
                        {"name": "d", "phase": "Pending"},
                    ],
                },
            },
            {"metadata": {"name": "fresh", "namespace": "shop"}, "spec": {"steps": [{}]}},
        ],
        "events": [event("web", "HealthChanged", f"2026-01-01T10:00:{s:02d}Z") for s in range(12)]
        + [event("db", "FailedOver", "2026-01-01T10:01:00Z")],
        "namespace": "shop",
    }
    fields.update(overrides)
    return Snapshot(**fields)


def test_services_are_sorted_worst_first_with_their_numbers() -> None:
    rows = frame(snapshot()).services
    assert [(r.name, r.health) for r in rows] == [
        ("db", "FAILED"),
        ("cache", "UNKNOWN"),
        ("web", "HEALTHY"),
    ]
    db, cache, web = rows
    assert (db.replicas, db.target, db.uptime, db.latency) == ("0/2", "standby", "80.00%", "-")
    assert (web.latency, web.uptime) == ("12.2 ms", "99.50%")
    assert (cache.latency, cache.uptime, cache.replicas) == ("-", "-", "-")


def test_workflows_show_progress_queue_position_and_what_runs() -> None:
    rows = {r.name: r for r in frame(snapshot()).workflows}
    order = [r.name for r in frame(snapshot()).workflows]
    # Running, then Queued by position, then Pending, then finished.
    assert order == ["busy", "sooner", "later", "fresh", "done"]
    assert (rows["busy"].done, rows["busy"].total) == (1, 4)
    assert rows["busy"].detail == "running: b, c"
    assert rows["later"].queue == "#2"
    assert rows["done"].queue == "-"
    assert (rows["done"].done, rows["done"].total, rows["done"].detail) == (
        2,
        2,
        "all steps succeeded",
    )
    assert (rows["fresh"].phase, rows["fresh"].done, rows["fresh"].total) == ("Pending", 0, 1)


def test_a_rolling_back_workflow_names_its_rollback_step() -> None:
    rolling = {
        "metadata": {"name": "r", "namespace": "shop"},
        "spec": {"steps": [{"name": "a"}]},
        "status": {
            "phase": "RollingBack",
            "steps": [{"name": "a", "phase": "Failed"}],
            "rollbackSteps": [{"name": "undo", "phase": "Running"}],
        },
    }
    (row,) = frame(snapshot(workflows=[rolling])).workflows
    assert row.detail == "rolling back: undo"
    assert (row.done, row.total) == (0, 1)


def test_only_the_newest_events_newest_first() -> None:
    events = frame(snapshot()).events
    assert len(events) == MAX_EVENTS
    assert events[0].object == "osvc/db"
    assert (events[0].time, events[0].type, events[0].reason) == (
        "10:01:00",
        "Warning",
        "FailedOver",
    )
    assert events[1].time == "10:00:11"
    assert events[0].message == "FailedOver on db"  # one line


def test_plain_text_has_every_section_and_no_escape_codes() -> None:
    text = "\n".join(plain(frame(snapshot())))
    assert "\x1b" not in text
    lines = text.splitlines()
    assert lines[0] == "orchestration-engine watch: namespace shop"
    assert lines[1] == (
        "engine default: phase EMERGENCY_HALT, emergency halt YES (Manual: DB maintenance), "
        "health score 41.2"
    )
    assert "SERVICES (3)" in lines
    assert "WORKFLOWS (5)" in lines
    assert f"EVENTS (newest {MAX_EVENTS}, UTC)" in lines
    busy = next(line for line in lines if line.startswith("shop       busy"))
    assert busy.split() == [
        "shop",
        "busy",
        "Running",
        "[##--------]",
        "1/4",
        "-",
        "running:",
        "b,",
        "c",
    ]
    later = next(line for line in lines if " later " in line)
    assert "#2" in later.split()


def test_an_engine_not_yet_created_and_a_watch_note_are_said() -> None:
    lines = plain(frame(snapshot(engine=None, namespace=None, note="watch interrupted")))
    assert lines[0] == "orchestration-engine watch: all namespaces"
    assert lines[1] == "engine default: not found (is the operator installed?)"
    assert lines[2] == "note: watch interrupted"


def test_engine_without_a_halt() -> None:
    engine = {"status": {"phase": "ACTIVE", "healthScore": 97.5, "conditions": []}}
    assert plain(frame(snapshot(engine=engine)))[1] == (
        "engine default: phase ACTIVE, emergency halt no, health score 97.5"
    )


def test_progress_text() -> None:
    assert progress_text(0, 4) == "[----------] 0/4"
    assert progress_text(2, 4) == "[#####-----] 2/4"
    assert progress_text(3, 3) == "[##########] 3/3"
    assert progress_text(0, 0) == "[----------] 0/0"


def test_the_rich_rendering_shows_the_same_rows() -> None:
    console = Console(record=True, width=160, force_terminal=True, file=io.StringIO())
    console.print(render(frame(snapshot())))
    text = console.export_text()
    for expected in ("EMERGENCY_HALT", "YES (Manual: DB maintenance)", "Services (3)", "db"):
        assert expected in text
    assert "1/4" in text
    assert "running: b, c" in text
    assert "FailedOver" in text
