"""Is the prober itself broken? Telling a fleet outage from the operator losing its network (pure).

Every check runs from the operator's pod. When that pod's DNS or egress breaks, every service
fails at once, and acting on those failures (a failover per service, an emergency halt that
scales CRITICAL services) would make an outage out of a healthy fleet. So the checks are
weighed together first:

- A failure is a **prober suspect** when it says the prober never reached the service: the
  name did not resolve (``DNS``), there was no route (``Unreachable``), or no connection was
  made within the timeout (``ConnectTimeout``). A refused connection (``Refused``) is a
  suspect only while the reference target (the API server, reached over the same network)
  fails too: on a working network a refusal is the service's host answering "nothing here",
  which is how a service whose pods are gone fails (kube-proxy rejects connections to a
  Service without endpoints). Anything the service answered (an HTTP status, a TLS error,
  a read timeout after connecting, a reset) is evidence about the service, never a suspect.
- The prober is **degraded** when at least ``min_services`` services are checked over the
  network and at least ``raise_percent`` of them have a suspect as their latest result. It is
  raised at once, by the check that crosses the line: it must come before any service
  reaches ``failureThreshold`` failures, which takes a few periods.
- It **clears** once the suspects have stayed below ``clear_percent`` (or the fleet below
  ``min_services``) for ``clear_after_s``; a relapse above ``clear_percent`` restarts the
  wait, and between the two percentages nothing changes: the band keeps it from flapping.

While degraded, a suspect result is inconclusive: it moves no health, and no failover, failback
or emergency halt follows from it (controllers/services/prober_watch.py,
docs/failover-and-scaling.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class FailureKind(StrEnum):
    """What sort of failure a check was; the values are CamelCase, as condition reasons are."""

    DNS = "DNS"
    UNREACHABLE = "Unreachable"
    CONNECT_TIMEOUT = "ConnectTimeout"
    REFUSED = "Refused"
    RESET = "Reset"
    TIMEOUT = "Timeout"  # connected, then no answer in time
    TLS = "TLS"
    HTTP_STATUS = "HTTPStatus"
    INVALID = "InvalidTarget"
    OTHER = "Other"


# Never reached the service, whatever the reference says.
ALWAYS_SUSPECT = frozenset({FailureKind.DNS, FailureKind.UNREACHABLE, FailureKind.CONNECT_TIMEOUT})
# Reached something that said no: the prober's fault only if it cannot reach the reference either.
SUSPECT_WITHOUT_REFERENCE = frozenset({FailureKind.REFUSED})

REASONS = {
    FailureKind.DNS: "DNSFailures",
    FailureKind.UNREACHABLE: "NoRoute",
    FailureKind.CONNECT_TIMEOUT: "ConnectTimeouts",
    FailureKind.REFUSED: "ConnectionsRefused",
}
REFERENCE_REASON = "APIServerUnreachable"


@dataclass(frozen=True, slots=True)
class ProberPolicy:
    min_services: int = 5
    raise_percent: float = 80.0
    clear_percent: float = 50.0
    clear_after_s: float = 30.0


@dataclass(frozen=True, slots=True)
class FleetChecks:
    """The latest network check (HTTP or TCP) of each service, counted by kind.

    ``checked``: services with a network check and a result; ``failures``: how many of them
    failed, by kind (the rest passed). ``reference_ok`` is the reference target's latest check
    (None: not checked yet, taken as reachable).
    """

    checked: int = 0
    failures: tuple[tuple[FailureKind, int], ...] = ()
    reference_ok: bool | None = None

    def count(self, kinds: frozenset[FailureKind]) -> int:
        return sum(n for kind, n in self.failures if kind in kinds)


@dataclass(frozen=True, slots=True)
class ProberState:
    degraded: bool = False
    reason: str = ""
    message: str = ""
    # While degraded: when the suspects last went below clear_percent (None: they are not).
    clear_since: float | None = None


def is_suspect(kind: FailureKind | None, reference_ok: bool | None) -> bool:
    """Whether one failure of this kind may be the prober's own (see the module's doc)."""
    if kind is None:
        return False
    if kind in ALWAYS_SUSPECT:
        return True
    return kind in SUSPECT_WITHOUT_REFERENCE and reference_ok is False


def suspects(fleet: FleetChecks) -> int:
    total = fleet.count(ALWAYS_SUSPECT)
    if fleet.reference_ok is False:
        total += fleet.count(SUSPECT_WITHOUT_REFERENCE)
    return total


def _percent(part: int, whole: int) -> float:
    return 100.0 * part / whole if whole else 0.0


def explain(fleet: FleetChecks) -> tuple[str, str]:
    """The reason (CamelCase) and a message with the figures, for the engine's condition."""
    suspect_kinds = [
        (kind, n) for kind, n in fleet.failures if n > 0 and is_suspect(kind, fleet.reference_ok)
    ]
    suspect_kinds.sort(key=lambda item: (-item[1], item[0].value))
    if fleet.reference_ok is False:
        reason = REFERENCE_REASON
    elif suspect_kinds:
        reason = REASONS[suspect_kinds[0][0]]
    else:
        reason = "ProbesFailing"
    detail = ", ".join(f"{kind.value} {n}" for kind, n in suspect_kinds)
    reference = (
        "the API server does not answer either"
        if fleet.reference_ok is False
        else "the API server answers"
    )
    message = (
        f"{suspects(fleet)} of {fleet.checked} services checked over the network fail before "
        f"the prober reaches them ({detail}); {reference}. Their checks are inconclusive: "
        "no health change, failover or emergency halt follows from them"
    )
    return reason, message


def evaluate(
    fleet: FleetChecks, state: ProberState, now: float, policy: ProberPolicy = ProberPolicy()
) -> ProberState:
    """The prober's state after ``fleet`` was seen at ``now`` (a monotonic clock)."""
    share = _percent(suspects(fleet), fleet.checked)
    crossed = fleet.checked >= policy.min_services and share >= policy.raise_percent
    if crossed:
        reason, message = explain(fleet)
        return ProberState(True, reason, message, None)
    if not state.degraded:
        return state if state == ProberState() else ProberState()
    recovered = fleet.checked < policy.min_services or share < policy.clear_percent
    if not recovered:
        # In the band, or relapsed: still degraded, the figures follow, the wait restarts.
        reason, message = explain(fleet)
        return ProberState(True, reason, message, None)
    clear_since = state.clear_since if state.clear_since is not None else now
    if now - clear_since >= policy.clear_after_s:
        return ProberState()
    return ProberState(True, state.reason, state.message, clear_since)
