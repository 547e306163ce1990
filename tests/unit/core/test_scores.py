"""core.scores: each formula on known inputs."""

from __future__ import annotations

import pytest

from orchestration_engine.api.common import Priority
from orchestration_engine.api.service import Health
from orchestration_engine.core.scores import ServiceFacts, compute


def test_empty_fleet_scores_100() -> None:
    scores = compute([])
    assert (
        scores.health_score
        == scores.reliability
        == scores.performance
        == scores.cost_efficiency
        == 100.0
    )


def test_unknown_services_do_not_count() -> None:
    assert compute([ServiceFacts(Health.UNKNOWN)]).reliability == 100.0


def test_reliability_is_priority_weighted() -> None:
    facts = [
        ServiceFacts(Health.HEALTHY, Priority.CRITICAL),
        ServiceFacts(Health.FAILED, Priority.LOW),
    ]
    # weights 5 and 1: 5 / 6 serve
    assert compute(facts).reliability == pytest.approx(83.33, abs=0.01)
    facts = [
        ServiceFacts(Health.WARNING, Priority.NORMAL),
        ServiceFacts(Health.DEGRADED, Priority.NORMAL),
    ]
    assert compute(facts).reliability == 50.0


def test_performance_counts_latency_targets_and_failures() -> None:
    facts = [
        ServiceFacts(Health.HEALTHY, last_latency_ms=50, latency_target_ms=100),
        ServiceFacts(Health.WARNING, last_latency_ms=150, latency_target_ms=100),
        ServiceFacts(Health.HEALTHY),  # no target: meets it while checks pass
        ServiceFacts(Health.WARNING, last_check_ok=False),
    ]
    assert compute(facts).performance == 50.0


def test_cost_efficiency_is_ready_over_desired() -> None:
    facts = [
        ServiceFacts(Health.HEALTHY, desired_replicas=4, ready_replicas=4),
        ServiceFacts(Health.DEGRADED, desired_replicas=4, ready_replicas=2),
        ServiceFacts(Health.HEALTHY, desired_replicas=2, ready_replicas=5),  # surge counts as 2
    ]
    assert compute(facts).cost_efficiency == 80.0


def test_health_score_uses_the_original_weights() -> None:
    facts = [ServiceFacts(Health.FAILED, desired_replicas=2, ready_replicas=0, last_check_ok=False)]
    scores = compute(facts)
    assert (scores.reliability, scores.performance, scores.cost_efficiency) == (0.0, 0.0, 0.0)
    assert scores.health_score == 0.0
    facts = [ServiceFacts(Health.HEALTHY), ServiceFacts(Health.FAILED, last_check_ok=False)]
    scores = compute(facts)
    expected = 0.3 * scores.optimization + 0.3 * 50 + 0.2 * 50 + 0.2 * 100
    assert scores.health_score == pytest.approx(expected, abs=0.01)
