"""core.halt: every trigger at its edges, manual precedence, the settle period (no flapping)."""

from __future__ import annotations

import itertools
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from orchestration_engine.api.engine import HaltReason
from orchestration_engine.core.halt import (
    MIN_FINISHED_WORKFLOWS,
    RESOURCE_SAMPLES,
    HaltInputs,
    HaltState,
    causes,
    evaluate,
)

T0 = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
SETTLE = 60.0

CALM = HaltInputs(enabled=True)
# One input set per automatic trigger, each crossing only its own threshold (defaults:
# resource 95 %, services 50 %, workflows 30 %, max duration 86400 s).
RESOURCE = replace(CALM, cpu_samples=(96.0, 97.0, 98.0))
SERVICES = replace(CALM, services_known=4, services_failed=3)
WORKFLOWS = replace(CALM, workflows_finished=10, workflows_failed=4)
TIMEOUT = replace(CALM, longest_running_s=90000.0)
TRIGGERS = [
    (HaltReason.RESOURCE_EXHAUSTION, RESOURCE),
    (HaltReason.SERVICE_FAILURES, SERVICES),
    (HaltReason.WORKFLOW_FAILURES, WORKFLOWS),
    (HaltReason.TIMEOUT, TIMEOUT),
]
EVERYTHING = replace(
    CALM,
    cpu_samples=RESOURCE.cpu_samples,
    services_known=SERVICES.services_known,
    services_failed=SERVICES.services_failed,
    workflows_finished=WORKFLOWS.workflows_finished,
    workflows_failed=WORKFLOWS.workflows_failed,
    longest_running_s=TIMEOUT.longest_running_s,
)


def reasons(inputs: HaltInputs) -> list[HaltReason]:
    return [reason for reason, _ in causes(inputs)]


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def step(inputs: HaltInputs, state: HaltState, seconds: float) -> HaltState:
    return evaluate(inputs, state, at(seconds), settle_s=SETTLE)


def raised(inputs: HaltInputs = RESOURCE) -> HaltState:
    state = step(inputs, HaltState(), 0)
    assert state.active
    return state


# --- nothing crossed ---------------------------------------------------------------------


def test_calm_inputs_cross_nothing() -> None:
    assert causes(CALM) == []
    assert step(CALM, HaltState(), 0) == HaltState()


def test_each_trigger_alone_crosses_only_itself() -> None:
    for reason, inputs in TRIGGERS:
        assert reasons(inputs) == [reason]


# --- ResourceExhaustion --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("samples", "crossed"),
    [
        ((), False),
        ((99.0,), False),
        ((99.0, 99.0), False),  # two busy samples are not enough
        ((99.0, 99.0, 99.0), True),
        ((95.0, 99.0, 99.0), False),  # exactly at the limit is not above it
        ((99.0, 99.0, 95.0), False),
        ((95.01, 95.01, 95.01), True),
        ((99.0, 50.0, 99.0), False),  # one dip breaks the run
        ((99.0, 99.0, 50.0), False),  # the newest dipping too
        ((50.0, 99.0, 99.0), False),
        ((50.0, 99.0, 99.0, 99.0), True),  # a dip older than the last 3 no longer counts
        ((99.0, 99.0, 99.0, 50.0), False),
        ((10.0, 20.0, 99.0, 99.0, 99.0), True),
    ],
)
@pytest.mark.parametrize("resource", ["cpu_samples", "memory_samples"])
def test_resource_needs_the_last_three_samples_strictly_above(
    resource: str, samples: tuple[float, ...], crossed: bool
) -> None:
    assert RESOURCE_SAMPLES == 3
    inputs = replace(CALM, **{resource: samples})  # type: ignore[arg-type]
    assert reasons(inputs) == ([HaltReason.RESOURCE_EXHAUSTION] if crossed else [])


def test_cpu_or_memory_alone_suffices_but_they_do_not_combine() -> None:
    busy, idle = (99.0, 99.0, 99.0), (10.0, 10.0, 10.0)
    assert reasons(replace(CALM, cpu_samples=busy, memory_samples=idle)) == [
        HaltReason.RESOURCE_EXHAUSTION
    ]
    assert reasons(replace(CALM, cpu_samples=idle, memory_samples=busy)) == [
        HaltReason.RESOURCE_EXHAUSTION
    ]
    # CPU busy in two samples and memory in the third: neither was busy in all three.
    mixed = replace(CALM, cpu_samples=(99.0, 99.0, 10.0), memory_samples=(10.0, 10.0, 99.0))
    assert reasons(mixed) == []


def test_resource_limit_is_the_configured_percent() -> None:
    samples = (81.0, 82.0, 83.0)
    assert reasons(replace(CALM, cpu_samples=samples, resource_percent=80)) == [
        HaltReason.RESOURCE_EXHAUSTION
    ]
    assert reasons(replace(CALM, cpu_samples=samples, resource_percent=81)) == []


def test_resource_message_carries_the_figures() -> None:
    inputs = replace(CALM, cpu_samples=(96.0, 97.0, 98.4), memory_samples=(40.0, 41.0, 42.2))
    [(_, message)] = causes(inputs)
    assert message == "host CPU 98%, memory 42% (limit 95% for 3 samples)"
    [(_, message)] = causes(replace(CALM, memory_samples=(99.0, 99.0, 99.0)))
    assert message == "host CPU 0%, memory 99% (limit 95% for 3 samples)"


# --- ServiceFailures -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("known", "failed", "percent", "crossed"),
    [
        (0, 0, 50.0, False),  # no service with known health: never
        (0, 3, 50.0, False),
        (2, 1, 50.0, False),  # exactly 50 % is not above 50 %
        (4, 2, 50.0, False),
        (3, 2, 50.0, True),
        (1, 1, 50.0, True),
        (1, 0, 50.0, False),
        (10, 1, 10.0, False),  # 10 % of 10
        (10, 2, 10.0, True),
        (100, 100, 100.0, False),  # all failed is not above 100 %
        (1000, 501, 50.0, True),
    ],
)
def test_service_failures_strictly_above_the_percent_of_known(
    known: int, failed: int, percent: float, crossed: bool
) -> None:
    inputs = replace(
        CALM, services_known=known, services_failed=failed, failed_services_percent=percent
    )
    assert reasons(inputs) == ([HaltReason.SERVICE_FAILURES] if crossed else [])


def test_service_message_carries_the_figures() -> None:
    [(_, message)] = causes(replace(CALM, services_known=3, services_failed=2))
    assert message == "2 of 3 services FAILED (67% > 50%)"


# --- WorkflowFailures ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("finished", "failed", "crossed"),
    [
        (0, 0, False),
        (1, 1, False),
        (4, 4, False),  # all failed, but fewer than 5 finished
        (5, 1, False),  # 20 %
        (5, 2, True),  # 40 %
        (5, 5, True),
        (10, 3, False),  # exactly 30 % is not above it
        (10, 4, True),
        (100, 30, False),
        (100, 31, True),
    ],
)
def test_workflow_failures_once_five_finished_strictly_above(
    finished: int, failed: int, crossed: bool
) -> None:
    assert MIN_FINISHED_WORKFLOWS == 5
    inputs = replace(CALM, workflows_finished=finished, workflows_failed=failed)
    assert reasons(inputs) == ([HaltReason.WORKFLOW_FAILURES] if crossed else [])


def test_workflow_percent_is_configurable() -> None:
    inputs = replace(CALM, workflows_finished=5, workflows_failed=1)
    assert reasons(replace(inputs, failed_workflows_percent=19)) == [HaltReason.WORKFLOW_FAILURES]
    assert reasons(replace(inputs, failed_workflows_percent=20)) == []


def test_workflow_message_carries_the_figures() -> None:
    [(_, message)] = causes(replace(CALM, workflows_finished=5, workflows_failed=2))
    assert message == "2 of 5 workflows finished in the last 10 min failed (40% > 30%)"


# --- Timeout -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("longest", "maximum", "crossed"),
    [
        (None, 86400.0, False),  # nothing running
        (0.0, 86400.0, False),
        (86400.0, 86400.0, False),  # exactly the maximum is not longer
        (86400.5, 86400.0, True),
        (61.0, 60.0, True),
        (60.0, 60.0, False),
    ],
)
def test_timeout_when_the_longest_run_exceeds_the_maximum(
    longest: float | None, maximum: float, crossed: bool
) -> None:
    inputs = replace(CALM, longest_running_s=longest, max_duration_s=maximum)
    assert reasons(inputs) == ([HaltReason.TIMEOUT] if crossed else [])


def test_timeout_message_carries_the_figures() -> None:
    [(_, message)] = causes(replace(CALM, longest_running_s=90000.4))
    assert message == (
        "a workflow has run 90000s, more than maxOrchestrationDurationSeconds (86400s)"
    )


# --- enabled, manual, reason order ---------------------------------------------------------


def test_disabled_turns_every_automatic_trigger_off() -> None:
    disabled = replace(EVERYTHING, enabled=False)
    assert causes(disabled) == []
    assert step(disabled, HaltState(), 0) == HaltState()
    for _, inputs in TRIGGERS:
        assert step(replace(inputs, enabled=False), HaltState(), 0) == HaltState()


def test_disabled_does_not_turn_the_manual_halt_off() -> None:
    state = step(replace(CALM, enabled=False, manual=True), HaltState(), 0)
    assert (state.active, state.reason) == (True, HaltReason.MANUAL)
    assert state.message == "halt requested in spec.halt"
    assert state.causes == ()


def test_reason_order_when_several_triggers_are_crossed() -> None:
    assert reasons(EVERYTHING) == [reason for reason, _ in TRIGGERS]
    # Every subset of triggers: the reason shown is the first crossed in the documented order.
    for size in range(1, len(TRIGGERS) + 1):
        for subset in itertools.combinations(TRIGGERS, size):
            inputs = CALM
            for _, trigger in subset:
                inputs = _merge(inputs, trigger)
            state = step(inputs, HaltState(), 0)
            assert reasons(inputs) == [reason for reason, _ in subset]
            assert state.active
            assert state.reason is subset[0][0]
            assert state.message == causes(inputs)[0][1]
            assert state.causes == tuple(causes(inputs))


def _merge(inputs: HaltInputs, trigger: HaltInputs) -> HaltInputs:
    changed = {
        name: getattr(trigger, name)
        for name in HaltInputs.__dataclass_fields__
        if getattr(trigger, name) != getattr(CALM, name)
    }
    return replace(inputs, **changed)


def test_manual_wins_the_reason_and_keeps_the_automatic_causes() -> None:
    inputs = replace(EVERYTHING, manual=True, manual_message="maintenance window")
    state = step(inputs, HaltState(), 0)
    assert (state.active, state.reason, state.message) == (
        True,
        HaltReason.MANUAL,
        "maintenance window",
    )
    assert state.causes == tuple(causes(EVERYTHING))
    assert state.clear_since is None


def test_manual_overrides_an_automatic_halt_in_progress() -> None:
    state = step(replace(RESOURCE, manual=True), raised(), 1)
    assert state.reason is HaltReason.MANUAL
    assert state.message == "halt requested in spec.halt"


def test_manual_halt_clears_at_once_when_released() -> None:
    state = step(replace(CALM, manual=True), HaltState(), 0)
    assert state.active
    cleared = step(CALM, state, 1)
    assert cleared == HaltState()


def test_manual_release_with_an_automatic_cause_keeps_the_halt_for_that_cause() -> None:
    state = step(replace(SERVICES, manual=True), HaltState(), 0)
    assert state.reason is HaltReason.MANUAL
    after = step(SERVICES, state, 1)
    assert (after.active, after.reason) == (True, HaltReason.SERVICE_FAILURES)
    assert after.message == "3 of 4 services FAILED (75% > 50%)"
    assert after.clear_since is None


def test_manual_release_skips_what_is_left_of_an_automatic_settle() -> None:
    # Pinned behaviour: a manual halt clears at once on release, even if it replaced an
    # automatic halt that was still settling (its cause has gone by then).
    settling = step(CALM, raised(), 1)
    assert settling.active
    assert settling.clear_since == at(1)
    manual = step(replace(CALM, manual=True), settling, 2)
    assert manual.reason is HaltReason.MANUAL
    assert step(CALM, manual, 3) == HaltState()


# --- raising and settling ------------------------------------------------------------------


def test_raising_records_reason_message_and_causes() -> None:
    state = raised(SERVICES)
    assert state == HaltState(
        active=True,
        reason=HaltReason.SERVICE_FAILURES,
        message="3 of 4 services FAILED (75% > 50%)",
        clear_since=None,
        causes=((HaltReason.SERVICE_FAILURES, "3 of 4 services FAILED (75% > 50%)"),),
    )


def test_automatic_halt_clears_only_after_the_settle_period() -> None:
    state = raised()
    cause = state.message
    state = step(CALM, state, 1)  # the cause goes away: the wait starts now
    assert (state.active, state.reason, state.clear_since) == (
        True,
        HaltReason.RESOURCE_EXHAUSTION,
        at(1),
    )
    assert state.causes == ()
    assert state.message == f"{cause}; cleared, settling for 60s more"
    state = step(CALM, state, 31)
    assert state.active
    assert state.clear_since == at(1)
    assert state.message == f"{cause}; cleared, settling for 30s more"  # not accumulated
    state = step(CALM, state, 1 + SETTLE - 0.001)
    assert state.active
    assert step(CALM, state, 1 + SETTLE) == HaltState()


def test_a_flickering_cause_keeps_the_halt_and_restarts_the_wait() -> None:
    state = step(CALM, raised(), 1)
    state = step(CALM, state, 50)
    assert state.active
    state = step(RESOURCE, state, 55)  # back inside the settle period
    assert (state.active, state.clear_since) == (True, None)
    assert state.message == causes(RESOURCE)[0][1]
    state = step(CALM, state, 56)
    assert state.clear_since == at(56)
    # Past the first wait's end, but not the restarted one's.
    state = step(CALM, state, 1 + SETTLE + 10)
    assert state.active
    state = step(CALM, state, 56 + SETTLE - 1)
    assert state.active
    assert not step(CALM, state, 56 + SETTLE).active


def test_a_different_cause_during_the_settle_period_becomes_the_reason() -> None:
    state = step(CALM, raised(RESOURCE), 1)
    state = step(TIMEOUT, state, 2)
    assert (state.active, state.reason, state.clear_since) == (True, HaltReason.TIMEOUT, None)


def test_disabling_during_an_automatic_halt_clears_it() -> None:
    assert step(replace(RESOURCE, enabled=False), raised(), 1) == HaltState()
    settling = step(CALM, raised(), 1)
    assert step(replace(CALM, enabled=False), settling, 2) == HaltState()


def test_a_zero_settle_period_clears_on_the_first_calm_round() -> None:
    state = evaluate(RESOURCE, HaltState(), at(0), settle_s=0)
    assert evaluate(CALM, state, at(1), settle_s=0) == HaltState()


def test_an_active_halt_without_clear_since_starts_settling_now() -> None:
    # E.g. a halt restored after a restart: the wait starts at the first calm round seen.
    restored = HaltState(True, HaltReason.TIMEOUT, "a workflow has run 90000s, ...")
    state = step(CALM, restored, 100)
    assert state.active
    assert state.clear_since == at(100)
    assert step(CALM, state, 100 + SETTLE) == HaltState()


def test_an_inactive_state_stays_inactive_without_a_cause() -> None:
    state = HaltState()
    for second in range(5):
        state = step(CALM, state, second)
        assert state == HaltState()


# --- property: no flapping -----------------------------------------------------------------

CAUSE_INPUTS = [inputs for _, inputs in TRIGGERS if inputs is not RESOURCE]  # one tick suffices


@settings(max_examples=300, deadline=None)
@given(
    ticks=st.lists(st.one_of(st.none(), st.sampled_from(CAUSE_INPUTS)), max_size=80),
    settle=st.integers(min_value=1, max_value=12),
)
def test_the_halt_never_flaps(ticks: list[HaltInputs | None], settle: int) -> None:
    state = HaltState()
    last_cause: int | None = None
    raises = clears = 0
    for second, cause in enumerate(ticks):
        before = state
        state = evaluate(cause or CALM, state, at(second), settle_s=settle)
        if cause is not None:
            last_cause = second
            assert state.active  # a cause is never ignored
        if state.active and not before.active:
            raises += 1
        if before.active and not state.active:
            clears += 1
            assert last_cause is not None
            assert second - last_cause >= settle  # never cleared early
    # Runs of cause ticks, a new run starting only after at least `settle` seconds of calm.
    cause_seconds = [second for second, cause in enumerate(ticks) if cause is not None]
    runs = sum(
        1
        for index, current in enumerate(cause_seconds)
        if index == 0 or current - cause_seconds[index - 1] - 1 >= settle
    )
    assert raises <= runs
    assert clears <= runs
    assert clears <= raises <= clears + 1
    # A long enough calm at the end always clears it.
    if last_cause is not None and len(ticks) - 1 - last_cause > settle:
        assert not state.active
