"""The orchestration report: the cluster's current objects joined with the store's history.

``assemble`` is pure: it takes what was gathered (from the cluster, the store, or both) and
builds the JSON document. When the cluster cannot be reached the report is built from the
store alone and says so. Recommendations are computed from the figures and carry them.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from orchestration_engine.api.common import Priority
from orchestration_engine.api.service import Health
from orchestration_engine.core.scores import ServiceFacts, compute

ServiceKey = tuple[str, str]


@dataclass
class ClusterView:
    services: list[dict[str, Any]] = field(default_factory=list)
    workflows: list[dict[str, Any]] = field(default_factory=list)
    engine: dict[str, Any] | None = None


@dataclass
class StoreView:
    check_stats: dict[ServiceKey, Any] = field(
        default_factory=dict
    )  # store.queries.ServiceCheckStats
    events: list[Any] = field(default_factory=list)  # store.queries.EventRecord
    service_rows: list[dict[str, Any]] = field(default_factory=list)
    latest_metrics: dict[str, Any] | None = None
    workflow_counts: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class ServiceLine:
    namespace: str
    name: str
    health: str
    priority: str
    uptime_24h: float | None
    p95_latency_ms: float | None
    checks_24h: int
    failures_24h: int
    latency_target_ms: float | None
    sla_percent: float | None
    message: str


def _health(value: Any) -> Health:
    try:
        return Health(str(value))
    except ValueError:
        return Health.UNKNOWN


def _priority(value: Any) -> Priority:
    try:
        return Priority(str(value))
    except ValueError:
        return Priority.NORMAL


def _service_lines(cluster: ClusterView | None, store: StoreView | None) -> list[ServiceLine]:
    stats = store.check_stats if store else {}
    lines = []
    if cluster is not None:
        sources: Sequence[Mapping[str, Any]] = cluster.services
        for obj in sources:
            meta, spec, status = (
                obj.get("metadata", {}),
                obj.get("spec") or {},
                obj.get("status") or {},
            )
            key = (meta.get("namespace", ""), meta.get("name", ""))
            stat = stats.get(key)
            check = spec.get("healthCheck") or {}
            sla = spec.get("sla") or {}
            healthy: Mapping[str, Any] = next(
                (c for c in status.get("conditions") or [] if c.get("type") == "Healthy"), {}
            )
            lines.append(
                ServiceLine(
                    key[0],
                    key[1],
                    str(status.get("health", "UNKNOWN")),
                    str(spec.get("priority", "NORMAL")),
                    stat.uptime_percent if stat else status.get("uptimePercent"),
                    stat.p95_latency_ms if stat else None,
                    stat.checks if stat else 0,
                    (stat.checks - stat.passed) if stat else 0,
                    sla.get("latencyMs") or check.get("warningLatencyMs"),
                    sla.get("availabilityPercent"),
                    str(healthy.get("message", "")),
                )
            )
    elif store is not None:
        for row in store.service_rows:
            key = (row.get("namespace") or "", row["service_name"])
            stat = stats.get(key)
            configuration = row.get("configuration") or {}
            sla = configuration.get("sla") or {}
            check = configuration.get("healthCheck") or {}
            lines.append(
                ServiceLine(
                    key[0],
                    key[1],
                    str(row["health_status"]),
                    str(row["priority"]),
                    stat.uptime_percent if stat else row.get("uptime_percentage"),
                    stat.p95_latency_ms if stat else None,
                    stat.checks if stat else 0,
                    (stat.checks - stat.passed) if stat else 0,
                    sla.get("latencyMs") or check.get("warningLatencyMs"),
                    sla.get("availabilityPercent"),
                    "",
                )
            )
    return sorted(lines, key=lambda s: (_priority(s.priority).rank, s.namespace, s.name))


def recommendations(
    services: Sequence[ServiceLine], store_problem: str | None
) -> list[dict[str, Any]]:
    """Each recommendation names its service and the numbers behind it."""
    found: list[dict[str, Any]] = []
    for s in services:
        name = f"{s.namespace}/{s.name}"
        if s.health in ("FAILED", "CRITICAL"):
            evidence = f"{s.health}; {s.failures_24h} of {s.checks_24h} checks failed in 24 h"
            if s.message:
                evidence += f"; {s.message}"
            found.append(
                {
                    "service": name,
                    "kind": "investigate",
                    "evidence": evidence,
                    "action": "investigate the failing checks; fail over if a standby is set",
                }
            )
        if s.sla_percent is not None and s.uptime_24h is not None and s.uptime_24h < s.sla_percent:
            found.append(
                {
                    "service": name,
                    "kind": "sla",
                    "evidence": f"uptime {s.uptime_24h:.2f}% < SLA {s.sla_percent:g}% over 24 h",
                    "action": "add redundancy (replicas or a standby) or revisit the SLA",
                }
            )
        if (
            s.latency_target_ms is not None
            and s.p95_latency_ms is not None
            and s.p95_latency_ms > s.latency_target_ms
        ):
            found.append(
                {
                    "service": name,
                    "kind": "latency",
                    "evidence": (
                        f"p95 {s.p95_latency_ms:.0f} ms > target {s.latency_target_ms:g} ms"
                        " over 24 h"
                    ),
                    "action": "scale out, or raise the target if it is not what users need",
                }
            )
    if store_problem:
        found.append(
            {
                "service": None,
                "kind": "store",
                "evidence": store_problem,
                "action": "restore the metrics store; rows are buffered meanwhile",
            }
        )
    for r in found:
        r["text"] = f"{r['service'] + ': ' if r['service'] else ''}{r['evidence']} — {r['action']}"
    return found


def assemble(
    cluster: ClusterView | None,
    store: StoreView | None,
    now: datetime,
    *,
    cluster_error: str | None = None,
    store_error: str | None = None,
) -> dict[str, Any]:
    services = _service_lines(cluster, store)
    facts = [ServiceFacts(_health(s.health), _priority(s.priority)) for s in services]
    engine_status = (cluster.engine or {}).get("status") or {} if cluster else {}
    conditions = {c.get("type"): c for c in engine_status.get("conditions") or []}
    store_problem = (
        (conditions.get("StoreDegraded") or {}).get("message")
        if (conditions.get("StoreDegraded") or {}).get("status") == "True"
        else None
    )

    if engine_status.get("scores"):
        scores = engine_status["scores"]
        overall = engine_status.get("healthScore")
    elif store and store.latest_metrics:
        m = store.latest_metrics
        scores = {
            "optimization": m["optimization_score"],
            "reliability": m["reliability_score"],
            "performance": m["performance_score"],
            "costEfficiency": m["cost_efficiency"],
        }
        overall = round(
            0.3 * m["optimization_score"]
            + 0.3 * m["reliability_score"]
            + 0.2 * m["performance_score"]
            + 0.2 * m["cost_efficiency"],
            2,
        )
    else:
        computed = compute(facts)
        scores = {
            "optimization": computed.optimization,
            "reliability": computed.reliability,
            "performance": computed.performance,
            "costEfficiency": computed.cost_efficiency,
        }
        overall = computed.health_score

    healths = Counter(s.health for s in services)
    uptimes = [s.uptime_24h for s in services if s.uptime_24h is not None]
    workflow_summary: dict[str, Any]
    if cluster is not None:
        phases = Counter(
            str((w.get("status") or {}).get("phase", "Pending")) for w in cluster.workflows
        )
        workflow_summary = {
            "total_workflows": len(cluster.workflows),
            "queued_workflows": phases["Queued"] + phases["Pending"],
            "executing_workflows": phases["Running"] + phases["RollingBack"],
            "completed_workflows": phases["Succeeded"],
            "failed_workflows": phases["Failed"] + phases["RolledBack"],
            "by_phase": dict(phases),
        }
        if store is not None:
            # The cluster shows what still exists; finished workflows may have been deleted
            # (ttlSecondsAfterFinished, history limits), and the store counts them all.
            workflow_summary["history_by_status"] = dict(store.workflow_counts)
    else:
        counts = store.workflow_counts if store else {}
        workflow_summary = {"total_workflows": sum(counts.values()), "by_phase": dict(counts)}
    completed = int(workflow_summary.get("completed_workflows", 0))
    finished = completed + int(workflow_summary.get("failed_workflows", 0))
    workflow_summary["workflow_success_rate"] = (
        round(100.0 * completed / finished, 2) if finished else None
    )

    source = (
        "cluster+store"
        if cluster is not None and store is not None
        else ("cluster" if cluster is not None else "store")
    )
    notes = []
    if cluster is None:
        notes.append(
            f"the cluster could not be reached ({cluster_error}); figures come from the store alone"
        )
    if store is None:
        notes.append(f"the store could not be read ({store_error}); no history in this report")
    halt = conditions.get("EmergencyHalt") or {}
    return {
        "orchestration_report": {
            "report_id": str(uuid.uuid4()),
            "generated_at": now.isoformat(),
            "source": source,
            "notes": notes,
            "orchestration_overview": {
                "orchestration_state": engine_status.get(
                    "phase", "UNKNOWN" if cluster is None else "INITIALIZING"
                ),
                "emergency_halt": halt.get("status") == "True",
                "emergency_halt_reason": halt.get("reason")
                if halt.get("status") == "True"
                else None,
                "overall_health_score": overall,
            },
            "service_summary": {
                "total_services": len(services),
                **{f"{h.value.lower()}_services": healths[h.value] for h in Health},
                "service_uptime": round(sum(uptimes) / len(uptimes), 3) if uptimes else None,
            },
            "services": [
                {
                    "namespace": s.namespace,
                    "name": s.name,
                    "health": s.health,
                    "priority": s.priority,
                    "uptime_24h_percent": s.uptime_24h,
                    "p95_latency_ms": s.p95_latency_ms,
                    "checks_24h": s.checks_24h,
                    "failures_24h": s.failures_24h,
                }
                for s in services
            ],
            "workflow_summary": workflow_summary,
            "performance_metrics": {
                "optimization_score": scores.get("optimization"),
                "reliability_score": scores.get("reliability"),
                "performance_score": scores.get("performance"),
                "cost_efficiency": scores.get("costEfficiency"),
            },
            "recent_events": [
                {
                    "timestamp": e.timestamp.isoformat(),
                    "kind": e.kind,
                    "namespace": e.namespace,
                    "name": e.name,
                    "reason": e.reason,
                    "message": e.message,
                }
                for e in (store.events if store else [])
            ],
            # The optimiser's latest plan (docs/optimizer.md), as the engine's status has it.
            "optimization": engine_status.get("optimization"),
            "recommendations": _operator_recommendations(engine_status)
            + recommendations(services, store_problem),
        }
    }


def _operator_recommendations(engine_status: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The operator's live ones (optimiser, anomalies, forecasts) in the report's shape."""
    found = []
    for r in engine_status.get("recommendations") or []:
        found.append(
            {
                "service": f"{r.get('namespace')}/{r.get('service')}",
                "kind": r.get("kind"),
                "evidence": r.get("evidence") or {},
                "action": None,
                "text": f"{r.get('namespace')}/{r.get('message')}",
            }
        )
    return found
