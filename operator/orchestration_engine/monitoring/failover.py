"""Failover and failback of an OrchestratedService: the traffic switch, then the service's
status (``activeTarget``, ``failoverCount``, the FailedOver condition) and an Event."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Literal

from kubernetes_asyncio import client

from orchestration_engine.actions.base import StepFailed
from orchestration_engine.kube.traffic_switch import switch_traffic
from orchestration_engine.monitoring.service_monitor import ServiceMonitor


class ServiceFailover:
    def __init__(
        self,
        api: client.ApiClient,
        monitor: ServiceMonitor,
        default_timeout_s: Callable[[], float],
    ) -> None:
        self.api = api
        self.monitor = monitor
        self.default_timeout_s = default_timeout_s
        # One switch per service at a time: the automatic controller and a workflow's step
        # may both want one.
        self._locks: dict[tuple[str, str], asyncio.Lock] = {}

    async def __call__(
        self, namespace: str, service: str, to: Literal["standby", "primary"]
    ) -> str:
        spec = self.monitor.spec_of(namespace, service)
        if spec is None:
            raise StepFailed(f"OrchestratedService {service} not found in {namespace}")
        timeout = self.default_timeout_s()
        if spec.failover is not None and spec.failover.timeout_seconds is not None:
            timeout = float(spec.failover.timeout_seconds)
        lock = self._locks.setdefault((namespace, service), asyncio.Lock())
        async with lock:
            message = await switch_traffic(
                self.api, namespace, service, spec, to, timeout_s=timeout
            )
            self.monitor.record_failover((namespace, service), to, message)
        if not lock.locked():
            self._locks.pop((namespace, service), None)
        return message
