"""An OrchestratedService's status: a view and the previous conditions in, a document out."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from orchestration_engine.api.service import Health
from orchestration_engine.core.anomaly import AnomalyVerdict
from orchestration_engine.core.conditions import find_condition
from orchestration_engine.core.health import HealthPolicy, HealthState, Replicas
from orchestration_engine.core.service_status import (
    HEARTBEAT_FIELDS,
    ConditionState,
    DependencyView,
    ServiceView,
    render_conditions,
    render_status,
    should_write,
    visible,
)

NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
HEALTHY = HealthState(
    health=Health.HEALTHY,
    checked=True,
    consecutive_successes=4,
    last_latency_ms=12.3456,
    last_check_time=NOW,
    replicas=Replicas(desired=2, ready=2),
)


def view(**changes: Any) -> ServiceView:
    base = ServiceView(generation=3, state=HEALTHY, policy=HealthPolicy(), workload="Deployment a")
    return replace(base, **changes)


def condition(conditions: list[dict[str, Any]], type_: str) -> tuple[str, str, str]:
    found = find_condition(conditions, type_)
    assert found is not None, type_
    return found["status"], found["reason"], found["message"]


def test_a_healthy_service_is_ready_and_reconciling() -> None:
    conditions = render_conditions(view(), [], NOW)
    assert condition(conditions, "Ready")[:2] == ("True", "Healthy")
    assert condition(conditions, "Healthy")[:2] == ("True", "Healthy")
    assert condition(conditions, "Stalled") == ("False", "Reconciling", "")
    assert condition(conditions, "DependenciesHealthy") == ("True", "NoDependencies", "")
    assert condition(conditions, "FailedOver") == (
        "False",
        "NotConfigured",
        "no failover configured",
    )
    assert condition(conditions, "Scaling") == ("False", "NotConfigured", "no scaling configured")
    assert find_condition(conditions, "FailoverFailed") is None
    assert find_condition(conditions, "AnomalyDetected") is None
    assert all(c["observedGeneration"] == 3 for c in conditions)


def test_ready_follows_health() -> None:
    cases = {
        Health.UNKNOWN: ("Unknown", "AwaitingFirstCheck"),
        Health.WARNING: ("True", "Warning"),
        Health.CRITICAL: ("False", "Critical"),
        Health.FAILED: ("False", "Failed"),
    }
    for health, expected in cases.items():
        state = replace(HEALTHY, health=health)
        conditions = render_conditions(view(state=state), [], NOW)
        assert condition(conditions, "Ready")[:2] == expected
        healthy = condition(conditions, "Healthy")[0]
        assert healthy == ("Unknown" if health is Health.UNKNOWN else "False")


def test_a_spec_problem_stalls_before_a_dependency_cycle() -> None:
    deps = DependencyView(names=("b",), cycle=("a", "b", "a"))
    stalled = render_conditions(
        view(spec_problems=("x is bad", "y too"), dependencies=deps), [], NOW
    )
    assert condition(stalled, "Ready") == ("False", "InvalidSpec", "x is bad; y too")
    assert condition(stalled, "Stalled") == ("True", "InvalidSpec", "x is bad; y too")
    cycle = render_conditions(view(dependencies=deps), [], NOW)
    message = "dependsOn forms a cycle: a -> b -> a"
    assert condition(cycle, "Stalled") == ("True", "DependencyCycle", message)
    assert condition(cycle, "DependenciesHealthy") == ("False", "DependencyCycle", message)


def test_missing_failing_and_unchecked_dependencies() -> None:
    missing = render_conditions(view(dependencies=DependencyView(("b", "c"), ("c",))), [], NOW)
    assert condition(missing, "Stalled")[:2] == ("True", "DependencyMissing")
    assert condition(missing, "DependenciesHealthy") == (
        "False",
        "DependencyMissing",
        "not found: c",
    )
    health = {"b": Health.FAILED, "c": Health.HEALTHY}
    failing = render_conditions(
        view(
            state=replace(HEALTHY, failing_dependencies=("b",)),
            dependencies=DependencyView(("b", "c"), health=health),
        ),
        [],
        NOW,
    )
    assert condition(failing, "DependenciesHealthy") == (
        "False",
        "DependencyFailing",
        "b is FAILED",
    )
    unchecked = render_conditions(
        view(dependencies=DependencyView(("b", "c"), health={"c": Health.HEALTHY})), [], NOW
    )
    assert condition(unchecked, "DependenciesHealthy") == (
        "Unknown",
        "DependencyUnknown",
        "not checked yet: b",
    )
    all_healthy = DependencyView(("b",), health={"b": Health.HEALTHY})
    healthy = render_conditions(view(dependencies=all_healthy), [], NOW)
    assert condition(healthy, "DependenciesHealthy") == ("True", "AllHealthy", "")


def test_failed_over_names_where_traffic_goes() -> None:
    pair = ("Deployment a", "Deployment a-standby")
    primary = render_conditions(view(failover=pair), [], NOW)
    assert condition(primary, "FailedOver") == (
        "False",
        "Primary",
        "traffic goes to the primary Deployment a",
    )
    standby = render_conditions(
        view(failover=pair, active_target="standby", last_failover_time="2026-01-02T03:00:00Z"),
        [],
        NOW,
    )
    assert condition(standby, "FailedOver") == (
        "True",
        "FailedOver",
        "traffic goes to the standby Deployment a-standby since 2026-01-02T03:00:00Z",
    )


def test_failover_failed_appears_then_stays_resolved() -> None:
    failed = render_conditions(view(failover_problem=("ApiError", "boom")), [], NOW)
    assert condition(failed, "FailoverFailed") == ("True", "ApiError", "boom")
    resolved = render_conditions(view(), failed, NOW)
    assert condition(resolved, "FailoverFailed") == ("False", "Resolved", "")
    # Never set, never shown.
    assert find_condition(render_conditions(view(), [], NOW), "FailoverFailed") is None


def test_scaling_and_anomaly_conditions_come_from_their_deciders() -> None:
    scaling = ConditionState(True, "ScaledUp", "up to 4")
    for signals, reason in (
        (("latency",), "LatencyAnomaly"),
        (("errors",), "ErrorRateAnomaly"),
        (("latency", "errors"), "LatencyAndErrorRateAnomaly"),
    ):
        anomaly = AnomalyVerdict(active=True, signals=signals, message="odd")
        conditions = render_conditions(view(scaling=scaling, anomaly=anomaly), [], NOW)
        assert condition(conditions, "Scaling") == ("True", "ScaledUp", "up to 4")
        assert condition(conditions, "AnomalyDetected") == ("True", reason, "odd")
    quiet = AnomalyVerdict(active=False, signals=(), message="")
    normal = render_conditions(view(anomaly=quiet), [], NOW)
    assert condition(normal, "AnomalyDetected") == ("False", "Normal", "")


def test_a_transition_time_moves_only_with_the_status() -> None:
    first = render_conditions(view(), [], NOW)
    later = NOW + timedelta(minutes=5)
    same = render_conditions(view(), first, later)
    assert same == first
    failed = render_conditions(view(state=replace(HEALTHY, health=Health.FAILED)), first, later)
    ready = find_condition(failed, "Ready")
    stalled = find_condition(failed, "Stalled")
    assert ready is not None
    assert ready["lastTransitionTime"] == "2026-01-02T03:09:05Z"
    assert stalled is not None
    assert stalled["lastTransitionTime"] == "2026-01-02T03:04:05Z"


def test_the_status_document() -> None:
    status = render_status(
        view(uptime_percent=99.5, failover_count=2, last_scale_time="2026-01-02T03:00:00Z"),
        [],
        NOW,
    )
    assert {k: v for k, v in status.items() if k != "conditions"} == {
        "observedGeneration": 3,
        "health": "HEALTHY",
        "activeTarget": "primary",
        "consecutiveFailures": 0,
        "consecutiveSuccesses": 4,
        "failoverCount": 2,
        "lastFailoverTime": None,
        "lastScaleTime": "2026-01-02T03:00:00Z",
        "lastCheckTime": "2026-01-02T03:04:05Z",
        "lastLatencyMs": 12.346,
        "uptimePercent": 99.5,
        "replicas": {"desired": 2, "ready": 2},
    }
    assert status["conditions"] == render_conditions(view(), [], NOW)


def test_an_unchecked_service_without_workload_leaves_the_optional_fields_out() -> None:
    status = render_status(view(state=HealthState()), [], NOW)
    for absent in ("lastCheckTime", "lastLatencyMs", "uptimePercent", "replicas"):
        assert absent not in status
    assert status["health"] == "UNKNOWN"


def test_visible_drops_only_the_heartbeat_fields() -> None:
    status = render_status(view(uptime_percent=99.0), [], NOW)
    shown = visible(status)
    assert set(status) - set(shown) == HEARTBEAT_FIELDS
    assert all(shown[k] == status[k] for k in shown)


def test_should_write() -> None:
    status = render_status(view(), [], NOW)
    assert should_write(status, None, None, 60.0)
    assert should_write(status, status, None, 60.0)
    assert not should_write(status, status, 3600.0, 60.0)  # nothing changed at all
    ticked = {**status, "lastLatencyMs": 99.0}
    assert not should_write(ticked, status, 10.0, 60.0)  # a counter moved: the heartbeat's
    assert should_write(ticked, status, 60.0, 60.0)
    moved = {**status, "health": "FAILED"}
    assert should_write(moved, status, 0.0, 60.0)  # a visible change goes at once


@settings(deadline=None)  # a shared, loaded machine: time says nothing here
@given(
    health=st.sampled_from(list(Health)),
    problems=st.lists(st.text(min_size=1, max_size=5), max_size=2),
    missing=st.lists(st.sampled_from(["b", "c"]), max_size=2, unique=True),
    active=st.sampled_from(["primary", "standby"]),
    failover=st.booleans(),
    problem=st.booleans(),
)
def test_every_view_gives_each_condition_once_with_a_valid_status(
    health: Health,
    problems: list[str],
    missing: list[str],
    active: str,
    failover: bool,
    problem: bool,
) -> None:
    given_view = view(
        state=replace(HEALTHY, health=health),
        spec_problems=tuple(problems),
        dependencies=DependencyView(("b", "c"), tuple(missing)),
        active_target=active,
        failover=("Deployment a", "Deployment b") if failover else None,
        failover_problem=("SwitchFailed", "no") if problem else None,
    )
    conditions = render_conditions(given_view, [], NOW)
    types = [c["type"] for c in conditions]
    assert len(types) == len(set(types))
    assert {"Ready", "Stalled", "Healthy", "DependenciesHealthy", "FailedOver", "Scaling"} <= set(
        types
    )
    assert all(c["status"] in ("True", "False", "Unknown") for c in conditions)
    stalled = condition(conditions, "Stalled")[0] == "True"
    assert stalled == bool(problems or missing)
    if stalled:
        assert condition(conditions, "Ready")[0] == "False"
    # Rendering again from its own output changes nothing.
    assert render_conditions(given_view, conditions, NOW + timedelta(hours=1)) == conditions
