"""core.health: API.md's rules, state in → state out, including every threshold edge."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from orchestration_engine.api.service import Health
from orchestration_engine.core.health import (
    CheckOutcome,
    HealthPolicy,
    HealthState,
    Replicas,
    decide,
    explain,
    record_check,
    with_dependencies,
    with_replicas,
    workload_check,
)

T0 = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
POLICY = HealthPolicy(failure_threshold=3, success_threshold=1, warning_latency_ms=250)


def run(outcomes: list[bool], policy: HealthPolicy = POLICY, **start: object) -> list[Health]:
    state = HealthState(**start)  # type: ignore[arg-type]
    seen = []
    for i, ok in enumerate(outcomes):
        state = record_check(state, CheckOutcome(ok, 10.0, T0 + timedelta(seconds=i)), policy)
        seen.append(state.health)
    return seen


def test_unknown_until_the_first_check() -> None:
    assert decide(HealthState(), POLICY) is Health.UNKNOWN
    assert HealthState().health is Health.UNKNOWN


def test_failures_walk_warning_critical_failed() -> None:
    assert run([True, False, False, False]) == [
        Health.HEALTHY,
        Health.WARNING,  # f=1
        Health.CRITICAL,  # f=2 = T-1 and f >= 2
        Health.FAILED,  # f=3 = T
    ]


@pytest.mark.parametrize(
    ("threshold", "expected"),
    [
        (1, [Health.FAILED]),
        (2, [Health.WARNING, Health.FAILED]),  # f=1=T-1 but f<2: WARNING, not CRITICAL
        (3, [Health.WARNING, Health.CRITICAL, Health.FAILED]),
        (4, [Health.WARNING, Health.WARNING, Health.CRITICAL, Health.FAILED]),
    ],
)
def test_threshold_edges(threshold: int, expected: list[Health]) -> None:
    assert run([False] * threshold, HealthPolicy(failure_threshold=threshold)) == expected


def test_a_pass_resets_failures_before_failed() -> None:
    assert run([False, False, True]) == [Health.WARNING, Health.CRITICAL, Health.HEALTHY]


def test_failed_latches_until_success_threshold() -> None:
    policy = HealthPolicy(failure_threshold=2, success_threshold=3)
    seen = run([False, False, True, True, True, True], policy)
    assert seen == [
        Health.WARNING,
        Health.FAILED,
        Health.FAILED,
        Health.FAILED,
        Health.HEALTHY,  # third pass in a row: the rules apply again
        Health.HEALTHY,
    ]


def test_latch_restarts_after_a_failure_during_recovery() -> None:
    policy = HealthPolicy(failure_threshold=1, success_threshold=2)
    assert run([False, True, False, True, True], policy) == [
        Health.FAILED,
        Health.FAILED,
        Health.FAILED,
        Health.FAILED,
        Health.HEALTHY,
    ]


def test_slow_pass_is_warning_and_edge_is_not() -> None:
    state = HealthState()
    slow = record_check(state, CheckOutcome(True, 251.0, T0), POLICY)
    edge = record_check(state, CheckOutcome(True, 250.0, T0), POLICY)
    assert slow.health is Health.WARNING
    assert edge.health is Health.HEALTHY


def test_latency_is_ignored_without_warning_latency() -> None:
    state = record_check(HealthState(), CheckOutcome(True, 9999.0, T0), HealthPolicy())
    assert state.health is Health.HEALTHY


def checked(**fields: object) -> HealthState:
    return replace(HealthState(checked=True, last_latency_ms=5.0), **fields)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("desired", "ready", "expected"),
    [
        (3, 3, Health.HEALTHY),
        (3, 2, Health.DEGRADED),  # some but not all; more than half
        (3, 1, Health.CRITICAL),  # at most half
        (4, 2, Health.CRITICAL),  # exactly half
        (4, 3, Health.DEGRADED),
        (3, 0, Health.FAILED),  # none ready
        (1, 0, Health.FAILED),
        (0, 0, Health.HEALTHY),  # nothing wanted: scaled to zero on purpose
        (2, 5, Health.HEALTHY),  # surge: more ready than desired
    ],
)
def test_replica_rules(desired: int, ready: int, expected: Health) -> None:
    state = with_replicas(checked(), Replicas(desired, ready), POLICY)
    assert state.health is expected


def test_missing_workload_is_failed() -> None:
    assert with_replicas(checked(), Replicas.absent(), POLICY).health is Health.FAILED


def test_replica_rules_wait_for_the_first_check() -> None:
    assert with_replicas(HealthState(), Replicas(3, 0), POLICY).health is Health.UNKNOWN


@pytest.mark.parametrize(
    ("dependency", "expected"),
    [
        (Health.HEALTHY, Health.HEALTHY),
        (Health.WARNING, Health.HEALTHY),
        (Health.DEGRADED, Health.HEALTHY),
        (Health.UNKNOWN, Health.HEALTHY),
        (Health.CRITICAL, Health.DEGRADED),
        (Health.FAILED, Health.DEGRADED),
    ],
)
def test_dependency_rules(dependency: Health, expected: Health) -> None:
    state = with_dependencies(checked(), [("postgres", dependency)], POLICY)
    assert state.health is expected


def test_rules_order_replicas_beat_dependencies_and_warning() -> None:
    # f=1 (WARNING) + a failing dependency (DEGRADED) + 1 of 3 ready (CRITICAL): CRITICAL wins.
    state = checked(consecutive_failures=1, replicas=Replicas(3, 1), failing_dependencies=("db",))
    assert decide(state, POLICY) is Health.CRITICAL
    # f=1 (WARNING) + failing dependency (DEGRADED): DEGRADED wins.
    assert (
        decide(checked(consecutive_failures=1, failing_dependencies=("db",)), POLICY)
        is Health.DEGRADED
    )


def test_workload_checks() -> None:
    assert workload_check(None, T0).ok
    assert workload_check(Replicas(2, 1), T0).ok
    assert workload_check(Replicas(0, 0), T0).ok
    assert not workload_check(Replicas(2, 0), T0).ok
    assert workload_check(Replicas.absent(), T0).message == "the workload does not exist"


def test_explanations_name_the_reason_without_counters() -> None:
    failing = record_check(
        HealthState(), CheckOutcome(False, None, T0, "HTTP 500 (expected 200)"), POLICY
    )
    assert explain(failing, POLICY) == "checks failing: HTTP 500 (expected 200)"
    again = record_check(failing, CheckOutcome(False, None, T0, "HTTP 500 (expected 200)"), POLICY)
    assert explain(again, POLICY) == explain(failing, POLICY)
    degraded = with_dependencies(checked(), [("db", Health.FAILED)], POLICY)
    assert explain(degraded, POLICY) == "dependencies failing: db"
    partial = with_replicas(checked(), Replicas(3, 2), POLICY)
    assert explain(partial, POLICY, "Deployment web") == "2 of 3 replicas ready"
    slow = record_check(HealthState(), CheckOutcome(True, 300.0, T0), POLICY)
    assert explain(slow, POLICY) == "checks pass slower than 250 ms"
    assert explain(HealthState(), POLICY) == "not checked yet"
    assert explain(checked(health=Health.HEALTHY), POLICY) == "all checks pass"


states = st.builds(
    HealthState,
    health=st.sampled_from(list(Health)),
    checked=st.booleans(),
    consecutive_failures=st.integers(0, 10),
    consecutive_successes=st.integers(0, 10),
    last_latency_ms=st.one_of(st.none(), st.floats(0, 1000)),
    last_check_ok=st.booleans(),
    replicas=st.one_of(st.none(), st.builds(Replicas, st.integers(0, 6), st.integers(0, 6))),
    failing_dependencies=st.lists(st.sampled_from(["a", "b"]), unique=True).map(tuple),
)
policies = st.builds(
    HealthPolicy,
    failure_threshold=st.integers(1, 6),
    success_threshold=st.integers(1, 4),
    warning_latency_ms=st.one_of(st.none(), st.floats(1, 500)),
)


@given(states, policies)
def test_properties_of_decide(state: HealthState, policy: HealthPolicy) -> None:
    health = decide(state, policy)
    if not state.checked:
        assert health is Health.UNKNOWN
        return
    assert health is not Health.UNKNOWN
    if state.consecutive_failures >= policy.failure_threshold:
        assert health is Health.FAILED
    if state.health is Health.FAILED and state.consecutive_successes < policy.success_threshold:
        assert health is Health.FAILED
    if health is Health.HEALTHY:
        assert state.consecutive_failures == 0
        assert not state.failing_dependencies
        if state.replicas is not None:
            assert state.replicas.ready >= state.replicas.desired


@given(st.lists(st.booleans(), max_size=30), policies)
def test_decide_is_idempotent_over_recorded_states(
    outcomes: list[bool], policy: HealthPolicy
) -> None:
    state = HealthState()
    for i, ok in enumerate(outcomes):
        state = record_check(state, CheckOutcome(ok, 1.0, T0 + timedelta(seconds=i)), policy)
        # Deciding again from the same state changes nothing: a re-run reaches the same state.
        assert decide(state, policy) is state.health
