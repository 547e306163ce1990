"""Uptime over a rolling window with bounded memory.

Checks are counted in fixed time buckets (5 minutes over 24 hours: 288 buckets of two
32-bit counters, about 2.3 KB per service), so 2,000 services cost a few MB whatever their
check rate. A bucket is cleared when time moves past it.
"""

from __future__ import annotations

from array import array
from datetime import datetime

WINDOW_SECONDS = 24 * 3600
BUCKET_SECONDS = 300


class UptimeWindow:
    __slots__ = ("_bucket_seconds", "_checks", "_newest_slot", "_passed", "_size")

    def __init__(self, window_seconds: int = WINDOW_SECONDS, bucket_seconds: int = BUCKET_SECONDS):
        if window_seconds % bucket_seconds:
            raise ValueError("the window must be a whole number of buckets")
        self._bucket_seconds = bucket_seconds
        self._size = window_seconds // bucket_seconds
        self._checks = array("I", bytes(4 * self._size))
        self._passed = array("I", bytes(4 * self._size))
        self._newest_slot: int | None = None

    def _slot(self, at: datetime) -> int:
        return int(at.timestamp()) // self._bucket_seconds

    def _advance(self, slot: int) -> None:
        if self._newest_slot is None:
            self._newest_slot = slot
            return
        if slot <= self._newest_slot:
            return
        for stale in range(self._newest_slot + 1, min(slot, self._newest_slot + self._size) + 1):
            self._checks[stale % self._size] = 0
            self._passed[stale % self._size] = 0
        self._newest_slot = slot

    def record(self, at: datetime, ok: bool, count: int = 1) -> None:
        slot = self._slot(at)
        self._advance(slot)
        assert self._newest_slot is not None
        if slot <= self._newest_slot - self._size:
            return  # older than the window
        self._checks[slot % self._size] += count
        if ok:
            self._passed[slot % self._size] += count

    def seed(self, at: datetime, checks: int, passed: int) -> None:
        """Load a past aggregate (e.g. from the store after a restart)."""
        if checks <= 0:
            return
        self.record(at, True, passed)
        self.record(at, False, checks - passed)

    def percent(self, now: datetime) -> float | None:
        """Passed checks in the window, as a percentage; None before the first check."""
        self._advance(self._slot(now))
        total = sum(self._checks)
        if total == 0:
            return None
        return round(100.0 * sum(self._passed) / total, 3)
