"""Is the operator still hearing the API server? A pure verdict over the watch canary.

kopf reconnects a watch stream that goes quiet (bookmarks arrive every minute, and its
inactivity timeout restarts a silent stream), but a stream that stays connected while the
pipeline behind it is stuck, or a watcher that died, leaves an operator that is alive and
deaf. So the operator writes a heartbeat into the OrchestrationEngine's status on a fixed
interval and expects to see it come back through its own watch. A heartbeat accepted by the
API server and not seen within ``stall_after`` seconds means the watches have stalled: the
liveness probe fails and the kubelet restarts the pod. A heartbeat the API server refused
says nothing about the watches (the server is unreachable, and a restart would not help).

The API server commits a write, then answers the writer and notifies the watchers together,
so a heartbeat's watch event often arrives before its answer has been read: the heartbeat in
flight is tracked (``sent``) and may be seen before it is ``written``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

# The field of the engine's status the heartbeat is written into.
FIELD = "heartbeatTime"


@dataclass(frozen=True, slots=True)
class Heartbeat:
    token: str
    written_at: float  # the caller's monotonic clock: when sent, then when accepted


@dataclass(frozen=True, slots=True)
class CanaryState:
    # Accepted but not seen yet, oldest first. Seeing one token means every older one went
    # through too (the watch delivers an object's versions in order).
    unseen: tuple[Heartbeat, ...] = ()
    last_round_trip_s: float | None = None
    # Sent, the API server's answer not read yet. The watch event for it often arrives
    # first: the server commits, then answers the writer and notifies the watchers at once.
    sending: Heartbeat | None = None
    sending_seen: bool = False


MAX_UNSEEN = 64


def sent(state: CanaryState, token: str, at: float) -> CanaryState:
    """A heartbeat is on its way (one at a time: the canary waits for each answer)."""
    return replace(state, sending=Heartbeat(token, at), sending_seen=False)


def refused(state: CanaryState) -> CanaryState:
    """The API server did not accept the heartbeat in flight: it says nothing either way."""
    return replace(state, sending=None, sending_seen=False)


def written(state: CanaryState, token: str, at: float) -> CanaryState:
    """The API server accepted ``token`` at ``at``."""
    if state.sending is not None and state.sending.token == token and state.sending_seen:
        return replace(state, sending=None, sending_seen=False)  # already back
    unseen = (*state.unseen, Heartbeat(token, at))
    if len(unseen) > MAX_UNSEEN:
        # Bounded, and the oldest stays: it is what the verdict measures.
        unseen = (unseen[0], *unseen[-(MAX_UNSEEN - 1) :])
    return CanaryState(unseen, state.last_round_trip_s)


def seen(state: CanaryState, token: str | None, at: float) -> CanaryState:
    """The engine's watch delivered an object whose heartbeat is ``token``."""
    for index, heartbeat in enumerate(state.unseen):
        if heartbeat.token == token:
            return replace(
                state, unseen=state.unseen[index + 1 :], last_round_trip_s=at - heartbeat.written_at
            )
    if state.sending is not None and state.sending.token == token and not state.sending_seen:
        # Back before its answer: it and every accepted one before it went through.
        return CanaryState((), at - state.sending.written_at, state.sending, sending_seen=True)
    return state


def verdict(state: CanaryState, now: float, stall_after: float) -> tuple[bool, str]:
    """(alive, why) for the liveness probe."""
    if state.unseen and now - state.unseen[0].written_at > stall_after:
        waited = now - state.unseen[0].written_at
        return False, (
            f"watch stalled: the heartbeat written {waited:.0f} s ago has not come back"
            f" through the OrchestrationEngine watch (limit {stall_after:g} s)"
        )
    if state.last_round_trip_s is None:
        return True, "no heartbeat has come back yet"
    return True, f"last heartbeat came back in {state.last_round_trip_s * 1000:.0f} ms"


def token_at(moment: datetime) -> str:
    """The heartbeat written at ``moment``: RFC 3339 in microseconds, so that two heartbeats
    never carry the same token."""
    return moment.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def heartbeat_patch(token: str) -> dict[str, Any]:
    """The merge patch of the engine's status that writes a heartbeat (that one field)."""
    return {"status": {FIELD: token}}


def heartbeat_of(body: Mapping[str, Any]) -> str | None:
    """The heartbeat an engine object seen through the watch carries; None: none."""
    token = (body.get("status") or {}).get(FIELD)
    return str(token) if token is not None else None
