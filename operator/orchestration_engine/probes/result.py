"""The outcome of one health check, and the words used to explain a failure.

HTTP and TCP checks fail for the same reasons (refused, unresolvable, too slow), and those
reasons end up in a service's status where people read them, so both probes describe them
here, in one vocabulary.
"""

from __future__ import annotations

import errno
import socket
import ssl
from dataclasses import dataclass, field
from datetime import UTC, datetime

from orchestration_engine.core.prober_health import FailureKind

# The operating system's "there is no way there from here": the prober's own routes.
_UNREACHABLE = frozenset({errno.ENETUNREACH, errno.EHOSTUNREACH, errno.EADDRNOTAVAIL})


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class CheckResult:
    """``message`` is empty when ``ok``, otherwise a short reason meant for a human.

    ``latency_ms`` is None when no answer came back at all (refused, timed out, unresolvable),
    so latency metrics are not skewed by how long it took to give up.

    ``kind`` says what sort of failure it was (None when ``ok``): whether the service answered
    (an HTTP status, a TLS error) or the prober never reached it (DNS, no route, no
    connection), which is what core/prober_health.py weighs to tell a fleet outage from a
    prober that lost its own network.
    """

    ok: bool
    latency_ms: float | None
    message: str
    checked_at: datetime = field(default_factory=_utc_now)
    kind: FailureKind | None = None

    @classmethod
    def success(cls, latency_ms: float) -> CheckResult:
        return cls(ok=True, latency_ms=latency_ms, message="")

    @classmethod
    def failure(
        cls,
        message: str,
        latency_ms: float | None = None,
        kind: FailureKind = FailureKind.OTHER,
    ) -> CheckResult:
        return cls(ok=False, latency_ms=latency_ms, message=message, kind=kind)


def seconds(value: float) -> str:
    """``1.0`` → ``"1.0"``, ``0.05`` → ``"0.05"``: as a person would write a timeout."""
    text = f"{value:.3f}".rstrip("0")
    return text + "0" if text.endswith(".") else text


def timed_out(timeout_s: float) -> str:
    return f"timed out after {seconds(timeout_s)} s"


def connect_failure(error: BaseException, host: str) -> str:
    """Why a connection could not be made, from the most specific error in the chain.

    Clients wrap the operating system's error (httpx wraps httpcore, which wraps anyio's
    "All connection attempts failed", which wraps the ``ConnectionRefusedError``), and only
    the innermost one says what actually happened.
    """
    for cause in _chain(error):
        if isinstance(cause, socket.gaierror):
            return f"DNS lookup failed for host {host}"
        if isinstance(cause, ConnectionRefusedError):
            return "connection refused"
        if isinstance(cause, ConnectionResetError):
            return "connection reset by peer"
        if isinstance(cause, ssl.SSLCertVerificationError):
            return f"TLS certificate verification failed: {cause.verify_message}"
        if isinstance(cause, ssl.SSLError):
            return f"TLS handshake failed: {cause.reason or cause}"
    for cause in _chain(error):
        if isinstance(cause, OSError) and cause.strerror:
            return cause.strerror[:1].lower() + cause.strerror[1:]
    return str(error) or type(error).__name__


def failure_kind(error: BaseException) -> FailureKind:
    """The kind of a connection failure, from the most specific error in the chain (the same
    walk as ``connect_failure``)."""
    for cause in _chain(error):
        if isinstance(cause, socket.gaierror):
            return FailureKind.DNS
        if isinstance(cause, ConnectionRefusedError):
            return FailureKind.REFUSED
        if isinstance(cause, ConnectionResetError):
            return FailureKind.RESET
        if isinstance(cause, ssl.SSLError):
            return FailureKind.TLS
    for cause in _chain(error):
        if isinstance(cause, OSError) and cause.errno in _UNREACHABLE:
            return FailureKind.UNREACHABLE
    return FailureKind.OTHER


def _chain(error: BaseException) -> list[BaseException]:
    """``error`` and everything it was raised from, innermost last; cycles are cut."""
    seen: list[BaseException] = []
    current: BaseException | None = error
    while current is not None and all(current is not s for s in seen):
        seen.append(current)
        current = current.__cause__ or current.__context__
    return seen
