"""Failover and failback of an OrchestratedService: the traffic switch, then the service's
status (``activeTarget``, ``failoverCount``, the FailedOver condition) and an Event.

Every switch goes through here (the automatic controller's failover and failback, a
workflow's ``failover`` and ``failback`` steps), and one service has one switch at a time:
each waits its turn on the service's lock.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Literal

from orchestration_engine.actions.base import StepFailed
from orchestration_engine.controllers.services.service_monitor import ServiceMonitor
from orchestration_engine.kube.client import ApiClient
from orchestration_engine.kube.traffic_switch import switch_traffic

Key = tuple[str, str]


class _Turn:
    """A service's lock and how many callers hold it or wait for it."""

    __slots__ = ("lock", "users")

    def __init__(self) -> None:
        self.lock = asyncio.Lock()
        self.users = 0


class ServiceLocks:
    """One lock per service (namespace, name), dropped only when nobody holds or awaits it.

    The table used to drop a service's lock as soon as the switch holding it ended: at that
    instant ``locked()`` is False even though a waiter has been handed it, so the next caller
    made a fresh lock and switched beside the waiter. Counting users closes that gap.

    Keyed by name, not uid: the thing switched is the Service the name's spec points at, and
    a switch of a deleted object that is still finishing must still exclude one of the object
    created under the same name.
    """

    def __init__(self) -> None:
        self._turns: dict[Key, _Turn] = {}

    @contextlib.asynccontextmanager
    async def hold(self, key: Key) -> AsyncIterator[None]:
        turn = self._turns.get(key)
        if turn is None:
            turn = self._turns[key] = _Turn()
        turn.users += 1
        try:
            async with turn.lock:
                yield
        finally:
            turn.users -= 1
            if turn.users == 0 and self._turns.get(key) is turn:
                del self._turns[key]

    def __len__(self) -> int:
        return len(self._turns)


class ServiceFailover:
    def __init__(
        self,
        api: ApiClient,
        monitor: ServiceMonitor,
        default_timeout_s: Callable[[], float],
        *,
        switch: Callable[..., Awaitable[str]] = switch_traffic,
    ) -> None:
        self.api = api
        self.monitor = monitor
        self.default_timeout_s = default_timeout_s
        self._switch = switch
        self._locks = ServiceLocks()

    async def __call__(
        self, namespace: str, service: str, to: Literal["standby", "primary"]
    ) -> str:
        key = (namespace, service)
        async with self._locks.hold(key):
            # Read after the turn came: the switch before this one may have changed the spec's
            # view (a timeout, a deleted service).
            spec = self.monitor.spec_of(namespace, service)
            if spec is None:
                raise StepFailed(f"OrchestratedService {service} not found in {namespace}")
            timeout = self.default_timeout_s()
            if spec.failover is not None and spec.failover.timeout_seconds is not None:
                timeout = float(spec.failover.timeout_seconds)
            message = await self._switch(self.api, namespace, service, spec, to, timeout_s=timeout)
            self.monitor.record_failover(key, to, message)
        return message

    def locks_held(self) -> int:
        """Services with a switch running or waiting (tests: nothing is left behind)."""
        return len(self._locks)
