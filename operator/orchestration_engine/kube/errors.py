"""Typed API errors, so callers say what they mean instead of matching status codes."""

from __future__ import annotations

from datetime import UTC, datetime

from kubernetes_asyncio.client.exceptions import ApiException

from orchestration_engine.core.retry import parse_retry_after


class KubeError(Exception):
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

    def __init__(self, status: int, message: str, retry_after: float | None = None) -> None:
        super().__init__(status, message)
        self.retry_after = retry_after


# 501 Not Implemented is not here: it will not pass later.
UNAVAILABLE_STATUSES = frozenset({429, 500, 502, 503, 504})


def translate(error: ApiException) -> KubeError:
    status = int(error.status or 0)
    message = f"{status} {error.reason}: {(error.body or '')[:500]!s}"
    if status == 404:
        return NotFound(status, message)
    if status == 409:
        return Conflict(status, message)
    if status == 422:
        return Invalid(status, message)
    if status in UNAVAILABLE_STATUSES:
        retry_after = error.headers.get("Retry-After") if error.headers else None
        return Unavailable(status, message, parse_retry_after(retry_after, datetime.now(UTC)))
    return KubeError(status, message)
