"""When to send a request to the API server again, and how long to wait first. Pure decisions
for the transport (kube/transport.py), modelled on client-go's ``rest.Request``:

- a request that never left (the connection was refused or could not be opened) is sent again
  whatever its method: the server cannot have acted on it;
- an answer with ``Retry-After`` (429 from API Priority and Fairness, 5xx from a server that
  is starting or shedding load) is sent again whatever its method, after the time the server
  asked for: the server says it did not act on it;
- a 429 or 5xx without ``Retry-After``, a connection reset or closed, or a timeout after the
  request was sent, is sent again only when reading (GET, HEAD): the server may have acted
  on a write, and sending a POST twice may create two objects. Writes go back to their
  callers as ``Unavailable``; the status writer requeues its (idempotent) merge patches.

Waits grow exponentially with full jitter up to a cap, so a fleet of clients that lost the
server together does not come back in step. Retries stop after a number of attempts or once
the time spent would pass a budget, so no caller waits without bound.

The token bucket (QPS and burst, as client-go's ``flowcontrol`` limiter) is here too.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import Enum

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# 501 Not Implemented will not pass later (kube/errors.py says the same).
RETRIABLE_STATUSES = frozenset({429, 500, 502, 503, 504})


class Failure(Enum):
    NOT_SENT = "not-sent"  # connection refused or not opened: nothing reached the server
    LOST = "lost"  # reset, closed, or a truncated answer: the server may have acted
    TIMEOUT = "timeout"  # no answer in time: the server may have acted
    STATUS = "status"  # an answer with an error status


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    max_retries: int = 5
    base_s: float = 0.25
    cap_s: float = 8.0
    # Retry-After is honoured up to this; a server asking for longer gets the caller's own
    # requeue instead of a request parked for minutes.
    retry_after_cap_s: float = 30.0
    # No retry is started once this much time has been spent on the request.
    budget_s: float = 60.0


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a ``Retry-After`` header (the API server sends whole seconds); None when
    absent or not a number (an HTTP date is not sent by the API server)."""
    if value is None:
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        return None
    if not math.isfinite(seconds) or seconds < 0:
        return None
    return seconds


def backoff_s(attempt: int, policy: RetryPolicy, draw: float) -> float:
    """The wait before retry ``attempt`` (1 = the first retry): full jitter over an
    exponential ceiling. ``draw`` is uniform in [0, 1)."""
    exponent = min(max(attempt - 1, 0), 30)  # 2**30 already passes any cap
    ceiling = min(policy.cap_s, policy.base_s * 2.0**exponent)
    return max(0.0, min(1.0, draw)) * ceiling


def retry_delay(
    *,
    method: str,
    failure: Failure,
    status: int | None,
    retry_after: float | None,
    attempt: int,
    elapsed_s: float,
    policy: RetryPolicy,
    draw: float,
) -> float | None:
    """Seconds to wait before sending the request again, or None to give up now.

    ``attempt`` counts the retries already made plus one (1 for the first retry); ``draw`` is
    uniform in [0, 1) (the jitter, injected so the decision stays a function)."""
    if attempt > policy.max_retries or elapsed_s >= policy.budget_s:
        return None
    safe = method.upper() in SAFE_METHODS
    if failure is Failure.STATUS:
        if status not in RETRIABLE_STATUSES:
            return None
        if retry_after is not None:
            # The server said when; a little jitter keeps the clients it throttled apart.
            delay = min(retry_after, policy.retry_after_cap_s) * (1.0 + 0.2 * draw)
        elif safe:
            delay = backoff_s(attempt, policy, draw)
        else:
            return None
    elif failure is Failure.NOT_SENT or safe:
        delay = backoff_s(attempt, policy, draw)
    else:
        return None
    if elapsed_s + delay > policy.budget_s:
        return None
    return delay


@dataclass(frozen=True, slots=True)
class Bucket:
    """A token bucket: ``tokens`` as of ``at`` (the caller's monotonic clock)."""

    tokens: float
    at: float


def take(bucket: Bucket, now: float, qps: float, burst: int) -> tuple[float, Bucket]:
    """Take one token: (seconds to wait before sending, the bucket after).

    The token is taken at once even when the wait is positive (the bucket goes negative), so
    requests queue in arrival order and each waits its own turn, as client-go's limiter does.
    ``qps`` <= 0 turns limiting off.
    """
    if qps <= 0:
        return 0.0, bucket
    capacity = float(max(burst, 1))
    tokens = min(capacity, bucket.tokens + max(0.0, now - bucket.at) * qps) - 1.0
    wait = 0.0 if tokens >= 0 else -tokens / qps
    return wait, Bucket(tokens=tokens, at=max(now, bucket.at))
