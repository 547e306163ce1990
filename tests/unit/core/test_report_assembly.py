"""report.assemble: the JSON document from the cluster, the store, or both."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from orchestration_engine.core.report import ClusterView, StoreView, assemble

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


@dataclass
class Stats:
    namespace: str
    service: str
    checks: int
    passed: int
    uptime_percent: float
    p95_latency_ms: float | None


@dataclass
class Event:
    timestamp: datetime
    kind: str
    namespace: str | None
    name: str
    reason: str
    message: str


def service(name: str, health: str, **spec: Any) -> dict[str, Any]:
    return {
        "metadata": {"namespace": "shop", "name": name},
        "spec": {"priority": "CRITICAL", **spec},
        "status": {
            "health": health,
            "uptimePercent": 99.0,
            "conditions": [
                {"type": "Healthy", "message": "checks failing: HTTP 500 (expected 200)"}
            ],
        },
    }


def engine(**status: Any) -> dict[str, Any]:
    return {"metadata": {"name": "default"}, "status": status}


def test_cluster_and_store() -> None:
    cluster = ClusterView(
        services=[
            service("payments", "FAILED", sla={"availabilityPercent": 99.9, "latencyMs": 100}),
            service("search", "HEALTHY"),
        ],
        workflows=[{"status": {"phase": "Succeeded"}}, {"status": {"phase": "Failed"}}, {}],
        engine=engine(
            phase="ACTIVE",
            healthScore=72.5,
            scores={
                "optimization": 70.0,
                "reliability": 50.0,
                "performance": 80.0,
                "costEfficiency": 90.0,
            },
            conditions=[{"type": "EmergencyHalt", "status": "False"}],
        ),
    )
    store = StoreView(
        check_stats={
            ("shop", "payments"): Stats("shop", "payments", 8640, 8000, 92.59, 220.0),
            ("shop", "search"): Stats("shop", "search", 8640, 8640, 100.0, 3.0),
        },
        events=[
            Event(
                NOW, "OrchestratedService", "shop", "payments", "HealthChanged", "HEALTHY -> FAILED"
            )
        ],
    )
    report = assemble(cluster, store, NOW)["orchestration_report"]
    assert report["source"] == "cluster+store"
    assert report["orchestration_overview"]["overall_health_score"] == 72.5
    assert report["orchestration_overview"]["orchestration_state"] == "ACTIVE"
    assert report["service_summary"]["total_services"] == 2
    assert report["service_summary"]["failed_services"] == 1
    assert report["workflow_summary"]["completed_workflows"] == 1
    assert report["workflow_summary"]["failed_workflows"] == 1
    assert report["workflow_summary"]["workflow_success_rate"] == 50.0
    payments = next(s for s in report["services"] if s["name"] == "payments")
    assert (payments["checks_24h"], payments["failures_24h"], payments["p95_latency_ms"]) == (
        8640,
        640,
        220.0,
    )
    texts = [r["text"] for r in report["recommendations"]]
    assert any("shop/payments: FAILED; 640 of 8640 checks failed in 24 h" in t for t in texts)
    assert any("uptime 92.59% < SLA 99.9% over 24 h" in t for t in texts)
    assert any("p95 220 ms > target 100 ms over 24 h" in t for t in texts)
    assert not any("search" in t for t in texts)
    assert report["recent_events"][0]["reason"] == "HealthChanged"


def test_store_alone_says_so() -> None:
    store = StoreView(
        service_rows=[
            {
                "namespace": "shop",
                "service_name": "payments",
                "health_status": "HEALTHY",
                "priority": "HIGH",
                "uptime_percentage": 99.5,
                "configuration": {},
            },
        ],
        latest_metrics={
            "optimization_score": 90.0,
            "reliability_score": 100.0,
            "performance_score": 80.0,
            "cost_efficiency": 70.0,
        },
    )
    report = assemble(None, store, NOW, cluster_error="connection refused")["orchestration_report"]
    assert report["source"] == "store"
    assert "the cluster could not be reached (connection refused)" in report["notes"][0]
    assert (
        report["orchestration_overview"]["overall_health_score"]
        == 0.3 * 90 + 0.3 * 100 + 0.2 * 80 + 0.2 * 70
    )
    assert report["services"][0]["name"] == "payments"


def test_cluster_alone_computes_scores() -> None:
    report = assemble(
        ClusterView(services=[service("a", "HEALTHY")]), None, NOW, store_error="no store"
    )
    overview = report["orchestration_report"]["orchestration_overview"]
    assert overview["overall_health_score"] == 100.0
    assert report["orchestration_report"]["source"] == "cluster"


def test_the_store_counts_workflows_the_cluster_no_longer_has() -> None:
    cluster = ClusterView(services=[], workflows=[{"status": {"phase": "Succeeded"}}], engine=None)
    store = StoreView(workflow_counts={"Succeeded": 250, "Failed": 3})
    summary = assemble(cluster, store, NOW)["orchestration_report"]["workflow_summary"]
    assert summary["total_workflows"] == 1
    assert summary["history_by_status"] == {"Succeeded": 250, "Failed": 3}
