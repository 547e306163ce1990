"""Typed API errors, so callers say what they mean instead of matching status codes."""

from __future__ import annotations

from kubernetes_asyncio.client.exceptions import ApiException


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


def translate(error: ApiException) -> KubeError:
    status = int(error.status or 0)
    message = f"{status} {error.reason}: {(error.body or '')[:500]!s}"
    if status == 404:
        return NotFound(status, message)
    if status == 409:
        return Conflict(status, message)
    if status == 422:
        return Invalid(status, message)
    return KubeError(status, message)
