"""core/recommendations.py: every recommendation carries the figures it stands on."""

from __future__ import annotations

from orchestration_engine.api.common import Priority
from orchestration_engine.core.recommendations import SUSTAINED_S, Evidence, derive


def test_a_planned_scale_up_says_the_latency_and_for_how_long() -> None:
    [r] = derive(
        [
            Evidence(
                ("shop", "payments"),
                Priority.CRITICAL,
                current=3,
                planned=5,
                p95_ms=220,
                target_ms=100,
                above_target_s=900,
            )
        ]
    )
    assert r.message == "payments: p95 220 ms > target 100 ms for 15 min; scale 3 → 5"
    assert r.kind == "scale"
    assert r.as_status()["evidence"] == {
        "currentReplicas": 3,
        "p95LatencyMs": 220,
        "targetLatencyMs": 100,
        "plannedReplicas": 5,
    }


def test_a_planned_change_without_a_breach_gives_the_plan_reason() -> None:
    [r] = derive(
        [
            Evidence(
                ("shop", "batch"),
                Priority.LOW,
                current=3,
                planned=1,
                plan_reason="batch: demand 3.0 replicas; 1 replicas (best 3 without the limit)",
            )
        ]
    )
    assert r.message == (
        "batch: demand 3.0 replicas; 1 replicas (best 3 without the limit); scale 3 → 1"
    )


def test_a_sustained_breach_at_max_asks_for_a_human() -> None:
    e = Evidence(
        ("shop", "search"),
        Priority.HIGH,
        current=5,
        planned=5,
        max_replicas=5,
        p95_ms=400,
        target_ms=100,
        above_target_s=SUSTAINED_S,
    )
    [r] = derive([e])
    assert r.kind == "capacity"
    assert "at maxReplicas 5: raise maxReplicas" in r.message
    assert "for 5 min" in r.message
    # A short breach is the autoscaler's to handle.
    short = Evidence(
        ("shop", "search"),
        Priority.HIGH,
        current=5,
        planned=5,
        max_replicas=5,
        p95_ms=400,
        target_ms=100,
        above_target_s=60,
    )
    assert derive([short]) == []


def test_anomaly_and_forecast() -> None:
    found = derive(
        [
            Evidence(
                ("shop", "web"),
                Priority.NORMAL,
                current=2,
                max_replicas=10,
                anomaly="latency median 180 ms vs baseline 40 ms (z 9.1)",
                forecast_replicas=4.3,
            )
        ]
    )
    assert [r.kind for r in found] == ["anomaly", "forecast"]
    assert "baseline 40 ms" in found[0].message
    assert found[1].message == (
        "web: forecast needs 4.3 replicas within 10 min, 2 now; scale 2 → 5"
    )
    assert found[1].evidence["forecastReplicas"] == 4.3


def test_a_forecast_the_plan_covers_is_not_repeated() -> None:
    e = Evidence(("shop", "web"), Priority.NORMAL, current=2, planned=5, forecast_replicas=4.3)
    assert [r.kind for r in derive([e])] == ["scale"]


def test_nothing_to_say_without_figures() -> None:
    assert derive([Evidence(("shop", "quiet"), Priority.NORMAL, current=2)]) == []


def test_ordered_by_priority_and_capped() -> None:
    many = [Evidence(("shop", f"low-{i}"), Priority.LOW, current=3, planned=1) for i in range(30)]
    many.append(Evidence(("shop", "pay"), Priority.CRITICAL, current=1, planned=2))
    found = derive(many, limit=5)
    assert len(found) == 5
    assert found[0].service == "pay"
