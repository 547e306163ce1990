"""Keeps the OrchestrationEngine ``default`` status current and records the fleet's figures.

Every ``monitoringIntervalSeconds`` it recomputes counts and scores from what the service
monitor and the workflow tracker know, writes the engine status when it changed, and
appends an ``orchestration_metrics`` row to the store. The store's health arrives as a
callback and shows as the ``StoreDegraded`` condition.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

import psutil
from pydantic import ValidationError

from orchestration_engine.api import errors
from orchestration_engine.api.common import API_VERSION, Priority
from orchestration_engine.api.engine import KIND, PLURAL, SINGLETON_NAME, EngineSpec
from orchestration_engine.controllers.engine.workflow_tracker import WorkflowTracker
from orchestration_engine.controllers.services.service_monitor import (
    EventSink,
    ServiceMonitor,
    StatusSink,
)
from orchestration_engine.controllers.services.store_sink import RowSink
from orchestration_engine.core import engine_status
from orchestration_engine.core import halt as halt_rules
from orchestration_engine.core.engine_status import EngineView, phase_of, render
from orchestration_engine.core.halt import HaltInputs, HaltState
from orchestration_engine.core.health import held_by_inconclusive_checks
from orchestration_engine.core.prober_health import ProberState
from orchestration_engine.core.scores import ServiceFacts, compute
from orchestration_engine.core.workflow_facts import WorkflowFacts
from orchestration_engine.kube.events import ObjectRef
from orchestration_engine.plumbing import metrics
from orchestration_engine.plumbing.periodic import Periodic, every

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
        monotonic: Callable[[], float] = time.monotonic,
        events: EventSink | None = None,
        workflow_facts: Callable[[datetime], WorkflowFacts] | None = None,
        settle_seconds: float = halt_rules.DEFAULT_SETTLE_SECONDS,
        halt_enabled_override: bool | None = None,
        host_usage: Callable[[], tuple[float, float]] | None = None,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.statuses = statuses
        self.monitor = monitor
        self.workflows = workflows
        self.rows = rows
        self.orchestration_id = orchestration_id
        self.interval_override = interval_override
        self._now = now
        self._monotonic = monotonic
        self.spec = EngineSpec()
        self.spec_problems: tuple[str, ...] = ()
        self.generation: int | None = None
        self.exists = False
        self.conditions: list[dict[str, Any]] = []
        self.store_problem: str | None = None
        self.stopping = False
        self._written: dict[str, Any] | None = None
        self._wakeup = asyncio.Event()
        self._task = Periodic(
            "engine-keeper",
            every(lambda: self.interval, self._round, paced=True, clock=monotonic),
            wakeup=self._wakeup,
        )
        self._process = psutil.Process()
        self.events = events
        self.workflow_facts = workflow_facts or (lambda _now: WorkflowFacts())
        self.settle_seconds = settle_seconds
        self.halt_enabled_override = halt_enabled_override
        self.host_usage = host_usage or _host_usage
        self.halt = HaltState()
        # The prober's suspicion of itself (controllers/services/prober_watch.py calls
        # probes_changed).
        self.probes = ProberState()
        self.initialized = False
        self.uid = ""
        self._cpu: deque[float] = deque(maxlen=halt_rules.RESOURCE_SAMPLES)
        self._memory: deque[float] = deque(maxlen=halt_rules.RESOURCE_SAMPLES)
        self._last_sample = -float("inf")
        self._phase: str | None = None
        # Called with the new state whenever the halt is raised or cleared.
        self.halt_listeners: list[Callable[[HaltState], None]] = []
        # Called with the halt's state after every round (what the halt asks for is redone
        # while it lasts: a service may fail after the halt was raised).
        self.round_listeners: list[Callable[[HaltState], None]] = []
        # Called when the spec changes (limits, halt): the workflow controller listens.
        self.listeners: list[Callable[[], None]] = []
        # Failovers and scaling changes under way outside workflows (the phase counts them).
        self.automatic_failovers: Callable[[], int] = lambda: 0
        self.automatic_scaling: Callable[[], int] = lambda: 0
        self.optimizing: Callable[[], bool] = lambda: False
        # The optimiser's latest round (controllers/engine/resource_optimizer.py).
        self.optimization: dict[str, Any] | None = None
        self.recommendations: tuple[dict[str, Any], ...] = ()
        self.optimization_score: float | None = None
        self.annealed = False

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
        self.uid = str(meta.get("uid", ""))
        if first:
            self.conditions = list((body.get("status") or {}).get("conditions") or [])
            self.halt = engine_status.restored_halt(self.conditions)
        try:
            self.spec, self.spec_problems = EngineSpec.model_validate(body.get("spec") or {}), ()
        except ValidationError as error:
            self.spec_problems = tuple(errors.describe(error))
        self._wakeup.set()
        self.evaluate_halt(self.service_facts())
        self.publish()
        for listener in self.listeners:
            listener()

    @property
    def halted(self) -> bool:
        return self.halt.active

    def poke(self) -> None:
        """Something the halt or the phase depends on changed: run a round now."""
        self._wakeup.set()

    # --- the emergency halt --------------------------------------------------------------

    def _sample_host(self) -> None:
        """One CPU and memory sample per monitoring interval, however often rounds run."""
        moment = self._monotonic()
        if moment - self._last_sample < self.interval * 0.9:
            return
        self._last_sample = moment
        cpu, memory = self.host_usage()
        self._cpu.append(cpu)
        self._memory.append(memory)

    def halt_inputs(self, facts: list[ServiceFacts], workflows: WorkflowFacts) -> HaltInputs:
        return engine_status.halt_inputs(
            self.spec,
            facts,
            workflows,
            enabled_override=self.halt_enabled_override,
            cpu_samples=tuple(self._cpu),
            memory_samples=tuple(self._memory),
        )

    def evaluate_halt(self, facts: list[ServiceFacts]) -> WorkflowFacts:
        now = self._now()
        workflows = self.workflow_facts(now)
        if not self.exists:
            return workflows
        before = self.halt
        self.halt = halt_rules.evaluate(
            self.halt_inputs(facts, workflows), before, now, settle_s=self.settle_seconds
        )
        if self.halt.active != before.active or (
            self.halt.active and self.halt.reason != before.reason
        ):
            self._announce_halt(before)
        return workflows

    def _announce_halt(self, before: HaltState) -> None:
        state = self.halt
        metrics.set_emergency_halt(state.reason.value if state.active and state.reason else None)
        if self.events is not None:
            ref = ObjectRef(API_VERSION, KIND, "", SINGLETON_NAME, self.uid)
            if state.active:
                reason = state.reason.value if state.reason else "Unknown"
                self.events.record(ref, "Warning", "EmergencyHalt", f"{reason}: {state.message}")
            else:
                self.events.record(ref, "Normal", "EmergencyHaltCleared", before.message)
        log.warning(
            "emergency halt %s: %s",
            "raised" if state.active else "cleared",
            state.message or before.message,
        )
        for listener in self.halt_listeners:
            listener(state)
        for changed in self.listeners:
            changed()

    def optimized(
        self,
        summary: dict[str, Any],
        recommendations: list[dict[str, Any]],
        score: float,
        annealed: bool,
    ) -> None:
        self.optimization, self.recommendations = summary, tuple(recommendations)
        self.optimization_score, self.annealed = score, annealed
        self.publish()

    def probes_changed(self, state: ProberState) -> None:
        """The prober became degraded, recovered, or its reason changed: the condition, and
        an Event when it flips."""
        before, self.probes = self.probes, state
        if self.events is not None and before.degraded != state.degraded:
            ref = ObjectRef(API_VERSION, KIND, "", SINGLETON_NAME, self.uid)
            if state.degraded:
                self.events.record(
                    ref, "Warning", "ProbesDegraded", f"{state.reason}: {state.message}"
                )
            else:
                self.events.record(
                    ref, "Normal", "ProbesRecovered", "network checks are conclusive again"
                )
        self.poke()
        self.publish()

    def store_changed(self, degraded: bool, message: str) -> None:
        self.store_problem = message if degraded else None
        self.publish()

    def service_facts(self) -> list[ServiceFacts]:
        facts = []
        for entry in self.monitor.services.values():
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
                    inconclusive=held_by_inconclusive_checks(entry.state, entry.inconclusive),
                )
            )
        return facts

    def view(self, facts: list[ServiceFacts], workflows: WorkflowFacts | None = None) -> EngineView:
        running = workflows or self.workflow_facts(self._now())
        return EngineView(
            generation=self.generation,
            spec_problems=self.spec_problems,
            halt=self.halt,
            store_problem=self.store_problem,
            services=engine_status.service_counts(facts),
            workflows=self.workflows.counts(),
            scores=compute(facts, self.optimization_score),
            stopping=self.stopping,
            optimization=self.optimization,
            recommendations=self.recommendations,
            probes=self.probes,
            activity=engine_status.activity_of(
                facts,
                running,
                initialized=self.initialized,
                automatic_failovers=self.automatic_failovers(),
                automatic_scaling=self.automatic_scaling(),
                optimizing=self.optimizing(),
            ),
        )

    def publish(self, view: EngineView | None = None) -> dict[str, Any] | None:
        if not self.exists:
            return None
        view = view or self.view(self.service_facts())
        status = render(view, self.conditions, self._now())
        self.conditions = status["conditions"]
        phase = phase_of(view).value
        if phase != self._phase:
            if self._phase is not None and self.events is not None:
                ref = ObjectRef(API_VERSION, KIND, "", SINGLETON_NAME, self.uid)
                self.events.record(ref, "Normal", "PhaseChanged", f"{self._phase} -> {phase}")
            self._phase = phase
        if status != self._written:
            self._written = status
            self.statuses.submit(PLURAL, "", SINGLETON_NAME, status)
        return status

    def record_metrics(self, view: EngineView, facts: list[ServiceFacts]) -> None:
        if self.rows is None:
            return
        row = engine_status.metrics_row(
            view,
            facts,
            orchestration_id=self.orchestration_id,
            operator_cpu_percent=self._process.cpu_percent(),
            operator_rss_mb=round(self._process.memory_info().rss / 2**20, 1),
            annealed=self.annealed,
        )
        self.rows.submit("orchestration_metrics", row)

    async def start(self) -> None:
        await self._task.start()

    async def stop(self) -> None:
        await self._task.stop()
        self.stopping = True
        self.publish()

    async def _round(self) -> None:
        """Every ``interval``, counted from the round's start, or at once when poked."""
        try:
            # One pass over the services serves both the status and the store's row.
            facts = self.service_facts()
            self._sample_host()
            workflows = self.evaluate_halt(facts)
            view = self.view(facts, workflows)
            self.publish(view)
            for listener in self.round_listeners:
                listener(self.halt)
            self.record_metrics(view, facts)
        except Exception:  # one bad round must not end the engine's reporting
            log.exception("engine status round failed")


def _host_usage() -> tuple[float, float]:
    """CPU percent since the previous call, and memory percent, of the whole host."""
    return psutil.cpu_percent(interval=None), psutil.virtual_memory().percent
