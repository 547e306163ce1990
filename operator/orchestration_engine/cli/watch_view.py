"""What ``orchestration-engine watch`` shows, as pure functions over the objects' plain dicts.

Apart from the watch loop (cli/watch_live.py) so the screen is tested without a cluster, and so
the terminal rendering (rich) and the plain-text one (pipes, logs, CI) show the same rows:
``frame`` decides what is shown and in which order, ``render`` and ``plain`` only lay it out.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from rich import box
from rich.console import Group, RenderableType
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from orchestration_engine.cli.report_view import HEALTH_STYLE

MAX_EVENTS = 10
BAR_WIDTH = 10
MESSAGE_WIDTH = 90

# Worst first: what needs attention is at the top.
HEALTH_ORDER = ("FAILED", "CRITICAL", "DEGRADED", "WARNING", "UNKNOWN", "HEALTHY")
# Active first, then waiting, then finished.
PHASE_ORDER = (
    "Running",
    "RollingBack",
    "Queued",
    "Pending",
    "Halted",
    "Suspended",
    "Failed",
    "RolledBack",
    "Cancelled",
    "Succeeded",
)
PHASE_STYLE = {
    "Running": "cyan",
    "RollingBack": "yellow",
    "Queued": "blue",
    "Halted": "yellow",
    "Failed": "bold red",
    "RolledBack": "red",
    "Cancelled": "dim",
    "Succeeded": "green",
}
SHORT_KIND = {
    "OrchestratedService": "osvc",
    "OrchestrationWorkflow": "owf",
    "OrchestrationEngine": "oeng",
}


@dataclass(frozen=True)
class Snapshot:
    """Everything known at one moment, as the API server returns it."""

    engine: Mapping[str, Any] | None
    services: Sequence[Mapping[str, Any]]
    workflows: Sequence[Mapping[str, Any]]
    events: Sequence[Mapping[str, Any]]
    namespace: str | None = None  # None: all namespaces
    note: str | None = None  # e.g. a watch that lost its connection and is retrying


@dataclass(frozen=True)
class EngineLine:
    phase: str
    halted: bool
    halt_reason: str
    health_score: str


@dataclass(frozen=True)
class ServiceRow:
    namespace: str
    name: str
    health: str
    latency: str
    uptime: str
    replicas: str
    target: str


@dataclass(frozen=True)
class WorkflowRow:
    namespace: str
    name: str
    phase: str
    done: int  # steps Succeeded
    total: int
    queue: str
    detail: str


@dataclass(frozen=True)
class EventRow:
    time: str
    type: str
    namespace: str
    object: str
    reason: str
    message: str


@dataclass(frozen=True)
class Frame:
    scope: str
    engine: EngineLine | None
    services: list[ServiceRow]
    workflows: list[WorkflowRow]
    events: list[EventRow]
    note: str | None


# --- deciding what is shown -------------------------------------------------------------------


def _status(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    return obj.get("status") or {}


def _meta(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    return obj.get("metadata") or {}


def _number(value: Any, suffix: str, digits: int = 1) -> str:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return f"{value:.{digits}f}{suffix}"
    return "-"


def _condition(obj: Mapping[str, Any], type_: str) -> Mapping[str, Any]:
    return next((c for c in _status(obj).get("conditions") or [] if c.get("type") == type_), {})


def engine_line(engine: Mapping[str, Any]) -> EngineLine:
    status = _status(engine)
    halt = _condition(engine, "EmergencyHalt")
    halted = halt.get("status") == "True"
    reason = ""
    if halted:
        reason = str(halt.get("reason") or "")
        if halt.get("message"):
            reason += f": {halt['message']}" if reason else str(halt["message"])
    return EngineLine(
        phase=str(status.get("phase") or "-"),
        halted=halted,
        halt_reason=reason,
        health_score=_number(status.get("healthScore"), ""),
    )


def service_row(service: Mapping[str, Any]) -> ServiceRow:
    status = _status(service)
    replicas = status.get("replicas") or {}
    return ServiceRow(
        namespace=str(_meta(service).get("namespace") or "-"),
        name=str(_meta(service).get("name") or "-"),
        health=str(status.get("health") or "UNKNOWN"),
        latency=_number(status.get("lastLatencyMs"), " ms"),
        uptime=_number(status.get("uptimePercent"), "%", 2),
        replicas=f"{replicas.get('ready', 0)}/{replicas.get('desired', 0)}" if replicas else "-",
        target=str(status.get("activeTarget") or "primary"),
    )


def workflow_row(workflow: Mapping[str, Any]) -> WorkflowRow:
    status = _status(workflow)
    phase = str(status.get("phase") or "Pending")
    steps = status.get("steps") or []
    spec_steps = (workflow.get("spec") or {}).get("steps") or []
    position = status.get("queuePosition")
    stage = "rollbackSteps" if phase == "RollingBack" else "steps"
    running = [s["name"] for s in status.get(stage) or [] if s.get("phase") == "Running"]
    if running:
        detail = ("rolling back: " if stage == "rollbackSteps" else "running: ") + ", ".join(
            running
        )
    else:
        detail = str(status.get("message") or "")
    return WorkflowRow(
        namespace=str(_meta(workflow).get("namespace") or "-"),
        name=str(_meta(workflow).get("name") or "-"),
        phase=phase,
        done=sum(1 for s in steps if s.get("phase") == "Succeeded"),
        total=max(len(spec_steps), len(steps)),
        queue=f"#{position}" if isinstance(position, int) else "-",
        detail=detail,
    )


def event_time(event: Mapping[str, Any]) -> datetime | None:
    """When an Event last happened: the core/v1 fields, then the events.k8s.io ones."""
    for value in (
        event.get("lastTimestamp"),
        event.get("eventTime"),
        (event.get("series") or {}).get("lastObservedTime"),
        event.get("firstTimestamp"),
        _meta(event).get("creationTimestamp"),
    ):
        if isinstance(value, datetime):
            return value if value.tzinfo else value.replace(tzinfo=UTC)
        if isinstance(value, str) and value:
            try:
                moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
            except ValueError:
                continue
            return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return None


def newest_events(
    events: Sequence[Mapping[str, Any]], limit: int = MAX_EVENTS
) -> list[Mapping[str, Any]]:
    epoch = datetime.min.replace(tzinfo=UTC)
    return sorted(events, key=lambda e: event_time(e) or epoch, reverse=True)[:limit]


def event_row(event: Mapping[str, Any]) -> EventRow:
    involved = event.get("involvedObject") or event.get("regarding") or {}
    when = event_time(event)
    kind = str(involved.get("kind") or "")
    return EventRow(
        time=when.astimezone(UTC).strftime("%H:%M:%S") if when else "-",
        type=str(event.get("type") or "-"),
        namespace=str(involved.get("namespace") or "-"),
        object=f"{SHORT_KIND.get(kind, kind.lower())}/{involved.get('name', '?')}",
        reason=str(event.get("reason") or "-"),
        message=" ".join(str(event.get("message") or event.get("note") or "").split()),
    )


def _rank(order: Sequence[str], value: str) -> int:
    return order.index(value) if value in order else len(order)


def frame(snapshot: Snapshot) -> Frame:
    services = sorted(
        (service_row(s) for s in snapshot.services),
        key=lambda r: (_rank(HEALTH_ORDER, r.health), r.namespace, r.name),
    )
    workflows = sorted(
        (workflow_row(w) for w in snapshot.workflows),
        key=lambda r: (
            _rank(PHASE_ORDER, r.phase),
            int(r.queue[1:]) if r.queue != "-" else 0,
            r.namespace,
            r.name,
        ),
    )
    return Frame(
        scope=f"namespace {snapshot.namespace}" if snapshot.namespace else "all namespaces",
        engine=engine_line(snapshot.engine) if snapshot.engine is not None else None,
        services=services,
        workflows=workflows,
        events=[event_row(e) for e in newest_events(snapshot.events)],
        note=snapshot.note,
    )


# --- plain text: pipes, logs, CI ----------------------------------------------------------


def progress_text(done: int, total: int, width: int = BAR_WIDTH) -> str:
    filled = width * done // total if total else 0  # full only when all are done
    return f"[{'#' * filled}{'-' * (width - filled)}] {done}/{total}"


def _clip(text: str, width: int = MESSAGE_WIDTH) -> str:
    return text if len(text) <= width else text[: width - 3] + "..."


def _columns(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    widths = [max(len(cell) for cell in column) for column in zip(header, *rows, strict=True)]
    return [
        "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
        for line in (header, *rows)
    ]


def engine_text(line: EngineLine | None) -> str:
    if line is None:
        return "engine default: not found (is the operator installed?)"
    halt = f"YES ({line.halt_reason})" if line.halted else "no"
    return (
        f"engine default: phase {line.phase}, emergency halt {halt}, "
        f"health score {line.health_score}"
    )


def plain(view: Frame, *, title: str | None = None) -> list[str]:
    """The frame as plain lines: no colour, no box drawing, nothing wider than it must be."""
    lines = [title or f"orchestration-engine watch: {view.scope}", engine_text(view.engine)]
    if view.note:
        lines.append(f"note: {view.note}")
    lines += ["", f"SERVICES ({len(view.services)})"]
    if view.services:
        lines += _columns(
            ("NAMESPACE", "NAME", "HEALTH", "LATENCY", "UPTIME", "REPLICAS", "TARGET"),
            [
                (s.namespace, s.name, s.health, s.latency, s.uptime, s.replicas, s.target)
                for s in view.services
            ],
        )
    lines += ["", f"WORKFLOWS ({len(view.workflows)})"]
    if view.workflows:
        lines += _columns(
            ("NAMESPACE", "NAME", "PHASE", "PROGRESS", "QUEUE", "DETAIL"),
            [
                (
                    w.namespace,
                    w.name,
                    w.phase,
                    progress_text(w.done, w.total),
                    w.queue,
                    _clip(w.detail),
                )
                for w in view.workflows
            ],
        )
    lines += ["", f"EVENTS (newest {MAX_EVENTS}, UTC)"]
    if view.events:
        lines += _columns(
            ("TIME", "TYPE", "NAMESPACE", "OBJECT", "REASON", "MESSAGE"),
            [
                (e.time, e.type, e.namespace, e.object, e.reason, _clip(e.message))
                for e in view.events
            ],
        )
    return lines


# --- a terminal: rich ---------------------------------------------------------------------


def _styled(text: str, style: str | None) -> Text:
    return Text(text, style=style or "")


def _engine_renderable(line: EngineLine | None, scope: str, live: bool) -> Text:
    text = Text()
    text.append("orchestration-engine watch", style="bold")
    text.append(f"  {scope}{'  (Ctrl-C to quit)' if live else ''}\n", style="dim")
    if line is None:
        text.append("engine default: not found (is the operator installed?)", style="yellow")
        return text
    text.append("engine default: phase ")
    text.append(line.phase, style="bold red" if line.phase == "EMERGENCY_HALT" else "bold")
    text.append(", emergency halt ")
    if line.halted:
        text.append(f"YES ({line.halt_reason})", style="bold red")
    else:
        text.append("no", style="green")
    text.append(f", health score {line.health_score}")
    return text


def render(view: Frame, *, live: bool = True) -> RenderableType:
    """``live``: the frame is one of many (a Live display), so say how to leave."""
    parts: list[RenderableType] = [_engine_renderable(view.engine, view.scope, live)]
    if view.note:
        parts.append(Text(f"note: {view.note}", style="yellow"))

    services = Table(title=f"Services ({len(view.services)})", title_justify="left", box=box.SIMPLE)
    for column in ("namespace", "name", "health", "latency", "uptime", "replicas", "target"):
        services.add_column(column, justify="right" if column in ("latency", "uptime") else "left")
    for s in view.services:
        services.add_row(
            s.namespace,
            s.name,
            _styled(s.health, HEALTH_STYLE.get(s.health)),
            s.latency,
            s.uptime,
            s.replicas,
            _styled(s.target, "yellow" if s.target == "standby" else None),
        )
    parts.append(services)

    workflows = Table(
        title=f"Workflows ({len(view.workflows)})", title_justify="left", box=box.SIMPLE
    )
    for column in ("namespace", "name", "phase", "progress", "steps", "queue", "detail"):
        workflows.add_column(column, overflow="fold" if column == "detail" else "ellipsis")
    for w in view.workflows:
        workflows.add_row(
            w.namespace,
            w.name,
            _styled(w.phase, PHASE_STYLE.get(w.phase)),
            ProgressBar(total=max(w.total, 1), completed=w.done, width=20),
            f"{w.done}/{w.total}",
            w.queue,
            _clip(w.detail),
        )
    parts.append(workflows)

    events = Table(title=f"Events (newest {MAX_EVENTS}, UTC)", title_justify="left", box=box.SIMPLE)
    for column in ("time", "type", "namespace", "object", "reason", "message"):
        events.add_column(column, overflow="fold" if column == "message" else "ellipsis")
    for e in view.events:
        events.add_row(
            e.time,
            _styled(e.type, "yellow" if e.type == "Warning" else None),
            e.namespace,
            e.object,
            e.reason,
            _clip(e.message),
        )
    parts.append(events)
    return Group(*parts)
