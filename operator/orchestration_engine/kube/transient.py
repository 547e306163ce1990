"""API calls tried again through transient faults, within the time a step has left.

A 429, a 5xx or a dropped connection fails the request, not the step: every workflow action
and the traffic switch send their API calls through ``retrying``, which tries the same call
again after the server's ``Retry-After`` (or a capped backoff, core/retry.py) for as long as
the enclosing ``within`` allows. The runner opens a ``within`` of the step's timeout around
each attempt, so the retries of any call made under a step (a failover's included, which
never sees the step's context) end with the step; when the next wait would end past that,
``retrying`` gives up at once with ``StillFailing``, which names the fault.

Every call retried here must be safe to repeat: the actions set targets (merge patches),
create under deterministic names (a repeated create meets 409 and adopts), and delete with a
uid precondition (a repeated delete meets 404).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterator
from contextvars import ContextVar
from typing import TypeVar

import aiohttp

from orchestration_engine.core.retry import next_wait
from orchestration_engine.kube.errors import Unavailable
from orchestration_engine.plumbing import metrics

log = logging.getLogger(__name__)

T = TypeVar("T")

# With no ``within`` around it, a call is still retried no longer than this.
DEFAULT_SECONDS = 30.0

# What a client sees when the request, not the request's content, failed: the server asked
# to be left alone (429), failed (5xx), or the connection broke or timed out (aiohttp's
# errors, and the OSError and TimeoutError underneath them).
TRANSIENT: tuple[type[BaseException], ...] = (
    Unavailable,
    aiohttp.ClientConnectionError,
    aiohttp.ClientPayloadError,
    OSError,
)

_DEADLINE: ContextVar[float | None] = ContextVar("transient_retry_deadline", default=None)


class StillFailing(Unavailable):
    """Transient faults outlasted the time there was to try again."""


def _now() -> float:
    return asyncio.get_running_loop().time()


@contextlib.contextmanager
def within(seconds: float) -> Iterator[None]:
    """Retries under this end ``seconds`` from now, or earlier if an enclosing one does."""
    deadline = _now() + seconds
    outer = _DEADLINE.get()
    token = _DEADLINE.set(deadline if outer is None else min(outer, deadline))
    try:
        yield
    finally:
        _DEADLINE.reset(token)


def time_left() -> float | None:
    """Seconds until the enclosing ``within`` ends (None: there is none)."""
    deadline = _DEADLINE.get()
    return None if deadline is None else max(0.0, deadline - _now())


def describe(error: BaseException) -> str:
    return str(error) or type(error).__name__


async def retrying(call: Callable[[], Awaitable[T]], *, action: str, what: str) -> T:
    """``call()``'s result, tried again after each transient fault while time is left.

    ``action`` labels the retry metric (a step's action); ``what`` names the call in logs
    and in ``StillFailing`` (``GET Job migrate``).
    """
    bound = time_left()
    deadline = _now() + (DEFAULT_SECONDS if bound is None else bound)
    tries = 0
    while True:
        try:
            return await call()
        except TRANSIENT as error:
            if isinstance(error, StillFailing):  # an inner call's retries already ran out
                raise
            tries += 1
            retry_after = error.retry_after if isinstance(error, Unavailable) else None
            wait = next_wait(tries, retry_after, deadline - _now())
            if wait is None:
                status = error.status if isinstance(error, Unavailable) else 0
                raise StillFailing(
                    status,
                    f"{what}: {describe(error)} (tried {tries} times; no time left to try again)",
                ) from None
            metrics.STEP_TRANSIENT_RETRIES.labels(action).inc()
            log.info("%s: transient fault, trying again in %.2gs: %s", what, wait, error)
            await asyncio.sleep(wait)
