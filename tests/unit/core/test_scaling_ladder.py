"""The autoscaler's gate ladder: facts and a track in, a step and the next track out."""

from __future__ import annotations

from dataclasses import replace

from hypothesis import given, settings
from hypothesis import strategies as st

from orchestration_engine.core.scaling import Reason, Recommendation, ScalingPolicy
from orchestration_engine.core.scaling_ladder import (
    HISTORY_PRUNE_AT,
    PENDING_GRACE_S,
    READY_WAIT_S,
    Facts,
    Step,
    Track,
    Workload,
    evaluate,
    remember,
    window_s,
)
from orchestration_engine.core.service_status import ConditionState

POLICY = ScalingPolicy(min_replicas=1, max_replicas=10, target_latency_ms=100.0)
WEB = Workload("Deployment web", desired=3, ready=3)
NOW = 1000.0


def facts(**changes: object) -> Facts:
    return replace(Facts(policy=POLICY, now=NOW, workload=WEB), **changes)  # type: ignore[arg-type]


def slow(count: int = 5, latency: float = 400.0) -> Track:
    return Track(samples=tuple((NOW - count + i, latency) for i in range(count)))  # oldest first


def test_a_running_scale_task_waits_and_changes_nothing() -> None:
    verdict = evaluate(facts(busy=True, auto_scaling_enabled=False), slow())
    assert verdict.step is Step.WAIT
    assert verdict.track == slow()
    assert verdict.predictive is None


def test_gates_refuse_in_order_with_their_reasons() -> None:
    cases = [
        (facts(auto_scaling_enabled=False, halted=True, workload=None), "Disabled"),
        (facts(halted=True, workload=None), "Suspended"),
        (facts(workload=None), "NoWorkload"),
        (facts(workload=Workload("Deployment web", missing=True)), "WorkloadNotFound"),
    ]
    for given_facts, reason in cases:
        verdict = evaluate(given_facts, slow())
        assert verdict.step is Step.REFUSE
        assert verdict.condition is not None
        assert (verdict.condition.status, verdict.condition.reason) == (False, reason)
        assert verdict.track == slow()  # nothing is trimmed or timed before the gates pass


def test_the_missing_workload_is_named() -> None:
    verdict = evaluate(facts(workload=Workload("StatefulSet db", missing=True)), Track())
    expected = ConditionState(False, "WorkloadNotFound", "StatefulSet db not found")
    assert verdict.condition == expected


def test_a_critical_service_passes_the_halt_but_only_scales_up() -> None:
    up = evaluate(facts(halted=True, critical=True), slow())
    assert up.step is Step.SCALE
    assert up.decision is not None
    assert up.decision.desired > WEB.desired
    fast = slow(latency=10.0)
    down = evaluate(facts(halted=True, critical=True), fast)
    assert down.step is Step.SETTLE
    assert down.condition is not None
    assert down.condition.reason == "ScaleDownSuspended"


def test_our_own_patch_is_awaited_for_the_grace_period() -> None:
    pending = replace(slow(), target=5, scaled_at=NOW - 1.0, acting=True)
    assert evaluate(facts(), pending).step is Step.WAIT
    late = replace(pending, scaled_at=NOW - PENDING_GRACE_S)
    assert evaluate(facts(), late).step is not Step.WAIT


def test_high_latency_scales_up_and_records_the_recommendation() -> None:
    verdict = evaluate(facts(), slow(latency=200.0))
    assert verdict.step is Step.SCALE
    assert verdict.decision is not None
    assert verdict.decision.reason is Reason.LATENCY_HIGH
    assert verdict.decision.desired == 6  # 3 replicas * 200 ms / 100 ms
    assert verdict.track.history == (Recommendation(NOW, verdict.decision.recommended),)
    assert verdict.track.above_target_since == NOW
    assert verdict.predictive is False


def test_samples_older_than_the_window_are_dropped() -> None:
    window = window_s(10.0)
    old = Track(samples=((NOW - window - 1, 900.0), (NOW - 1, 50.0), (NOW, 60.0)))
    verdict = evaluate(facts(), old)
    assert verdict.track.samples == ((NOW - 1, 50.0), (NOW, 60.0))
    # Two samples are not enough for the latency signal: nothing changes.
    assert verdict.step is Step.SETTLE
    assert verdict.condition == ConditionState(False, "Stable", "3 replicas, within 1..10")


def test_the_breach_timer_starts_holds_and_stops() -> None:
    started = evaluate(facts(), slow()).track.above_target_since
    assert started == NOW
    held = evaluate(facts(now=NOW + 5), replace(slow(), above_target_since=NOW - 50))
    assert held.track.above_target_since == NOW - 50
    # No samples say nothing: the breach goes on.
    quiet = evaluate(facts(), Track(above_target_since=NOW - 50))
    assert quiet.track.above_target_since == NOW - 50
    within = evaluate(facts(), replace(slow(latency=80.0), above_target_since=NOW - 50))
    assert within.track.above_target_since is None
    no_target = replace(POLICY, target_latency_ms=None)
    assert evaluate(facts(policy=no_target), slow()).track.above_target_since is None


def test_a_scale_up_waits_for_the_previous_replicas_to_be_ready() -> None:
    starting = replace(slow(), target=3, scaled_at=NOW - 60.0, acting=True)
    unready = Workload("Deployment web", desired=3, ready=1)
    verdict = evaluate(facts(workload=unready), starting)
    assert verdict.step is Step.HOLD
    assert verdict.track.target == 3
    assert verdict.track.acting
    expired = replace(starting, scaled_at=NOW - READY_WAIT_S)
    assert evaluate(facts(workload=unready), expired).step is Step.SCALE


def test_a_change_under_way_keeps_its_condition_then_settles() -> None:
    under_way = replace(Track(), target=4, scaled_at=NOW - 100.0, acting=True)
    assert evaluate(facts(), under_way).step is Step.HOLD
    done = evaluate(facts(workload=Workload("Deployment web", desired=4, ready=4)), under_way)
    assert done.step is Step.SETTLE
    assert done.track.target is None
    assert not done.track.acting


def test_the_settled_condition_says_where_the_count_sits() -> None:
    at_max = evaluate(facts(workload=Workload("Deployment web", desired=10, ready=10)), Track())
    assert at_max.condition == ConditionState(False, "AtMaximum", "at maxReplicas 10")
    at_min = evaluate(facts(workload=Workload("Deployment web", desired=1, ready=1)), Track())
    assert at_min.condition == ConditionState(False, "AtMinimum", "at minReplicas 1")


def test_the_forecast_counts_only_when_predictive() -> None:
    idle = Track()
    assert evaluate(facts(forecast=8.0), idle).step is Step.SETTLE
    predicted = evaluate(facts(forecast=8.0, predictive=True), idle)
    assert predicted.step is Step.SCALE
    assert predicted.predictive is True
    assert predicted.decision is not None
    assert predicted.decision.desired == 8


def test_the_plan_and_the_external_metric_are_signals() -> None:
    planned = evaluate(facts(planned=6), Track())
    assert planned.decision is not None
    assert planned.decision.reason is Reason.PLAN
    external = evaluate(facts(policy=replace(POLICY, external_target=10.0), external=70.0), Track())
    assert external.decision is not None
    assert external.decision.desired == 7


def test_a_long_history_is_pruned() -> None:
    history = tuple(Recommendation(NOW - 10_000 + i, i % 2 + 3) for i in range(HISTORY_PRUNE_AT))
    verdict = evaluate(facts(), Track(history=history))
    assert verdict.track.history == (Recommendation(NOW, 3),)


def test_remember_keeps_a_run_as_its_latest() -> None:
    history: list[Recommendation] = []
    for at, replicas in ((1.0, 2), (2.0, 2), (3.0, 3)):
        remember(history, Recommendation(at, replicas))
    assert history == [Recommendation(2.0, 2), Recommendation(3.0, 3)]


@settings(deadline=None)  # a shared, loaded machine: time says nothing here
@given(
    enabled=st.booleans(),
    halted=st.booleans(),
    critical=st.booleans(),
    busy=st.booleans(),
    desired=st.integers(0, 20),
    ready=st.integers(0, 20),
    latencies=st.lists(st.floats(0.0, 10_000.0), max_size=12),
    target=st.none() | st.integers(0, 20),
    scaled_ago=st.none() | st.floats(0.0, 1000.0),
    acting=st.booleans(),
)
def test_any_facts_give_one_consistent_step(
    enabled: bool,
    halted: bool,
    critical: bool,
    busy: bool,
    desired: int,
    ready: int,
    latencies: list[float],
    target: int | None,
    scaled_ago: float | None,
    acting: bool,
) -> None:
    track = Track(
        samples=tuple((NOW - 50.0 + 5 * i, latency) for i, latency in enumerate(latencies)),
        target=target,
        scaled_at=NOW - scaled_ago if scaled_ago is not None else None,
        acting=acting,
    )
    workload = Workload("Deployment web", desired=desired, ready=ready)
    verdict = evaluate(
        facts(
            auto_scaling_enabled=enabled,
            halted=halted,
            critical=critical,
            busy=busy,
            workload=workload,
        ),
        track,
    )
    passed = not busy and enabled and (critical or not halted)
    if not passed:
        assert verdict.step in (Step.WAIT, Step.REFUSE)
        assert verdict.track == track
    if verdict.step is Step.SCALE:
        assert verdict.decision is not None
        assert verdict.decision.changes
        assert POLICY.min_replicas <= verdict.decision.desired <= POLICY.max_replicas
        assert not (halted and verdict.decision.desired < desired)
    if verdict.step in (Step.REFUSE, Step.SETTLE):
        assert verdict.condition is not None
        assert verdict.condition.status is False
    if verdict.step is Step.SETTLE:
        assert verdict.track.target is None
        assert not verdict.track.acting
    # Whatever happens, the track keeps a tail of its samples, all inside the window.
    kept = verdict.track.samples
    assert kept == track.samples[len(track.samples) - len(kept) :]
    if verdict.step not in (Step.WAIT, Step.REFUSE):
        assert all(NOW - at <= window_s(10.0) for at, _latency in kept)
