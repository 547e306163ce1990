"""When the transport sends a request again (core/api_retry.py): the rules of client-go."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from orchestration_engine.core.api_retry import (
    Bucket,
    Failure,
    RetryPolicy,
    backoff_s,
    parse_retry_after,
    retry_delay,
    take,
)

POLICY = RetryPolicy(max_retries=5, base_s=0.25, cap_s=8.0, retry_after_cap_s=30.0, budget_s=60.0)


def delay(method: str, failure: Failure, status: int | None = None, **kw: float) -> float | None:
    args = {"retry_after": None, "attempt": 1, "elapsed_s": 0.0, "draw": 0.5, **kw}
    return retry_delay(method=method, failure=failure, status=status, policy=POLICY, **args)  # type: ignore[arg-type]


@pytest.mark.parametrize("method", ["GET", "POST", "PATCH", "PUT", "DELETE"])
def test_a_request_that_never_left_is_sent_again_whatever_its_method(method: str) -> None:
    assert delay(method, Failure.NOT_SENT) is not None


@pytest.mark.parametrize("failure", [Failure.LOST, Failure.TIMEOUT])
def test_a_write_the_server_may_have_done_is_not_sent_again(failure: Failure) -> None:
    for method in ("POST", "PATCH", "PUT", "DELETE"):
        assert delay(method, failure) is None
    assert delay("GET", failure) is not None


@pytest.mark.parametrize("status", [429, 500, 502, 503, 504])
def test_retry_after_is_honoured_for_every_method(status: int) -> None:
    for method in ("GET", "POST", "PATCH"):
        waited = delay(method, Failure.STATUS, status, retry_after=3.0, draw=0.0)
        assert waited == 3.0
    # A little jitter on top, never less than asked.
    assert 3.0 <= (delay("POST", Failure.STATUS, status, retry_after=3.0, draw=0.99) or 0) <= 3.6


def test_an_error_status_without_retry_after_is_retried_only_for_reads() -> None:
    assert delay("GET", Failure.STATUS, 503) is not None
    assert delay("POST", Failure.STATUS, 503) is None
    assert delay("PATCH", Failure.STATUS, 429) is None


@pytest.mark.parametrize("status", [400, 401, 403, 404, 409, 422, 501])
def test_permanent_statuses_are_never_retried(status: int) -> None:
    assert delay("GET", Failure.STATUS, status, retry_after=1.0) is None


def test_retries_stop_after_the_attempts_and_the_budget() -> None:
    assert delay("GET", Failure.LOST, attempt=POLICY.max_retries) is not None
    assert delay("GET", Failure.LOST, attempt=POLICY.max_retries + 1) is None
    assert delay("GET", Failure.LOST, elapsed_s=POLICY.budget_s) is None
    # A Retry-After that would end past the budget is not waited for.
    assert delay("GET", Failure.STATUS, 429, retry_after=20.0, elapsed_s=45.0) is None


def test_a_long_retry_after_is_capped() -> None:
    assert delay("GET", Failure.STATUS, 429, retry_after=3600.0, draw=0.0) == 30.0


@given(st.integers(min_value=1, max_value=10_000), st.floats(min_value=0, max_value=1))
def test_backoff_is_jittered_under_a_growing_cap(attempt: int, draw: float) -> None:
    ceiling = min(POLICY.cap_s, POLICY.base_s * 2 ** min(attempt - 1, 30))
    assert 0 <= backoff_s(attempt, POLICY, draw) <= ceiling <= POLICY.cap_s


@pytest.mark.parametrize(
    ("header", "seconds"),
    [("1", 1.0), (" 7 ", 7.0), ("0.5", 0.5), (None, None), ("soon", None), ("-1", None)],
)
def test_retry_after_parsing(header: str | None, seconds: float | None) -> None:
    assert parse_retry_after(header) == seconds


def test_the_bucket_allows_a_burst_then_the_rate() -> None:
    bucket = Bucket(tokens=3.0, at=0.0)
    waits = []
    for _ in range(6):
        wait, bucket = take(bucket, 0.0, qps=10.0, burst=3)
        waits.append(round(wait, 6))
    # Three at once, then one every 1/qps, each in its turn.
    assert waits == [0.0, 0.0, 0.0, 0.1, 0.2, 0.3]
    # After a quiet second the bucket is full again, never fuller than the burst.
    wait, bucket = take(bucket, 10.0, qps=10.0, burst=3)
    assert wait == 0.0
    assert bucket.tokens == 2.0


@given(
    st.lists(st.floats(min_value=0, max_value=5), min_size=1, max_size=200),
    st.floats(min_value=0.5, max_value=100),
    st.integers(min_value=1, max_value=50),
)
def test_the_bucket_never_lets_more_than_burst_plus_rate_through(
    gaps: list[float], qps: float, burst: int
) -> None:
    bucket, now, sent = Bucket(tokens=float(burst), at=0.0), 0.0, []
    for gap in gaps:
        now += gap
        wait, bucket = take(bucket, now, qps, burst)
        sent.append(now + wait)
    # Over any window, at most burst + rate * window requests go out.
    sent.sort()
    for i, start in enumerate(sent):
        for j in range(i, len(sent)):
            assert j - i + 1 <= burst + qps * (sent[j] - start) + 1e-6


def test_zero_qps_means_no_limit() -> None:
    bucket = Bucket(tokens=1.0, at=0.0)
    for _ in range(100):
        wait, bucket = take(bucket, 0.0, qps=0.0, burst=1)
        assert wait == 0.0
