"""What a leader-election Lease says and how a candidate judges it, without any API call.

Kept apart from the elector so the judgement can be tested on its own. Expiry is judged the
way client-go judges it: by this process's monotonic clock, counted from the moment it last
saw the Lease's record change. The holder's ``renewTime`` is written with the holder's wall
clock, and two machines' wall clocks may disagree by more than a lease lasts; how long this
process has watched a record stay still depends on no clock but its own.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any


def micro_time(moment: datetime) -> str:
    """A Kubernetes MicroTime: always six fraction digits (``isoformat`` drops them at .000000,
    which the API server's parser would then reject)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def whole_seconds(seconds: float) -> int:
    """``leaseDurationSeconds`` is an integer; rounding up never shortens a promise."""
    return max(1, math.ceil(seconds))


@dataclass(frozen=True)
class LeaseRecord:
    holder: str
    duration_s: int
    acquire_time: datetime | None
    renew_time: datetime | None
    transitions: int

    @classmethod
    def from_spec(cls, spec: Any) -> LeaseRecord:
        """From a kubernetes_asyncio ``V1LeaseSpec`` (or None, for a Lease with no spec)."""
        return cls(
            holder=getattr(spec, "holder_identity", None) or "",
            duration_s=int(getattr(spec, "lease_duration_seconds", None) or 0),
            acquire_time=getattr(spec, "acquire_time", None),
            renew_time=getattr(spec, "renew_time", None),
            transitions=int(getattr(spec, "lease_transitions", None) or 0),
        )

    def to_spec(self) -> dict[str, Any]:
        spec: dict[str, Any] = {
            "holderIdentity": self.holder,
            "leaseDurationSeconds": self.duration_s,
            "leaseTransitions": self.transitions,
        }
        if self.acquire_time is not None:
            spec["acquireTime"] = micro_time(self.acquire_time)
        if self.renew_time is not None:
            spec["renewTime"] = micro_time(self.renew_time)
        return spec


def successor(
    current: LeaseRecord | None, identity: str, duration_s: int, now: datetime
) -> LeaseRecord:
    """The record that takes the lease (a new holder: a transition) or keeps it (a renewal)."""
    if current is not None and current.holder == identity:
        return LeaseRecord(
            identity, duration_s, current.acquire_time or now, now, current.transitions
        )
    transitions = current.transitions + 1 if current is not None else 0
    return LeaseRecord(identity, duration_s, now, now, transitions)


def released(current: LeaseRecord, now: datetime) -> LeaseRecord:
    """No holder and a one-second duration: any candidate may take it on its next look."""
    return LeaseRecord("", 1, now, now, current.transitions)


class Observation:
    """The last record this process saw, and when (on its monotonic clock) it first saw it."""

    def __init__(self) -> None:
        self.record: LeaseRecord | None = None
        self.observed_at = 0.0

    def observe(self, record: LeaseRecord, now: float) -> bool:
        """True when the record changed: a renewal, a new holder, or the first look."""
        if record == self.record:
            return False
        self.record = record
        self.observed_at = now
        return True

    def expires_at(self, default_duration_s: float) -> float:
        """When, on this process's clock, the holder's claim runs out if it renews no more.

        The holder's own ``leaseDurationSeconds`` counts, not ours: it is what it promised.
        """
        if self.record is None or not self.record.holder:
            return self.observed_at
        return self.observed_at + (self.record.duration_s or default_duration_s)

    def free_for(self, identity: str, now: float, default_duration_s: float) -> bool:
        """May ``identity`` write itself in as holder now?"""
        if self.record is None or self.record.holder in ("", identity):
            return True
        return now >= self.expires_at(default_duration_s)
