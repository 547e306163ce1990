"""Typed API errors, so callers say what they mean instead of matching status codes."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from kubernetes_asyncio.client.exceptions import ApiException

from orchestration_engine.core.retry import parse_retry_after


class KubeError(Exception):
    """A request the API server refused or failed. ``reason`` and ``body``: its answer's
    status text and body, as sent (``describe`` in kube/follow.py reads the message)."""

    reason: Any = ""
    body: Any = ""

    def __init__(self, status: int, message: str) -> None:
        self.status = status
        super().__init__(message)


class NotFound(KubeError):
    pass


class Conflict(KubeError):
    pass


class Invalid(KubeError):
    """422: the server rejected what we sent; retrying the same thing will not help."""


class Unavailable(KubeError):
    """429 or 5xx: the server could not serve it now (throttled, restarting, etcd slow); the
    same request may pass a moment later. A kube-apiserver that has just restarted answers
    503 for custom resources until it has installed their paths again.
    ``retry_after``: the seconds the server asked for in ``Retry-After``, if it did."""

    # A class default too: TransportError (no answer, so no header) does not run this
    # __init__, and every reader of ``retry_after`` must still find it.
    retry_after: float | None = None

    def __init__(self, status: int, message: str, retry_after: float | None = None) -> None:
        super().__init__(status, message)
        self.retry_after = retry_after


class TransportError(Unavailable, ApiException):
    """No answer at all: the connection was refused, reset or closed (a load balancer closing
    a kept-alive connection as the request goes out: aiohttp's ``ServerDisconnectedError``),
    or the request timed out. Raised by the transport (kube/transport.py) for every request
    of the operator's own client.

    Both an ``Unavailable`` and the client's ``ApiException`` (status 0), so that every
    caller already handles it, whether it speaks the typed errors or the client's: before
    this class, ``except (ApiException, OSError, TimeoutError)`` let aiohttp's errors through
    and the loop around it died.
    """

    def __init__(self, message: str) -> None:
        ApiException.__init__(self, status=0, reason=message)
        self.status = 0
        self.body = b""  # the client decodes the body of every ApiException it sees pass
        self.args = (message,)

    def __str__(self) -> str:
        return str(self.reason)


# 501 Not Implemented is not here: it will not pass later.
UNAVAILABLE_STATUSES = frozenset({429, 500, 502, 503, 504})


def translate(error: ApiException) -> KubeError:
    if isinstance(error, KubeError):  # a TransportError is typed already
        return error
    status = int(error.status or 0)
    message = f"{status} {error.reason}: {(error.body or '')[:500]!s}"
    typed: KubeError
    if status == 404:
        typed = NotFound(status, message)
    elif status == 409:
        typed = Conflict(status, message)
    elif status == 422:
        typed = Invalid(status, message)
    elif status in UNAVAILABLE_STATUSES:
        retry_after = error.headers.get("Retry-After") if error.headers else None
        typed = Unavailable(status, message, parse_retry_after(retry_after, datetime.now(UTC)))
    else:
        typed = KubeError(status, message)
    typed.reason = str(error.reason or "")
    typed.body = str(error.body or "")
    return typed
