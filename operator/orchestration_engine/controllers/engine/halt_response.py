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

from orchestration_engine.api.common import Priority
from orchestration_engine.controllers.services.service_monitor import ServiceMonitor
from orchestration_engine.controllers.services.workloads import WorkloadCache
from orchestration_engine.core import halt_response as response
from orchestration_engine.core.halt import HaltState
from orchestration_engine.kube import resources
from orchestration_engine.kube.client import ApiClient
from orchestration_engine.kube.errors import KubeError

log = logging.getLogger(__name__)


class HaltResponse:
    def __init__(
        self,
        api: ApiClient,
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
        self.notify(response.notice(state, datetime.now(UTC)))
        if response.raised(state, self._active):
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
            if spec is None:
                continue
            # The workload serving the traffic: the standby's after a failover.
            ref = spec.workload_ref
            if entry.active_target == "standby" and spec.failover is not None:
                ref = spec.failover.standby_ref
            replicas = self.workloads.lookup((namespace, ref.kind.value, ref.name)) if ref else None
            target = response.scale_up_target(
                critical=spec.priority is Priority.CRITICAL,
                max_replicas=spec.scaling.max_replicas if spec.scaling else None,
                desired=replicas.desired if replicas and not replicas.missing else None,
            )
            if target is None or ref is None or replicas is None:
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
