"""Runs the resource optimiser every ``optimizationIntervalSeconds`` (docs/optimizer.md).

A round gathers each service's priority, replica window, per-replica ``resources``, current
replicas and demand (from the autoscaler's signals), asks core/optimizer.py for a plan under
the engine's ``capacity`` and ``optimizationStrategy``, and then:

- hands the plan to the autoscaler, which applies it as one more scaling signal, so the
  stabilization windows, the bounds, ``autoScalingEnabled`` and the emergency halt all hold
  (core/scaling.py says how a plan and the other signals combine);
- gives the engine keeper its summary (``status.optimization``, ``scores.optimization``) and
  the recommendations (``status.recommendations``, when ``enableAIDecisionMaking``);
- appends an ``optimization_runs`` row to the store, and sets the ``eoe_optimization_*``
  metrics.

The solve runs in a worker thread: annealing a few hundred variables takes up to a second,
which the event loop must not wait for. A round is a pure function of what is observed (the
annealer is seeded), so running one twice, or after a restart, plans the same.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from orchestration_engine.api.engine import EngineSpec
from orchestration_engine.controllers.services.autoscaler import Autoscaler, active_ref
from orchestration_engine.controllers.services.service_monitor import ServiceMonitor
from orchestration_engine.controllers.services.workloads import WorkloadCache
from orchestration_engine.core import optimization_round as rounds
from orchestration_engine.core.optimizer import Plan, Solver, optimise
from orchestration_engine.core.recommendations import Evidence, derive
from orchestration_engine.plumbing import metrics
from orchestration_engine.plumbing.periodic import Periodic, every

log = logging.getLogger(__name__)

# A plan holds for this many intervals: long enough to survive a slow round, short enough
# that a stopped optimiser does not hold the fleet to an old plan.
VALID_INTERVALS = 2.5
# The first round waits this long (or an interval, if shorter): the services' handlers run
# after start-up, and a plan of an empty fleet would say nothing for a whole interval.
FIRST_ROUND_DELAY_S = 30.0
# The annealer's seed: the same observations give the same plan, round after round.
SEED = 0


class RowSink(Protocol):
    def submit(self, table: str, row: dict[str, Any]) -> None: ...


@dataclass(frozen=True, slots=True)
class Outcome:
    """What a round leaves for the engine's status."""

    summary: dict[str, Any]
    recommendations: list[dict[str, Any]]
    score: float
    annealed: bool


class ResourceOptimizer:
    def __init__(
        self,
        monitor: ServiceMonitor,
        workloads: WorkloadCache,
        autoscaler: Autoscaler,
        *,
        engine: Callable[[], EngineSpec],
        rows: RowSink | None,
        orchestration_id: str,
        on_outcome: Callable[[Outcome], None],
        quantum_override: bool | None = None,
        ai_override: bool | None = None,
        interval_override: float | None = None,
        monotonic: Callable[[], float] = time.monotonic,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.monitor = monitor
        self.workloads = workloads
        self.autoscaler = autoscaler
        self.engine = engine
        self.rows = rows
        self.orchestration_id = orchestration_id
        self.on_outcome = on_outcome
        self.quantum_override = quantum_override
        self.ai_override = ai_override
        self.interval_override = interval_override
        self._now = now
        self._wakeup = asyncio.Event()
        self._task = Periodic(
            "resource-optimizer",
            every(lambda: self.interval, self._round, paced=True, clock=monotonic),
            wakeup=self._wakeup,
            first_wait_s=lambda: min(self.interval, FIRST_ROUND_DELAY_S),
        )
        self.solving = False
        self.last: Outcome | None = None

    @property
    def interval(self) -> float:
        return float(self.interval_override or self.engine().optimization_interval_seconds)

    def engine_changed(self) -> None:
        """A new strategy or capacity is planned for at once, not at the next interval."""
        self._wakeup.set()

    def observed(self) -> list[rounds.Observed]:
        found = []
        for key, entry in self.monitor.services.items():
            spec = entry.spec
            if spec is None:
                continue
            ref = active_ref(spec, entry.active_target)
            if ref is None:
                continue
            replicas = self.workloads.lookup((key[0], ref.kind.value, ref.name))
            if replicas.missing:
                continue
            scaling = spec.scaling
            seen = self.autoscaler.observation(key)
            found.append(
                rounds.Observed(
                    key=key,
                    priority=spec.priority,
                    current=replicas.desired,
                    resources=spec.resources,
                    min_replicas=scaling.min_replicas if scaling else None,
                    max_replicas=scaling.max_replicas if scaling else None,
                    demand=seen.demand,
                    target_latency_ms=scaling.target_latency_ms if scaling else None,
                    sla_latency_ms=spec.sla.latency_ms if spec.sla else None,
                )
            )
        return found

    def evidence(self, observed: list[rounds.Observed], plan: Plan) -> list[Evidence]:
        found = []
        for o in observed:
            entry = self.monitor.services.get(o.key)
            seen = self.autoscaler.observation(o.key)
            verdict = entry.anomaly.verdict if entry and entry.anomaly else None
            found.append(
                rounds.evidence_of(
                    o,
                    plan,
                    p95_ms=seen.p95_ms,
                    above_target_s=seen.above_target_s,
                    forecast_replicas=seen.forecast,
                    anomaly=verdict.message if verdict is not None and verdict.active else None,
                )
            )
        return found

    async def run_once(self) -> Outcome:
        spec = self.engine()
        strategy = spec.optimization_strategy
        allowed = rounds.switches(
            spec, quantum_override=self.quantum_override, ai_override=self.ai_override
        )
        choice = rounds.choose(strategy, allowed.quantum)
        observed = self.observed()
        problem = rounds.problem_of(observed, spec.capacity)
        started = time.perf_counter()
        self.solving = True
        try:
            plan = await asyncio.to_thread(
                optimise, problem, strategy, solver=choice.solver, seed=SEED
            )
        finally:
            self.solving = False
        elapsed = time.perf_counter() - started
        at = self._now().isoformat()
        summary = rounds.summary(
            plan, observed, choice, strategy=strategy, at=at, duration_ms=1000 * elapsed
        )
        recommendations = (
            [r.as_status() for r in derive(self.evidence(observed, plan))] if allowed.ai else []
        )
        self.autoscaler.set_plan(
            rounds.allotments(plan, observed, strategy), VALID_INTERVALS * self.interval
        )
        metrics.OPTIMIZATION_RUNS.labels(strategy.value, plan.solver.value).inc()
        metrics.OPTIMIZATION_DURATION.observe(elapsed)
        metrics.OPTIMIZATION_SCORE.set(plan.score)
        metrics.OPTIMIZATION_CHANGES.set(summary["changes"])
        if self.rows is not None:
            self.rows.submit(
                "optimization_runs",
                rounds.store_row(plan, observed, summary, self.orchestration_id, recommendations),
            )
        outcome = Outcome(summary, recommendations, plan.score, plan.solver is Solver.ANNEAL)
        self.last = outcome
        if summary["changes"]:
            log.info(
                "%s plan (%s): score %.1f, %d of %d services to change",
                strategy.value,
                plan.solver.value,
                plan.score,
                summary["changes"],
                summary["services"],
            )
        self.on_outcome(outcome)
        return outcome

    async def start(self) -> None:
        await self._task.start()

    async def stop(self) -> None:
        await self._task.stop()

    async def _round(self) -> None:
        """Every ``interval``, counted from the round's start, or at once when woken; the
        first after ``FIRST_ROUND_DELAY_S`` at most."""
        try:
            await self.run_once()
        except Exception:  # one bad round must not end optimisation
            log.exception("optimisation round failed")
