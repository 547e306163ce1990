"""What the operator does when an emergency halt is raised, besides parking workflows.

Per API.md: failover for FAILED services that have a standby (at the raise and again every
engine round while the halt lasts, for services that fail later), a bounded scale-up of
CRITICAL services (one replica more, within ``scaling.maxReplicas``, once per halt: enough
to absorb a neighbour's failure, too little to run away), and the notification. The workflow
controller parks non-CRITICAL workflows itself when it sees the halt.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, Literal

from kubernetes_asyncio import client

from orchestration_engine.api.common import Priority
from orchestration_engine.api.service import Health
from orchestration_engine.core.halt import HaltState
from orchestration_engine.kube import resources
from orchestration_engine.kube.errors import KubeError
from orchestration_engine.monitoring.service_monitor import ServiceMonitor
from orchestration_engine.monitoring.workloads import WorkloadCache

log = logging.getLogger(__name__)

Failover = Callable[[str, str, Literal["standby", "primary"]], Awaitable[str]]


class HaltResponse:
    def __init__(
        self,
        api: client.ApiClient,
        monitor: ServiceMonitor,
        workloads: WorkloadCache,
        failover: Failover,
        notify: Callable[[dict[str, Any]], None],
    ) -> None:
        self.api = api
        self.monitor = monitor
        self.workloads = workloads
        self.failover = failover
        self.notify = notify
        self._tasks: set[asyncio.Task[None]] = set()
        self._active = False
        self._failing_over: asyncio.Task[None] | None = None

    def __call__(self, state: HaltState) -> None:
        """A halt listener: the halt was raised, changed its reason, or cleared."""
        self.notify(
            {
                "event": "EmergencyHalt" if state.active else "EmergencyHaltCleared",
                "reason": state.reason.value if state.reason else None,
                "message": state.message,
                "time": datetime.now(UTC).isoformat(),
            }
        )
        if state.active and not self._active:
            task = asyncio.create_task(self._scale_up_critical(), name="halt-scale-up")
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        self._active = state.active

    def on_round(self, state: HaltState) -> None:
        """Every engine round while halted, the raise's own included: fail over the FAILED
        services (a pass is skipped while the previous one still runs)."""
        if state.active and self._failing_over is None:
            self._failing_over = asyncio.create_task(self._fail_over(), name="halt-failover")
            self._failing_over.add_done_callback(lambda _t: setattr(self, "_failing_over", None))

    async def close(self) -> None:
        if self._failing_over is not None:
            self._failing_over.cancel()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _fail_over(self) -> None:
        for (namespace, name), entry in list(self.monitor.entries.items()):
            spec = entry.spec
            if (
                spec is None
                or spec.failover is None
                or entry.state.health is not Health.FAILED
                or entry.active_target != "primary"
            ):
                continue
            try:
                message = await self.failover(namespace, name, "standby")
                log.warning("emergency halt: %s/%s failed over: %s", namespace, name, message)
            except Exception as error:  # one service's failover must not stop the others
                log.error("emergency halt: failover of %s/%s failed: %s", namespace, name, error)

    async def _scale_up_critical(self) -> None:
        for (namespace, name), entry in list(self.monitor.entries.items()):
            spec = entry.spec
            if (
                spec is None
                or spec.priority is not Priority.CRITICAL
                or spec.scaling is None
                or spec.workload_ref is None
            ):
                continue
            replicas = self.workloads.lookup(
                (namespace, spec.workload_ref.kind.value, spec.workload_ref.name)
            )
            if replicas.missing:
                continue
            target = min(replicas.desired + 1, spec.scaling.max_replicas)
            if target <= replicas.desired:
                continue
            try:
                await resources.patch(
                    self.api,
                    resources.workload(spec.workload_ref),
                    namespace,
                    spec.workload_ref.name,
                    {"spec": {"replicas": target}},
                )
                log.warning(
                    "emergency halt: CRITICAL %s/%s scaled %d -> %d",
                    namespace,
                    name,
                    replicas.desired,
                    target,
                )
            except KubeError as error:
                log.error("emergency halt: scale-up of %s/%s failed: %s", namespace, name, error)
