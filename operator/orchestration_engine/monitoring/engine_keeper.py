"""Keeps the OrchestrationEngine ``default`` status current and records the fleet's figures.

Every ``monitoringIntervalSeconds`` it recomputes counts and scores from what the service
monitor and the workflow tracker know, writes the engine status when it changed, and
appends an ``orchestration_metrics`` row to the store. The store's health arrives as a
callback and shows as the ``StoreDegraded`` condition.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

import psutil
from pydantic import ValidationError

from orchestration_engine.api import errors
from orchestration_engine.api.common import Priority
from orchestration_engine.api.engine import PLURAL, SINGLETON_NAME, EngineSpec
from orchestration_engine.api.service import Health
from orchestration_engine.core.engine_status import EngineView, render
from orchestration_engine.core.scores import ServiceFacts, compute
from orchestration_engine.monitoring.service_monitor import ServiceMonitor, StatusSink
from orchestration_engine.monitoring.store_sink import RowSink
from orchestration_engine.monitoring.workflow_tracker import WorkflowTracker

log = logging.getLogger(__name__)


class EngineKeeper:
    def __init__(
        self,
        *,
        statuses: StatusSink,
        monitor: ServiceMonitor,
        workflows: WorkflowTracker,
        rows: RowSink | None,
        orchestration_id: str,
        interval_override: int | None = None,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.statuses = statuses
        self.monitor = monitor
        self.workflows = workflows
        self.rows = rows
        self.orchestration_id = orchestration_id
        self.interval_override = interval_override
        self._now = now
        self.spec = EngineSpec()
        self.spec_problems: tuple[str, ...] = ()
        self.generation: int | None = None
        self.exists = False
        self.conditions: list[dict[str, Any]] = []
        self.store_problem: str | None = None
        self.stopping = False
        self._written: dict[str, Any] | None = None
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._process = psutil.Process()
        # Called when the spec changes (limits, halt): the workflow controller listens.
        self.listeners: list[Callable[[], None]] = []

    @property
    def interval(self) -> float:
        return float(self.interval_override or self.spec.monitoring_interval_seconds)

    def observe(self, event_type: str | None, body: Mapping[str, Any]) -> None:
        meta = body.get("metadata", {})
        if meta.get("name") != SINGLETON_NAME:
            return  # the CRD's CEL rule rejects other names; older objects are ignored
        if event_type == "DELETED":
            self.exists, self._written = False, None
            return
        if self.exists and meta.get("generation") == self.generation:
            return
        first = not self.exists
        self.exists = True
        self.generation = meta.get("generation")
        if first:
            self.conditions = list((body.get("status") or {}).get("conditions") or [])
        try:
            self.spec, self.spec_problems = EngineSpec.model_validate(body.get("spec") or {}), ()
        except ValidationError as error:
            self.spec_problems = tuple(errors.describe(error))
        self._wakeup.set()
        self.publish()
        for listener in self.listeners:
            listener()

    @property
    def halted(self) -> bool:
        """An emergency halt is in force (for now only the manual one, ``spec.halt``)."""
        return self.exists and self.spec.halt

    def store_changed(self, degraded: bool, message: str) -> None:
        self.store_problem = message if degraded else None
        self.publish()

    def service_facts(self) -> list[ServiceFacts]:
        facts = []
        for entry in self.monitor.entries.values():
            spec = entry.spec
            state = entry.state
            target = None
            if spec is not None:
                if spec.sla is not None and spec.sla.latency_ms is not None:
                    target = spec.sla.latency_ms
                elif spec.health_check is not None:
                    target = spec.health_check.warning_latency_ms
            replicas = state.replicas
            facts.append(
                ServiceFacts(
                    health=state.health,
                    priority=spec.priority if spec else Priority.NORMAL,
                    last_latency_ms=state.last_latency_ms,
                    latency_target_ms=target,
                    last_check_ok=state.last_check_ok,
                    desired_replicas=replicas.desired
                    if replicas and not replicas.missing
                    else None,
                    ready_replicas=replicas.ready if replicas else None,
                )
            )
        return facts

    def view(self, facts: list[ServiceFacts]) -> EngineView:
        healths = Counter(f.health for f in facts)
        services = {"total": len(facts)} | {h.value.lower(): healths[h] for h in Health}
        return EngineView(
            generation=self.generation,
            spec_problems=self.spec_problems,
            halt=self.spec.halt,
            halt_reason=self.spec.halt_reason,
            store_problem=self.store_problem,
            services=services,
            workflows=self.workflows.counts(),
            scores=compute(facts),
            stopping=self.stopping,
        )

    def publish(self, view: EngineView | None = None) -> dict[str, Any] | None:
        if not self.exists:
            return None
        view = view or self.view(self.service_facts())
        status = render(view, self.conditions, self._now())
        self.conditions = status["conditions"]
        if status != self._written:
            self._written = status
            self.statuses.submit(PLURAL, "", SINGLETON_NAME, status)
        return status

    def record_metrics(self, view: EngineView, facts: list[ServiceFacts]) -> None:
        if self.rows is None:
            return
        latencies = [f.last_latency_ms for f in facts if f.last_latency_ms is not None]
        services, workflows, scores = view.services, view.workflows, view.scores
        self.rows.submit(
            "orchestration_metrics",
            {
                "orchestration_id": self.orchestration_id,
                "total_services": services["total"],
                "active_services": services["healthy"] + services["warning"],
                "failed_services": services["failed"],
                "healthy_services": services["healthy"],
                "warning_services": services["warning"],
                "critical_services": services["critical"],
                "total_workflows": workflows["total"],
                "completed_workflows": workflows["succeeded"],
                "failed_workflows": workflows["failed"],
                "average_response_time": sum(latencies) / len(latencies) if latencies else 0.0,
                "resource_utilization": {
                    "operator_cpu_percent": self._process.cpu_percent(),
                    "operator_rss_mb": round(self._process.memory_info().rss / 2**20, 1),
                },
                "optimization_score": scores.optimization,
                "reliability_score": scores.reliability,
                "performance_score": scores.performance,
                "cost_efficiency": scores.cost_efficiency,
                # No optimiser runs yet: nothing quantum-enhanced is active.
                "quantum_enhancement_active": False,
                "ai_optimization_score": scores.optimization,
            },
        )

    async def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="engine-keeper")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self.stopping = True
        self.publish()

    async def _loop(self) -> None:
        while True:
            started = time.monotonic()
            try:
                # One pass over the services serves both the status and the store's row.
                facts = self.service_facts()
                view = self.view(facts)
                self.publish(view)
                self.record_metrics(view, facts)
            except Exception:  # one bad round must not end the engine's reporting
                log.exception("engine status round failed")
            self._wakeup.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(
                    self._wakeup.wait(), max(0.1, self.interval - (time.monotonic() - started))
                )
