"""The watch canary's heartbeats through its pure parts: tokens written into the engine's
status, read back from watch events, and the liveness verdict over a run of beats."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from hypothesis import given, settings
from hypothesis import strategies as st

from orchestration_engine.core.watch_liveness import (
    FIELD,
    CanaryState,
    heartbeat_of,
    heartbeat_patch,
    refused,
    seen,
    sent,
    token_at,
    verdict,
    written,
)

T0 = datetime(2026, 5, 6, 7, 8, 9, 123456, tzinfo=UTC)
STALL = 180.0


def test_a_token_is_utc_to_the_microsecond() -> None:
    assert token_at(T0) == "2026-05-06T07:08:09.123456Z"
    elsewhere = T0.astimezone(timezone(timedelta(hours=2)))
    assert token_at(elsewhere) == token_at(T0)
    assert token_at(T0 + timedelta(microseconds=1)) != token_at(T0)


def test_the_patch_writes_one_field_that_the_watch_reads_back() -> None:
    patch = heartbeat_patch("t1")
    assert patch == {"status": {FIELD: "t1"}}
    assert heartbeat_of(patch) == "t1"
    assert heartbeat_of({"status": None}) is None
    assert heartbeat_of({}) is None
    assert heartbeat_of({"status": {"phase": "ACTIVE"}}) is None


def beat(
    state: CanaryState, at: datetime, mono: float, *, accepted: bool, back: bool, early: bool
) -> CanaryState:
    """One heartbeat as the canary runs it: sent, maybe seen before the answer, answered."""
    token = token_at(at)
    state = sent(state, token, mono)
    if back and early:
        state = seen(state, heartbeat_of(heartbeat_patch(token)), mono + 0.001)
    state = written(state, token, mono + 0.002) if accepted else refused(state)
    if back and not early and accepted:
        state = seen(state, heartbeat_of(heartbeat_patch(token)), mono + 0.003)
    return state


def test_a_stalled_watch_fails_the_probe_after_the_limit() -> None:
    state = beat(CanaryState(), T0, 0.0, accepted=True, back=False, early=False)
    assert verdict(state, STALL, STALL)[0]
    assert not verdict(state, STALL + 1, STALL)[0]
    # The next heartbeat coming back clears the older one too.
    state = beat(state, T0 + timedelta(minutes=1), 60.0, accepted=True, back=True, early=False)
    assert verdict(state, 1_000.0, STALL)[0]


@settings(deadline=None)  # a shared, loaded machine: time says nothing here
@given(st.lists(st.tuples(st.booleans(), st.booleans(), st.booleans()), min_size=1, max_size=30))
def test_the_probe_fails_only_for_an_accepted_heartbeat_never_seen(
    beats: list[tuple[bool, bool, bool]],
) -> None:
    state = CanaryState()
    last_lost: int | None = None  # the index of the oldest accepted heartbeat not seen since
    for index, (accepted, back, early) in enumerate(beats):
        state = beat(
            state,
            T0 + timedelta(minutes=index),
            60.0 * index,
            accepted=accepted,
            back=back,
            early=early,
        )
        if back and (accepted or early):
            last_lost = None  # this one came back: every older one went through
        elif accepted and last_lost is None:
            last_lost = index
    now = 60.0 * len(beats) + STALL
    alive, _why = verdict(state, now, STALL)
    assert alive == (last_lost is None or now - 60.0 * last_lost <= STALL)
