"""A service created together with its workload: while the first rollout is under way it is
UNKNOWN, not FAILED (which would fail it over at birth); an outage later is still one."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from orchestration_engine.api.service import Health
from orchestration_engine.controllers.services.workloads import (
    first_rollout_under_way,
    replicas_from,
)
from orchestration_engine.core.health import (
    CheckOutcome,
    HealthPolicy,
    HealthState,
    Replicas,
    explain,
    record_check,
    with_replicas,
)

T0 = datetime(2026, 12, 7, 21, 0, tzinfo=UTC)
POLICY = HealthPolicy(failure_threshold=2, success_threshold=1)
STARTING = Replicas(2, 0, starting=True)


def check(state: HealthState, ok: bool, second: int) -> HealthState:
    return record_check(state, CheckOutcome(ok, 5.0, T0 + timedelta(seconds=second)), POLICY)


def test_failed_checks_while_the_first_pods_start_leave_it_unknown_and_uncounted() -> None:
    state = with_replicas(HealthState(), STARTING, POLICY)
    for second in range(10):
        state = check(state, False, second)
        assert state.health is Health.UNKNOWN
    assert state.consecutive_failures == 0
    assert "starting" in explain(state, POLICY)
    # The rollout completes: the next passing check decides, with no failures carried over.
    state = with_replicas(state, Replicas(2, 2), POLICY)
    assert state.consecutive_failures == 0
    assert check(state, True, 11).health is Health.HEALTHY


def test_a_first_rollout_that_never_becomes_ready_is_failed_once_past_its_deadline() -> None:
    state = check(with_replicas(HealthState(), STARTING, POLICY), False, 0)
    # ProgressDeadlineExceeded: the Deployment is no longer starting.
    state = with_replicas(state, Replicas(2, 0), POLICY)
    assert state.health is Health.FAILED


def test_ready_pods_and_a_passing_check_end_the_start_even_mid_rollout() -> None:
    state = with_replicas(HealthState(), Replicas(2, 1, starting=True), POLICY)
    state = check(state, True, 0)
    assert state.health is Health.CRITICAL  # one of two: judged, by the replica rules
    # Once judged, a rollout that takes every pod away is an outage.
    state = with_replicas(state, Replicas(2, 0, starting=True), POLICY)
    assert state.health is Health.FAILED


def test_a_service_already_judged_is_failed_by_an_unready_rollout() -> None:
    state = check(with_replicas(HealthState(), Replicas(2, 2), POLICY), True, 0)
    assert state.health is Health.HEALTHY
    assert with_replicas(state, STARTING, POLICY).health is Health.FAILED


def _deployment_status(progressing: str | None, available: str | None) -> dict[str, object]:
    conditions: list[dict[str, str]] = []
    if progressing:
        conditions.append({"type": "Progressing", "status": "True", "reason": progressing})
    if available:
        conditions.append({"type": "Available", "status": available})
    return {"observedGeneration": 1, "conditions": conditions}


def test_the_deployment_controllers_conditions_say_when_a_first_rollout_is_under_way() -> None:
    assert first_rollout_under_way(_deployment_status("NewReplicaSetCreated", "False"))
    assert first_rollout_under_way(_deployment_status("ReplicaSetUpdated", "False"))
    assert first_rollout_under_way(_deployment_status("ReplicaSetUpdated", None))
    # Done, past its deadline, or a later rollout while the old pods serve.
    assert not first_rollout_under_way(_deployment_status("NewReplicaSetAvailable", "False"))
    assert not first_rollout_under_way(_deployment_status(None, "False"))
    assert not first_rollout_under_way(_deployment_status("ReplicaSetUpdated", "True"))
    deadline = {"conditions": [{"type": "Progressing", "status": "False",
                                "reason": "ProgressDeadlineExceeded"}]}  # fmt: skip
    assert not first_rollout_under_way(deadline)
    # No conditions: judged as before (status written by hand, or not yet synced).
    assert not first_rollout_under_way({})


def test_only_deployments_report_a_start() -> None:
    status = _deployment_status("NewReplicaSetCreated", "False")
    assert replicas_from({"replicas": 2}, status, "Deployment").starting
    assert not replicas_from({"replicas": 2}, status, "StatefulSet").starting
