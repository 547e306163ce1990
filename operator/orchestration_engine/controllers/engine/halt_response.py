"""What the operator does when an emergency halt is raised, besides parking workflows.

Per API.md: failover for FAILED services that have a standby (automatic at all times, see
failover_controller.py; every engine round of the halt looks at them again), a bounded scale-up of
CRITICAL services (one replica more, within ``scaling.maxReplicas``, once per halt: enough
to absorb a neighbour's failure, too little to run away), and the notification. The workflow
controller parks non-CRITICAL workflows itself when it sees the halt.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from kubernetes_asyncio import client

from orchestration_engine.api.common import Priority
from orchestration_engine.controllers.services.service_monitor import ServiceMonitor
from orchestration_engine.controllers.services.workloads import WorkloadCache
from orchestration_engine.core.halt import HaltState
from orchestration_engine.kube import resources
from orchestration_engine.kube.errors import KubeError

log = logging.getLogger(__name__)


class HaltResponse:
    def __init__(
        self,
        api: client.ApiClient,
        monitor: ServiceMonitor,
        workloads: WorkloadCache,
        sweep: Callable[[], None],
        notify: Callable[[dict[str, Any]], None],
    ) -> None:
        self.api = api
        self.monitor = monitor
        self.workloads = workloads
        self.sweep = sweep
        self.notify = notify
        self._tasks: set[asyncio.Task[None]] = set()
        self._active = False

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
        """Every engine round while halted, the raise's own included: look at every service
        with failover again (failover itself is automatic; this retries at once the ones a
        backoff holds)."""
        if state.active:
            self.sweep()

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _scale_up_critical(self) -> None:
        for (namespace, name), entry in list(self.monitor.services.items()):
            spec = entry.spec
            if spec is None or spec.priority is not Priority.CRITICAL or spec.scaling is None:
                continue
            # The workload serving the traffic: the standby's after a failover.
            ref = spec.workload_ref
            if entry.active_target == "standby" and spec.failover is not None:
                ref = spec.failover.standby_ref
            if ref is None:
                continue
            replicas = self.workloads.lookup((namespace, ref.kind.value, ref.name))
            if replicas.missing:
                continue
            target = min(replicas.desired + 1, spec.scaling.max_replicas)
            if target <= replicas.desired:
                continue
            try:
                await resources.patch(
                    self.api,
                    resources.workload(ref),
                    namespace,
                    ref.name,
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
