"""The wait before trying a request again after a transient fault: Retry-After honoured,
capped backoff otherwise, and no wait that would end past the time left."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

from hypothesis import given
from hypothesis import strategies as st

from orchestration_engine.core.retry import (
    BACKOFF_MAX_SECONDS,
    RETRY_AFTER_MAX_SECONDS,
    backoff_seconds,
    next_wait,
    parse_retry_after,
)

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)


def test_backoff_doubles_from_a_fifth_of_a_second_up_to_its_cap() -> None:
    assert [backoff_seconds(n) for n in range(1, 8)] == [0.2, 0.4, 0.8, 1.6, 3.2, 5.0, 5.0]
    assert backoff_seconds(10**9) == BACKOFF_MAX_SECONDS


def test_retry_after_in_seconds_or_as_a_date() -> None:
    assert parse_retry_after("3", NOW) == 3.0
    assert parse_retry_after(" 1.5 ", NOW) == 1.5
    assert parse_retry_after(format_datetime(NOW + timedelta(seconds=7), usegmt=True), NOW) == 7
    # A date already past: try now.
    assert parse_retry_after(format_datetime(NOW - timedelta(hours=1), usegmt=True), NOW) == 0


def test_unreadable_absurd_or_missing_retry_after_is_none_or_capped() -> None:
    for value in (None, "", "soon", "nan", "inf", "-inf", "Mon, 99 Foo 2026"):
        assert parse_retry_after(value, NOW) is None, value
    assert parse_retry_after("-5", NOW) == 0.0
    assert parse_retry_after("1e300", NOW) == RETRY_AFTER_MAX_SECONDS


def test_the_servers_retry_after_wins_over_the_backoff() -> None:
    assert next_wait(1, 2.0, 10.0) == 2.0
    assert next_wait(6, None, 10.0) == BACKOFF_MAX_SECONDS
    assert next_wait(1, None, None) == 0.2


def test_no_wait_that_ends_past_the_time_left() -> None:
    assert next_wait(1, 5.0, 4.0) is None
    assert next_wait(1, None, 0.2) is None
    assert next_wait(1, None, 0.0) is None


@given(
    tries=st.integers(min_value=1, max_value=10**6),
    retry_after=st.none() | st.floats(min_value=0, max_value=RETRY_AFTER_MAX_SECONDS),
    left=st.none() | st.floats(min_value=-1e9, max_value=1e9),
)
def test_a_wait_is_never_negative_and_always_ends_in_time(
    tries: int, retry_after: float | None, left: float | None
) -> None:
    wait = next_wait(tries, retry_after, left)
    if wait is None:
        assert left is not None
        return
    assert 0.0 <= wait <= max(BACKOFF_MAX_SECONDS, RETRY_AFTER_MAX_SECONDS)
    assert left is None or wait < left


@given(st.text(max_size=40))
def test_any_header_text_parses_to_none_or_a_bounded_wait(text: str) -> None:
    seconds = parse_retry_after(text, NOW)
    assert seconds is None or 0.0 <= seconds <= RETRY_AFTER_MAX_SECONDS
