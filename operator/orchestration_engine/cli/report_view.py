"""Renders the report and the status for a terminal (rich)."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table

HEALTH_STYLE = {
    "HEALTHY": "green",
    "WARNING": "yellow",
    "DEGRADED": "dark_orange",
    "CRITICAL": "red",
    "FAILED": "bold red",
    "UNKNOWN": "dim",
}


def _fmt(value: Any, suffix: str = "") -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.2f}{suffix}"
    return f"{value}{suffix}"


def print_status(console: Console, document: dict[str, Any]) -> None:
    report = document["orchestration_report"]
    overview = report["orchestration_overview"]
    services = report["service_summary"]
    workflows = report["workflow_summary"]
    halt = "yes" if overview["emergency_halt"] else "no"
    if overview["emergency_halt"]:
        halt += f" ({overview['emergency_halt_reason']})"
    console.print(f"phase:           {overview['orchestration_state']}")
    console.print(f"emergency halt:  {halt}")
    console.print(f"health score:    {_fmt(overview['overall_health_score'])}")
    counts = ", ".join(
        f"{services[k]} {k.removesuffix('_services')}"
        for k in (
            "healthy_services",
            "warning_services",
            "degraded_services",
            "critical_services",
            "failed_services",
            "unknown_services",
        )
        if services.get(k)
    )
    console.print(
        f"services:        {services['total_services']}" + (f" ({counts})" if counts else "")
    )
    phases = ", ".join(f"{n} {p}" for p, n in sorted(workflows.get("by_phase", {}).items()))
    console.print(
        f"workflows:       {workflows['total_workflows']}" + (f" ({phases})" if phases else "")
    )
    for note in report["notes"]:
        console.print(f"[yellow]note:[/yellow] {note}")


def print_report(console: Console, document: dict[str, Any]) -> None:
    report = document["orchestration_report"]
    print_status(console, document)
    metrics = report["performance_metrics"]
    console.print(
        "scores:          "
        + ", ".join(f"{k.removesuffix('_score')} {_fmt(v)}" for k, v in metrics.items())
    )
    table = Table(title="Services", title_justify="left")
    for column in (
        "namespace",
        "name",
        "health",
        "priority",
        "uptime 24h",
        "p95 ms",
        "checks",
        "failures",
    ):
        table.add_column(
            column,
            justify="right" if column in ("uptime 24h", "p95 ms", "checks", "failures") else "left",
        )
    for s in report["services"]:
        style = HEALTH_STYLE.get(s["health"], "")
        table.add_row(
            s["namespace"],
            s["name"],
            f"[{style}]{s['health']}[/{style}]" if style else s["health"],
            s["priority"],
            _fmt(s["uptime_24h_percent"], "%"),
            _fmt(s["p95_latency_ms"]),
            str(s["checks_24h"]),
            str(s["failures_24h"]),
        )
    console.print(table)
    _print_optimization(console, report.get("optimization"))
    if report["recent_events"]:
        events = Table(title="Recent events", title_justify="left")
        for column in ("time", "object", "reason", "message"):
            events.add_column(column)
        for e in report["recent_events"][:10]:
            where = f"{e['namespace']}/{e['name']}" if e["namespace"] else e["name"]
            events.add_row(e["timestamp"][:19], where, e["reason"], e["message"])
        console.print(events)
    if report["recommendations"]:
        console.print("[bold]Recommendations[/bold]")
        for r in report["recommendations"]:
            console.print(f"  - {r['text']}", highlight=False)


def _print_optimization(console: Console, plan: dict[str, Any] | None) -> None:
    if not plan:
        return
    binds = "; capacity binds" if plan.get("capacityBinds") else ""
    console.print(
        f"optimisation:    {plan['strategy']} ({plan['solver']}), score {_fmt(plan['score'])},"
        f" {plan['changes']} of {plan['services']} services to change{binds}",
        highlight=False,
    )
    for note in plan.get("notes") or []:
        console.print(f"  note: {note}", highlight=False)
    if plan.get("plannedChanges"):
        table = Table(title="Planned changes", title_justify="left")
        for column in ("namespace", "name", "current", "planned", "reason"):
            table.add_column(
                column, justify="right" if column in ("current", "planned") else "left"
            )
        for c in plan["plannedChanges"]:
            table.add_row(
                c["namespace"], c["name"], str(c["current"]), str(c["planned"]), c["reason"]
            )
        console.print(table)
