"""How long to wait before trying a request again after a transient fault, or not at all.

A 429, a 5xx or a dropped connection says nothing about the request: the same request may
pass a moment later. What is decided here: the wait before the next try (the server's
``Retry-After`` when it gave one, else a capped exponential backoff), and whether there is
time left for it (a workflow step's timeout bounds its retries; a wait that would end past
it is pointless, so the caller gives up at once and says why).
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

BACKOFF_FIRST_SECONDS = 0.2
BACKOFF_MAX_SECONDS = 5.0
# A server asking for more than this is not asking for a retry within one step.
RETRY_AFTER_MAX_SECONDS = 300.0


def backoff_seconds(tries: int) -> float:
    """Before try ``tries + 1`` (``tries`` >= 1 have failed): 0.2 s, 0.4 s … capped at 5 s."""
    exponent = min(max(0, tries - 1), 32)  # 2**32 is far past the cap already
    return min(BACKOFF_FIRST_SECONDS * 2.0**exponent, BACKOFF_MAX_SECONDS)


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds from a ``Retry-After`` header (delay-seconds or an HTTP-date, RFC 9110
    §10.2.3); None when absent or unreadable. Never negative, never above the cap."""
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    try:
        seconds = float(text)
    except ValueError:
        try:
            when = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError, OverflowError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - now).total_seconds()
    if not math.isfinite(seconds):
        return None
    return min(max(0.0, seconds), RETRY_AFTER_MAX_SECONDS)


def next_wait(tries: int, retry_after: float | None, time_left: float | None) -> float | None:
    """The wait before the next try, or None when it would not end before ``time_left``
    (seconds; None: no bound) runs out. ``retry_after``: what the server asked for."""
    wait = backoff_seconds(tries) if retry_after is None else retry_after
    if time_left is not None and wait >= time_left:
        return None
    return wait
