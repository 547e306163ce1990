"""The emergency halt's response: the halt's state in, the notification and the CRITICAL
services' scale-up out."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from orchestration_engine.api.engine import HaltReason
from orchestration_engine.core.halt import HaltState
from orchestration_engine.core.halt_response import notice, raised, scale_up_target

AT = datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)


def test_the_notice_of_a_raise_and_of_a_clear() -> None:
    assert notice(HaltState(True, HaltReason.MANUAL, "by hand"), AT) == {
        "event": "EmergencyHalt",
        "reason": "Manual",
        "message": "by hand",
        "time": "2026-03-04T05:06:07+00:00",
    }
    cleared = notice(HaltState(), AT)
    assert (cleared["event"], cleared["reason"], cleared["message"]) == (
        "EmergencyHaltCleared",
        None,
        "",
    )


def test_only_the_beginning_of_a_halt_is_a_raise() -> None:
    halted = HaltState(True, HaltReason.MANUAL, "x")
    assert raised(halted, was_active=False)
    assert not raised(halted, was_active=True)  # a new reason while halted
    assert not raised(HaltState(), was_active=True)
    assert not raised(HaltState(), was_active=False)


def test_a_critical_service_gets_one_replica_more_within_its_maximum() -> None:
    assert scale_up_target(critical=True, max_replicas=5, desired=3) == 4
    assert scale_up_target(critical=True, max_replicas=5, desired=0) == 1
    assert scale_up_target(critical=True, max_replicas=5, desired=5) is None
    assert scale_up_target(critical=True, max_replicas=5, desired=7) is None  # never down


def test_the_others_stay() -> None:
    assert scale_up_target(critical=False, max_replicas=5, desired=3) is None
    assert scale_up_target(critical=True, max_replicas=None, desired=3) is None  # no scaling
    assert scale_up_target(critical=True, max_replicas=5, desired=None) is None  # no workload


@settings(deadline=None)  # a shared, loaded machine: time says nothing here
@given(
    critical=st.booleans(),
    max_replicas=st.none() | st.integers(0, 50),
    desired=st.none() | st.integers(0, 60),
)
def test_a_scale_up_is_one_step_up_and_never_past_the_maximum(
    critical: bool, max_replicas: int | None, desired: int | None
) -> None:
    target = scale_up_target(critical=critical, max_replicas=max_replicas, desired=desired)
    if target is not None:
        assert critical
        assert desired is not None
        assert max_replicas is not None
        assert target == desired + 1
        assert target <= max_replicas
