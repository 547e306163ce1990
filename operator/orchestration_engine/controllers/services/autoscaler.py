"""Reactive and predictive scaling of OrchestratedServices (API.md, ``scaling``).

The monitor hands every check result in; core/scaling.py decides from the p95 latency of the
checks since the last scaling, the external metric (``scaling.prometheus``), and the forecast
(core/forecast.py). This module gathers those signals, applies a decision to the workload
serving the traffic (the standby's after a failover), and records it: an Event, an ``events``
row, ``eoe_scaling_actions_total``, the Scaling condition and ``lastScaleTime``.

Gates, in order (core/scaling_ladder.py): the engine's ``autoScalingEnabled``; the emergency
halt (only CRITICAL services scale during it, and only up, so the halt's own scale-up is not
undone); a workload to scale. A scale-up also waits until the previous change's replicas are
ready (at most five minutes): until then the latency still describes the old size. Decisions
are cheap and run on every check, so no per-service timer exists.

Every bucket (five minutes) the observed demand, the replicas that would have met the latency
target, goes to the store's ``scaling_samples``: the history a predictive service forecasts
from, loaded back when the operator starts.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import httpx

from orchestration_engine.api.common import Priority, WorkloadRef
from orchestration_engine.api.engine import EngineSpec
from orchestration_engine.api.service import PrometheusScaling, Scaling, ServiceSpec
from orchestration_engine.controllers.services.service_monitor import Key, ServiceMonitor
from orchestration_engine.controllers.services.workloads import WorkloadCache
from orchestration_engine.core import scaling as core
from orchestration_engine.core import scaling_ladder as ladder
from orchestration_engine.core.forecast import HEADROOM, DemandHistory, forecast_peak
from orchestration_engine.core.optimization_round import Allotment
from orchestration_engine.core.service_status import ConditionState
from orchestration_engine.kube import resources
from orchestration_engine.kube.client import ApiClient
from orchestration_engine.kube.errors import KubeError
from orchestration_engine.plumbing import metrics
from orchestration_engine.plumbing.periodic import Periodic, every
from orchestration_engine.probes.result import CheckResult

log = logging.getLogger(__name__)

BUCKET_S = 300.0
HISTORY = timedelta(days=7)
# How far ahead the forecast looks: about the time a new replica takes to become useful.
FORECAST_HORIZON_S = 600.0
MAX_SAMPLES = 256
PROMETHEUS_INTERVAL_S = 15.0
PROMETHEUS_TIMEOUT_S = 5.0


class RowSink(Protocol):
    def submit(self, table: str, row: dict[str, Any]) -> None: ...


HistoryLoader = Callable[[str, str, datetime], Awaitable[list[tuple[datetime, float]]]]
# Sets a workload's replicas; False when it does not exist.
Scale = Callable[[str, WorkloadRef, int], Awaitable[bool]]


def kube_scale(api: ApiClient) -> Scale:
    async def scale(namespace: str, ref: WorkloadRef, replicas: int) -> bool:
        patched = await resources.patch(
            api, resources.workload(ref), namespace, ref.name, {"spec": {"replicas": replicas}}
        )
        return patched is not None

    return scale


@dataclass
class _Track:
    samples: deque[tuple[float, float]] = field(default_factory=lambda: deque(maxlen=MAX_SAMPLES))
    history: list[core.Recommendation] = field(default_factory=list)
    task: asyncio.Task[None] | None = None
    target: int | None = None  # scaled to this; Scaling stays True until it is ready
    scaled_at: float | None = None
    action: ConditionState | None = None
    bucket_end: float | None = None
    bucket_latencies: list[float] = field(default_factory=list)
    demand: DemandHistory | None = None
    loading: bool = False
    early: list[tuple[float, float]] = field(default_factory=list)  # closed while loading
    forecast: float | None = None
    external: float | None = None
    external_error: str | None = None
    above_target_since: float | None = None  # the p95 has been above the target since


@dataclass(frozen=True, slots=True)
class Observation:
    """What the optimiser and the recommendations read about a service's load."""

    p95_ms: float | None
    demand: float | None  # replicas needed now: the highest of the signals; None: unknown
    forecast: float | None  # replicas the forecast asks for, headroom included
    above_target_s: float | None


def policy_of(scaling: Scaling, headroom: float = 1.0) -> core.ScalingPolicy:
    return core.ScalingPolicy(
        min_replicas=scaling.min_replicas,
        max_replicas=scaling.max_replicas,
        target_latency_ms=scaling.target_latency_ms,
        scale_up_stabilization_s=float(scaling.scale_up_stabilization_seconds),
        scale_down_stabilization_s=float(scaling.scale_down_stabilization_seconds),
        external_target=scaling.prometheus.target if scaling.prometheus else None,
        forecast_headroom=headroom,
    )


def active_ref(spec: ServiceSpec, active_target: str) -> WorkloadRef | None:
    if active_target == "standby" and spec.failover is not None:
        return spec.failover.standby_ref
    return spec.workload_ref


def prometheus_value(body: Any) -> float:
    """The one number a Prometheus instant query returned; ValueError with why otherwise."""
    if not isinstance(body, dict) or body.get("status") != "success":
        error = body.get("error") if isinstance(body, dict) else None
        raise ValueError(f"query failed: {error or 'not a Prometheus API answer'}")
    data = body.get("data") or {}
    kind, result = data.get("resultType"), data.get("result")
    if kind == "scalar" and isinstance(result, list) and len(result) == 2:
        value = float(result[1])
    elif kind == "vector" and isinstance(result, list):
        if not result:
            return 0.0  # no series: nothing to serve
        if len(result) > 1:
            raise ValueError(f"query returned {len(result)} series; aggregate it to one (sum)")
        value = float(result[0]["value"][1])
    else:
        raise ValueError(f"query returned {kind!r}; an instant vector or scalar is needed")
    if math.isnan(value) or math.isinf(value):
        raise ValueError(f"query returned {value}")
    return value


class Autoscaler:
    def __init__(
        self,
        scale: Scale,
        monitor: ServiceMonitor,
        workloads: WorkloadCache,
        *,
        engine: Callable[[], EngineSpec],
        halted: Callable[[], bool],
        rows: RowSink,
        http: httpx.AsyncClient,
        load_history: HistoryLoader | None = None,
        monotonic: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
        forecast_headroom: float = HEADROOM,
        prometheus_interval_s: float = PROMETHEUS_INTERVAL_S,
    ) -> None:
        self.scale = scale
        self.monitor = monitor
        self.workloads = workloads
        self.engine = engine
        self.halted = halted
        self.rows = rows
        self.http = http
        self.load_history = load_history
        self._monotonic = monotonic
        self._wall = wall
        self.forecast_headroom = forecast_headroom
        self.prometheus_interval_s = prometheus_interval_s
        self._loads: set[asyncio.Task[None]] = set()
        self._tracks: dict[Key, _Track] = {}
        self._poller = Periodic(
            "autoscaler-prometheus",
            every(lambda: self.prometheus_interval_s, self._poll_prometheus),
        )
        self._closed = False
        # The optimiser's latest plan (controllers/engine/resource_optimizer.py), until it expires.
        self._plan: dict[Key, Allotment] = {}
        self._plan_until = -math.inf

    # --- inputs ---------------------------------------------------------------------------

    def check(self, key: Key, result: CheckResult) -> None:
        """A check listener of the monitor."""
        entry = self.monitor.services.get(key)
        if entry is None or entry.spec is None or entry.spec.scaling is None:
            return
        track = self._tracks.setdefault(key, _Track())
        probed = entry.target is not None and entry.target.kind != "workload"
        if result.ok and result.latency_ms is not None and probed:
            track.samples.append((self._monotonic(), result.latency_ms))
            track.bucket_latencies.append(result.latency_ms)
        self._roll_bucket(key, entry.spec, track)
        self._evaluate(key)

    def changed(self, key: Key) -> None:
        """A change listener of the monitor (spec, health, workloads)."""
        self._evaluate(key)

    def engine_changed(self) -> None:
        for key, entry in list(self.monitor.services.items()):
            if entry.spec is not None and entry.spec.scaling is not None:
                self._evaluate(key)

    def scaling(self) -> int:
        """Services whose last change is still under way (for the engine's phase)."""
        return sum(1 for t in self._tracks.values() if t.target is not None)

    def set_plan(self, allotments: Mapping[Key, Allotment], valid_s: float) -> None:
        """The optimiser's plan, a signal for ``valid_s`` seconds (it is renewed every
        round; one that is not, because the optimiser stopped, no longer holds anything)."""
        changed = set(self._plan) | set(allotments)
        self._plan = dict(allotments)
        self._plan_until = self._monotonic() + valid_s
        for key in changed:
            self._evaluate(key)

    def planned(self, key: Key) -> Allotment | None:
        if self._monotonic() > self._plan_until:
            return None
        return self._plan.get(key)

    def observation(self, key: Key) -> Observation:
        entry = self.monitor.services.get(key)
        track = self._tracks.get(key)
        spec = entry.spec if entry is not None else None
        if entry is None or spec is None or spec.scaling is None or track is None:
            return Observation(None, None, None, None)
        now = self._monotonic()
        latencies = [latency for _at, latency in track.samples]
        p95 = core.percentile(latencies)
        scaling = spec.scaling
        demands = []
        ref = active_ref(spec, entry.active_target)
        if (
            p95 is not None
            and len(latencies) >= core.MIN_SAMPLES
            and scaling.target_latency_ms is not None
            and ref is not None
        ):
            ready = self.workloads.lookup((key[0], ref.kind.value, ref.name)).ready
            demands.append(core.latency_demand(ready, p95, scaling.target_latency_ms))
        if scaling.prometheus is not None and track.external is not None:
            demands.append(track.external / scaling.prometheus.target)
        forecast = track.forecast * self.forecast_headroom if track.forecast is not None else None
        if forecast is not None:
            demands.append(forecast)
        since = track.above_target_since
        return Observation(
            p95,
            max(demands) if demands else None,
            forecast,
            now - since if since is not None else None,
        )

    async def start(self) -> None:
        await self._poller.start()

    async def close(self) -> None:
        self._closed = True
        tasks = [t.task for t in self._tracks.values() if t.task is not None]
        tasks.extend(self._loads)
        for task in tasks:
            task.cancel()
        await asyncio.gather(self._poller.stop(), *tasks, return_exceptions=True)

    # --- decisions ------------------------------------------------------------------------

    def _forget(self, key: Key) -> None:
        track = self._tracks.pop(key, None)
        if track is not None and track.task is not None:
            track.task.cancel()
        self.monitor.set_scaling(key, None)

    def _evaluate(self, key: Key) -> None:
        if self._closed:
            return
        entry = self.monitor.services.get(key)
        spec = entry.spec if entry is not None else None
        if entry is None or spec is None or spec.scaling is None:
            self._forget(key)
            return
        track = self._tracks.setdefault(key, _Track())
        engine = self.engine()
        ref = active_ref(spec, entry.active_target)
        workload = None
        if ref is not None:
            replicas = self.workloads.lookup((key[0], ref.kind.value, ref.name))
            name = f"{ref.kind.value} {ref.name}"
            workload = ladder.Workload(name, replicas.missing, replicas.desired, replicas.ready)
        plan = self.planned(key)
        verdict = ladder.evaluate(
            ladder.Facts(
                policy=policy_of(spec.scaling, self.forecast_headroom),
                now=self._monotonic(),
                auto_scaling_enabled=engine.auto_scaling_enabled,
                halted=self.halted(),
                critical=spec.priority is Priority.CRITICAL,
                workload=workload,
                busy=track.task is not None,
                period_s=_period(spec),
                predictive=engine.predictive_scaling and spec.scaling.predictive,
                external=track.external if spec.scaling.prometheus else None,
                forecast=track.forecast,
                planned=plan.floor if plan is not None else None,
                plan_ceiling=plan.ceiling if plan is not None else None,
            ),
            ladder.Track(
                tuple(track.samples),
                tuple(track.history),
                track.target,
                track.scaled_at,
                track.action is not None,
                track.above_target_since,
            ),
        )
        after = verdict.track
        for _ in range(len(track.samples) - len(after.samples)):
            track.samples.popleft()  # out of the window
        track.history, track.above_target_since = list(after.history), after.above_target_since
        track.target = after.target
        if not after.acting:
            track.action = None
        if verdict.predictive:
            self._ensure_history(key, track)
        elif verdict.predictive is not None and (
            track.demand is not None or track.forecast is not None
        ):
            track.demand, track.forecast = None, None
        if verdict.step is ladder.Step.SCALE and ref is not None and verdict.decision:
            track.task = self._start(key, self._scale(key, ref, verdict.decision), "scale")
        elif verdict.step is ladder.Step.HOLD:
            self.monitor.set_scaling(key, track.action)
        elif verdict.condition is not None:
            self.monitor.set_scaling(key, verdict.condition)

    def _condition(self, key: Key, status: bool, reason: str, message: str) -> None:
        self.monitor.set_scaling(key, ConditionState(status, reason, message))

    def _start(self, key: Key, work: Coroutine[Any, Any, None], what: str) -> asyncio.Task[None]:
        task = asyncio.create_task(work, name=f"autoscaler-{what}-{key[1]}")

        def done(_task: asyncio.Task[None]) -> None:
            track = self._tracks.get(key)
            if track is not None and track.task is _task:
                track.task = None
                if not self._closed:
                    asyncio.get_running_loop().call_soon(self._evaluate, key)

        task.add_done_callback(done)
        return task

    async def _scale(self, key: Key, ref: WorkloadRef, decision: core.Decision) -> None:
        track = self._tracks.get(key)
        if track is None:
            return
        workload = f"{ref.kind.value} {ref.name}"
        try:
            found = await self.scale(key[0], ref, decision.desired)
        except KubeError as error:
            log.error("%s/%s: scaling %s failed: %s", *key, workload, error)
            self._condition(key, False, "ScaleFailed", f"scaling {workload} failed: {error}")
            return
        if not found:
            self._condition(key, False, "WorkloadNotFound", f"{workload} not found")
            return
        up = decision.desired > decision.current
        direction = "up" if up else "down"
        reason = "ScaledUp" if up else "ScaledDown"
        message = (
            f"{workload} scaled from {decision.current} to {decision.desired}: {decision.message}"
        )
        log.info("%s/%s: %s", *key, message)
        metrics.SCALING_ACTIONS.labels(key[0], key[1], direction).inc()
        entry = self.monitor.services.get(key)
        if entry is not None:
            self.monitor.events.record(entry.ref(), "Normal", reason, message)
        self.monitor.checks.service_event(
            key[0],
            key[1],
            reason,
            message,
            {
                "from": decision.current,
                "to": decision.desired,
                "recommended": decision.recommended,
                "signal": decision.reason.value,
            },
        )
        # The samples describe the old size; the next decision waits for new ones.
        track.samples.clear()
        track.target = decision.desired
        track.scaled_at = self._monotonic()
        track.action = ConditionState(True, reason, message)
        self.monitor.set_scaling(key, track.action, scaled=True)

    # --- demand history and forecast ------------------------------------------------------

    def _roll_bucket(self, key: Key, spec: ServiceSpec, track: _Track) -> None:
        wall = self._wall()
        if track.bucket_end is None:
            track.bucket_end = (math.floor(wall / BUCKET_S) + 1) * BUCKET_S
            return
        if wall < track.bucket_end:
            return
        start = track.bucket_end - BUCKET_S
        track.bucket_end = (math.floor(wall / BUCKET_S) + 1) * BUCKET_S
        latencies, track.bucket_latencies = track.bucket_latencies, []
        scaling = spec.scaling
        entry = self.monitor.services.get(key)
        if scaling is None or entry is None:
            return
        ref = active_ref(spec, entry.active_target)
        replicas = self.workloads.lookup((key[0], ref.kind.value, ref.name)) if ref else None
        if replicas is None or replicas.missing:
            return
        p95 = core.percentile(latencies)
        demands: list[float] = []
        if scaling.target_latency_ms is not None and p95 is not None:
            demands.append(core.latency_demand(replicas.ready, p95, scaling.target_latency_ms))
        if scaling.prometheus is not None and track.external is not None:
            demands.append(track.external / scaling.prometheus.target)
        if not demands:
            return
        demand = max(demands)
        self.rows.submit(
            "scaling_samples",
            {
                "timestamp": datetime.fromtimestamp(start, UTC),
                "namespace": key[0],
                "service": key[1],
                "replicas": replicas.desired,
                "p95_latency_ms": p95,
                "demand": demand,
                "forecast": track.forecast,
            },
        )
        if track.loading:
            track.early.append((start, demand))
        elif track.demand is not None:
            track.demand.add(start, demand)
            track.forecast = forecast_peak(track.demand, wall, FORECAST_HORIZON_S)

    def _ensure_history(self, key: Key, track: _Track) -> None:
        if track.demand is not None or track.loading:
            return
        if self.load_history is None:
            track.demand = DemandHistory(step_s=BUCKET_S)
            return
        track.loading = True
        task = asyncio.create_task(self._load(key, track), name=f"autoscaler-history-{key[1]}")
        self._loads.add(task)
        task.add_done_callback(self._loads.discard)

    async def _load(self, key: Key, track: _Track) -> None:
        assert self.load_history is not None
        history = DemandHistory(step_s=BUCKET_S)
        since = datetime.fromtimestamp(self._wall(), UTC) - HISTORY
        try:
            for at, demand in await self.load_history(key[0], key[1], since):
                history.add(at.timestamp(), demand)
        except Exception as error:  # the store may be down or not migrated yet
            log.warning("%s/%s: no demand history from the store (%s)", *key, error)
        for at_s, demand in track.early:
            history.add(at_s, demand)
        track.early.clear()
        track.demand, track.loading = history, False
        track.forecast = forecast_peak(history, self._wall(), FORECAST_HORIZON_S)

    # --- external metric ------------------------------------------------------------------

    async def _poll_prometheus(self) -> None:
        """Every ``prometheus_interval_s``."""
        for key, entry in list(self.monitor.services.items()):
            spec = entry.spec
            if spec is None or spec.scaling is None or spec.scaling.prometheus is None:
                continue
            track = self._tracks.setdefault(key, _Track())
            await self._query(key, track, spec.scaling.prometheus)
            self._evaluate(key)

    async def _query(self, key: Key, track: _Track, source: PrometheusScaling) -> None:
        url = source.url.rstrip("/") + "/api/v1/query"
        try:
            response = await self.http.get(
                url, params={"query": source.query}, timeout=PROMETHEUS_TIMEOUT_S
            )
            body: Any = None
            with contextlib.suppress(ValueError):
                body = response.json()
            if response.status_code != 200 and not isinstance(body, dict):
                raise ValueError(f"HTTP {response.status_code}")
            track.external = prometheus_value(body)
            track.external_error = None
        except (httpx.HTTPError, ValueError, KeyError, IndexError, TypeError) as error:
            track.external = None
            text = str(error) or type(error).__name__
            if text != track.external_error:
                log.warning("%s/%s: Prometheus query at %s failed: %s", *key, url, text)
            track.external_error = text


def _period(spec: ServiceSpec) -> float:
    return float(spec.health_check.period_seconds) if spec.health_check else 10.0
