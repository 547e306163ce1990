"""Leader election on a coordination.k8s.io/v1 Lease, as client-go's leaderelection does it.

kopf's peering only pauses operators that see each other; it does not guarantee one active
instance. A Lease does, through the API server's optimistic concurrency: every write carries
the resourceVersion that was read, so of two candidates writing at once only one succeeds
(the other gets 409 and has lost the race).

Safety rests on three durations. A holder counts its leadership as valid until
``renew_deadline_s`` after the start of its last successful renewal; other candidates wait
``lease_duration_s`` from the moment they saw that renewal. Because they can only have seen it
after it was sent, and ``renew_deadline_s < lease_duration_s``, a holder that cannot renew
stands down at least ``lease_duration_s - renew_deadline_s`` before anyone may take over.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import socket
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from kubernetes_asyncio import client
from kubernetes_asyncio.client.exceptions import ApiException

from orchestration_engine.kube.errors import Conflict, NotFound, translate
from orchestration_engine.kube.lease_record import (
    LeaseRecord,
    Observation,
    released,
    successor,
    whole_seconds,
)

log = logging.getLogger(__name__)

DEFAULT_LEASE_NAME = "orchestration-engine-leader"
# A release is a courtesy (the lease would expire anyway): never hold up a shutdown for long.
RELEASE_TIMEOUT_S = 5.0
# Waking a hair after the holder's claim runs out, so the monotonic check surely passes.
EXPIRY_SLACK_S = 0.01


def default_identity() -> str:
    """Unique per process, never reused: a restarted process must not mistake the lease its
    predecessor held for its own (it has none of that predecessor's state)."""
    return f"{socket.gethostname()}_{os.getpid()}_{secrets.token_hex(4)}"


def describe(error: BaseException) -> str:
    if isinstance(error, ApiException):
        error = translate(error)
    return str(error) or type(error).__name__  # a timeout's text is empty


def _utcnow() -> datetime:
    return datetime.now(UTC)


class LeaseElector:
    def __init__(
        self,
        api: client.ApiClient,
        *,
        namespace: str,
        name: str = DEFAULT_LEASE_NAME,
        identity: str | None = None,
        lease_duration_s: float = 15.0,
        renew_deadline_s: float = 10.0,
        retry_period_s: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], datetime] = _utcnow,
    ) -> None:
        if not 0 < retry_period_s < renew_deadline_s < lease_duration_s:
            raise ValueError(
                "leader election needs 0 < retry period < renew deadline < lease duration, got "
                f"{retry_period_s} / {renew_deadline_s} / {lease_duration_s}"
            )
        self._leases = client.CoordinationV1Api(api)
        self._api = api
        self.namespace = namespace
        self.name = name
        self.identity = identity or default_identity()
        self.lease_duration_s = lease_duration_s
        self.renew_deadline_s = renew_deadline_s
        self.retry_period_s = retry_period_s
        self._clock = clock
        self._wall = wall
        self._observation = Observation()
        self._leading = False
        self._valid_until = 0.0
        # Several tries fit in one renew deadline, so one stuck connection does not cost it all.
        self._attempt_timeout_s = max(retry_period_s, renew_deadline_s / 3)

    @property
    def where(self) -> str:
        return f"{self.namespace}/{self.name}"

    @property
    def leading(self) -> bool:
        return self._leading

    @property
    def valid_until(self) -> float:
        """On this process's monotonic clock: when this leader must have stopped acting."""
        return self._valid_until

    @property
    def holder(self) -> str | None:
        record = self._observation.record
        return record.holder if record is not None else None

    async def acquire(self) -> None:
        """Return once this process holds the lease; until then, look every retry period."""
        log.info("leader election: %s standing by for lease %s", self.identity, self.where)
        while True:
            try:
                async with asyncio.timeout(self._attempt_timeout_s):
                    if await self._try_acquire_or_renew():
                        record = self._observation.record
                        log.info(
                            "leader election: %s became leader of lease %s (transition %d)",
                            self.identity,
                            self.where,
                            record.transitions if record else 0,
                        )
                        return
            except Exception as error:  # any failure is retried: standing by is always safe
                log.warning(
                    "leader election: could not look at lease %s: %s", self.where, describe(error)
                )
                await asyncio.sleep(self.retry_period_s)
                continue
            await asyncio.sleep(self._until_next_look())

    async def hold(self, stop: asyncio.Event) -> None:
        """Renew every retry period until cancelled. When leadership is lost (another holder
        seen, or no renewal for the renew deadline), set ``stop`` and return."""
        while True:
            await asyncio.sleep(min(self.retry_period_s, self._remaining()))
            remaining = self._remaining()
            if remaining <= 0:
                self._lose(f"not renewed for {self.renew_deadline_s:g} s", stop)
                return
            try:
                async with asyncio.timeout(min(remaining, self._attempt_timeout_s)):
                    renewed = await self._try_acquire_or_renew()
            except Exception as error:  # retried until the deadline says otherwise
                log.warning(
                    "leader election: could not renew lease %s (%.1f s left): %s",
                    self.where,
                    self._remaining(),
                    describe(error),
                )
                continue
            if not renewed and self.holder != self.identity:
                self._lose(f"lease now held by {self.holder or 'nobody'}", stop)
                return

    async def release(self) -> None:
        """On a clean stop, hand the lease over at once instead of letting it expire.

        Looks at the lease itself rather than at ``leading``: an acquisition cancelled in
        flight may have landed, and then this process is the holder without knowing it.
        """
        try:
            async with asyncio.timeout(min(RELEASE_TIMEOUT_S, self.renew_deadline_s)):
                lease = await self._leases.read_namespaced_lease(self.name, self.namespace)
                current = LeaseRecord.from_spec(lease.spec)
                if current.holder != self.identity:
                    return
                await self._replace(lease, released(current, self._wall()))
        except Exception as error:  # the lease expires by itself; a release is only faster
            log.warning(
                "leader election: could not release lease %s (%s); it expires in %g s",
                self.where,
                describe(error),
                self.lease_duration_s,
            )
        else:
            log.info("leader election: %s released lease %s", self.identity, self.where)
        finally:
            self._leading = False

    async def _try_acquire_or_renew(self) -> bool:
        """One look at the lease, and one write if it is ours to take or keep.

        False when someone else validly holds it or won a race for it; API errors raise.
        """
        started = self._clock()
        try:
            lease = await self._leases.read_namespaced_lease(self.name, self.namespace)
        except ApiException as raw:
            error = translate(raw)
            if not isinstance(error, NotFound):
                raise error from None
            return await self._create(started)
        current = LeaseRecord.from_spec(lease.spec)
        previous_holder = self.holder
        if self._observation.observe(current, self._clock()) and current.holder not in (
            previous_holder,
            self.identity,
        ):
            log.info("leader election: lease %s held by %s", self.where, current.holder or "nobody")
        if not self._observation.free_for(self.identity, self._clock(), self.lease_duration_s):
            return False
        claim = successor(
            current, self.identity, whole_seconds(self.lease_duration_s), self._wall()
        )
        try:
            await self._replace(lease, claim)
        except Conflict:
            log.debug("leader election: lost a race for lease %s", self.where)
            return False
        self._won(claim, started)
        return True

    async def _create(self, started: float) -> bool:
        claim = successor(None, self.identity, whole_seconds(self.lease_duration_s), self._wall())
        # A plain mapping, not a V1Lease: the model would write its times with isoformat().
        body: Any = {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": {"name": self.name, "namespace": self.namespace},
            "spec": claim.to_spec(),
        }
        try:
            await self._leases.create_namespaced_lease(self.namespace, body)
        except ApiException as raw:
            error = translate(raw)
            if isinstance(error, Conflict):  # another candidate created it first
                return False
            raise error from None
        self._won(claim, started)
        return True

    async def _replace(self, lease: client.V1Lease, record: LeaseRecord) -> None:
        """Write ``record``, on the condition that the lease is still the one we read."""
        body = self._api.sanitize_for_serialization(lease)  # keeps resourceVersion and labels
        body["spec"] = {**(body.get("spec") or {}), **record.to_spec()}
        try:
            await self._leases.replace_namespaced_lease(self.name, self.namespace, body)
        except ApiException as raw:
            raise translate(raw) from None

    def _won(self, claim: LeaseRecord, started: float) -> None:
        self._observation.observe(claim, self._clock())
        self._leading = True
        # From when the write was sent: no other candidate can have seen it any earlier.
        self._valid_until = started + self.renew_deadline_s

    def _lose(self, why: str, stop: asyncio.Event) -> None:
        self._leading = False
        log.error(
            "leader election: %s lost leadership of lease %s: %s", self.identity, self.where, why
        )
        stop.set()

    def _remaining(self) -> float:
        return max(0.0, self._valid_until - self._clock())

    def _until_next_look(self) -> float:
        """One retry period, or less when the holder's claim runs out sooner: polling on a
        fixed beat would add up to a retry period to every takeover."""
        until_expiry = self._observation.expires_at(self.lease_duration_s) - self._clock()
        if until_expiry <= 0:  # it was free and still not ours: a race lost, or a write refused
            return self.retry_period_s
        return min(self.retry_period_s, until_expiry + EXPIRY_SLACK_S)
