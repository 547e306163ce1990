"""core/watch_liveness.py: a heartbeat written and not seen back within the limit is a stall."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from orchestration_engine.core.watch_liveness import (
    MAX_UNSEEN,
    CanaryState,
    refused,
    seen,
    sent,
    verdict,
    written,
)


def test_alive_before_any_heartbeat() -> None:
    assert verdict(CanaryState(), 1_000.0, 180.0) == (True, "no heartbeat has come back yet")


def test_a_heartbeat_seen_in_time_is_alive_with_its_round_trip() -> None:
    state = seen(written(CanaryState(), "t1", 10.0), "t1", 10.25)
    alive, why = verdict(state, 500.0, 180.0)
    assert alive
    assert why == "last heartbeat came back in 250 ms"


def test_a_heartbeat_not_seen_within_the_limit_is_a_stall() -> None:
    state = written(CanaryState(), "t1", 10.0)
    assert verdict(state, 190.0, 180.0)[0]
    alive, why = verdict(state, 191.0, 180.0)
    assert not alive
    assert "written 181 s ago has not come back" in why


def test_seeing_a_later_heartbeat_accounts_for_the_earlier_ones() -> None:
    state = written(written(written(CanaryState(), "t1", 0.0), "t2", 60.0), "t3", 120.0)
    state = seen(state, "t2", 121.0)
    assert [h.token for h in state.unseen] == ["t3"]
    assert state.last_round_trip_s == 61.0


def test_an_unknown_or_missing_token_changes_nothing() -> None:
    state = written(CanaryState(), "t1", 0.0)
    assert seen(state, "other", 1.0) == state
    assert seen(state, None, 1.0) == state


def test_unseen_heartbeats_are_bounded_and_keep_the_oldest() -> None:
    state = CanaryState()
    for i in range(MAX_UNSEEN * 3):
        state = written(state, f"t{i}", float(i))
    assert len(state.unseen) == MAX_UNSEEN
    assert state.unseen[0].token == "t0"
    assert state.unseen[-1].token == f"t{MAX_UNSEEN * 3 - 1}"
    assert not verdict(state, 1_000.0, 180.0)[0]


@given(
    events=st.lists(st.tuples(st.booleans(), st.integers(0, 20), st.floats(0, 1e4)), max_size=60),
    now=st.floats(0, 2e4),
    limit=st.floats(1, 1e3),
)
def test_alive_whenever_nothing_unseen_is_older_than_the_limit(
    events: list[tuple[bool, int, float]], now: float, limit: float
) -> None:
    state = CanaryState()
    clock = 0.0
    for write, token, step in events:
        clock += step
        state = written(state, f"t{token}", clock) if write else seen(state, f"t{token}", clock)
    alive, _why = verdict(state, now, limit)
    oldest = state.unseen[0].written_at if state.unseen else None
    assert alive == (oldest is None or now - oldest <= limit)


def test_a_heartbeat_seen_before_its_answer_counts() -> None:
    # The watch event often arrives before the writer reads the API server's answer.
    state = sent(CanaryState(), "t1", 10.0)
    state = seen(state, "t1", 10.05)
    state = written(state, "t1", 10.08)
    assert state.unseen == ()
    assert state.sending is None
    assert verdict(state, 500.0, 180.0) == (True, "last heartbeat came back in 50 ms")


def test_a_heartbeat_seen_before_its_answer_accounts_for_the_earlier_ones() -> None:
    state = written(sent(CanaryState(), "t1", 0.0), "t1", 0.1)
    state = seen(sent(state, "t2", 60.0), "t2", 60.2)
    state = written(state, "t2", 60.3)
    assert state.unseen == ()
    assert verdict(state, 1_000.0, 180.0)[0]


def test_a_refused_heartbeat_is_forgotten() -> None:
    state = refused(sent(CanaryState(), "t1", 0.0))
    assert state == CanaryState()
    assert seen(state, "t1", 1.0) == state


def test_a_heartbeat_in_flight_is_not_yet_judged() -> None:
    # Only an accepted heartbeat can stall: a slow answer is the server's business.
    state = sent(CanaryState(), "t1", 0.0)
    assert verdict(state, 1_000.0, 180.0)[0]


@given(
    steps=st.lists(
        st.tuples(st.sampled_from(["before", "after", "lost", "refused"]), st.floats(0.001, 5)),
        min_size=1,
        max_size=40,
    )
)
def test_every_heartbeat_that_comes_back_keeps_it_alive_whatever_the_order(
    steps: list[tuple[str, float]],
) -> None:
    """Each heartbeat is seen before its answer, after it, not at all, or refused: the
    verdict only ever blames an accepted heartbeat that never came back."""
    state = CanaryState()
    clock = 0.0
    lost_at: float | None = None
    for index, (order, delay) in enumerate(steps):
        token = f"t{index}"
        state = sent(state, token, clock)
        if order == "refused":
            state = refused(state)
        elif order == "before":
            state = written(seen(state, token, clock + delay), token, clock + 2 * delay)
        elif order == "after":
            state = seen(written(state, token, clock + delay), token, clock + 2 * delay)
        else:
            state = written(state, token, clock + delay)
            lost_at = clock + delay if lost_at is None else lost_at
        if order in ("before", "after"):
            lost_at = None  # a later heartbeat back accounts for the earlier ones
        clock += 3 * delay
        assert state.sending is None
    oldest = state.unseen[0].written_at if state.unseen else None
    assert oldest == lost_at
