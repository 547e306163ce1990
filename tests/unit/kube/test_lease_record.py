"""The pure half of leader election: how a candidate judges a Lease it reads.

Expiry is counted on the observer's monotonic clock from when it saw the record change,
never from the holder's renewTime compared with the observer's wall clock.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from orchestration_engine.kube.lease_record import (
    LeaseRecord,
    Observation,
    micro_time,
    released,
    successor,
    whole_seconds,
)

T0 = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def held(holder: str, renew: datetime = T0, duration_s: int = 15) -> LeaseRecord:
    return LeaseRecord(holder, duration_s, T0, renew, 3)


def test_expiry_counts_from_the_local_observation_not_the_wall_clock() -> None:
    observation = Observation()
    # The holder's clock is a day behind ours: by wall clocks it expired long ago.
    observation.observe(held("a", renew=datetime.now(UTC) - timedelta(days=1)), now=100.0)
    assert not observation.free_for("b", 100.0, 15)
    assert not observation.free_for("b", 114.9, 15)
    assert observation.free_for("b", 115.0, 15)


def test_a_renewal_restarts_the_count_and_a_still_record_does_not() -> None:
    observation = Observation()
    assert observation.observe(held("a"), now=0.0)
    assert not observation.observe(held("a"), now=10.0)  # unchanged: still counted from 0
    assert observation.free_for("b", 15.0, 15)
    assert observation.observe(held("a", renew=T0 + timedelta(seconds=2)), now=14.0)
    assert not observation.free_for("b", 28.9, 15)
    assert observation.free_for("b", 29.0, 15)


def test_the_holders_own_duration_counts() -> None:
    observation = Observation()
    observation.observe(held("a", duration_s=40), now=0.0)
    assert not observation.free_for("b", 39.0, default_duration_s=15)
    observation.observe(LeaseRecord("a", 0, None, None, 0), now=0.0)  # no duration written
    assert observation.free_for("b", 15.0, default_duration_s=15)


def test_free_for_its_holder_and_when_released() -> None:
    observation = Observation()
    assert observation.free_for("b", 0.0, 15)  # nothing seen yet: try (the write decides)
    observation.observe(held("b"), now=0.0)
    assert observation.free_for("b", 0.1, 15)
    observation.observe(released(held("a"), T0), now=1.0)
    assert observation.free_for("b", 1.0, 15)
    assert observation.expires_at(15) == 1.0


def test_successor_keeps_or_takes() -> None:
    later = T0 + timedelta(seconds=5)
    renewal = successor(held("me"), "me", 15, later)
    assert renewal == LeaseRecord("me", 15, T0, later, 3)  # same acquisition, no transition
    takeover = successor(held("other"), "me", 15, later)
    assert takeover == LeaseRecord("me", 15, later, later, 4)
    assert successor(None, "me", 15, later).transitions == 0
    assert released(held("me"), later) == LeaseRecord("", 1, later, later, 3)


def test_spec_times_are_micro_times() -> None:
    spec = held("me").to_spec()
    assert spec["renewTime"] == "2026-01-02T03:04:05.000000Z"  # six digits even at zero
    assert spec["holderIdentity"] == "me"
    assert spec["leaseTransitions"] == 3
    assert micro_time(datetime(2026, 1, 2, 4, 4, 5, 7, tzinfo=UTC)) == (
        "2026-01-02T04:04:05.000007Z"
    )


def test_whole_seconds_never_shorten() -> None:
    assert whole_seconds(15) == 15
    assert whole_seconds(4.2) == 5
    assert whole_seconds(0.5) == 1


def test_from_spec_reads_an_empty_lease() -> None:
    assert LeaseRecord.from_spec(None) == LeaseRecord("", 0, None, None, 0)
