"""The in-memory picture of every OrchestratedService, and the loop that keeps it current.

kopf feeds it watch events (services, workloads); the probe scheduler feeds it check
results. For each change it asks the pure core what the health and status are, and hands
the status to the coalescing writer only when a user would see a difference (or the
heartbeat is due). All state it needs after a restart is read back from ``status``, so it
is level-triggered: a restart neither resets health to UNKNOWN nor repeats Events.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any, Protocol

from pydantic import ValidationError

from orchestration_engine.api import errors
from orchestration_engine.api.common import API_VERSION, Priority
from orchestration_engine.api.service import KIND, PLURAL, Health, ServiceSpec
from orchestration_engine.controllers.services.prober_watch import ProberWatch
from orchestration_engine.controllers.services.store_sink import ServiceSnapshot
from orchestration_engine.core import dag
from orchestration_engine.core.anomaly import AnomalyDetector, AnomalyPolicy
from orchestration_engine.core.conditions import Conditions, rfc3339
from orchestration_engine.core.health import (
    CheckOutcome,
    HealthPolicy,
    HealthState,
    Replicas,
    record_check,
    with_dependencies,
    with_replicas,
    workload_check,
)
from orchestration_engine.core.service_status import (
    ConditionState,
    DependencyView,
    ServiceView,
    render_status,
    should_write,
)
from orchestration_engine.core.uptime import UptimeWindow
from orchestration_engine.kube.events import ObjectRef
from orchestration_engine.plumbing import metrics
from orchestration_engine.probes.result import CheckResult
from orchestration_engine.probes.target import ProbeTarget, period_of, target_of

log = logging.getLogger(__name__)

Key = tuple[str, str]  # namespace, name
WorkloadKey = tuple[str, str, str]  # namespace, kind, name
HEALTHY_EVENT_STATES = frozenset({Health.HEALTHY, Health.WARNING, Health.UNKNOWN})


class StatusSink(Protocol):
    def submit(self, plural: str, namespace: str, name: str, status: dict[str, Any]) -> None: ...
    def forget(self, plural: str, namespace: str, name: str) -> None: ...


class EventSink(Protocol):
    def record(self, ref: ObjectRef, type_: str, reason: str, message: str) -> None: ...


class CheckSink(Protocol):
    """Where every check and health transition is mirrored (the metrics store)."""

    def check(self, namespace: str, name: str, result: CheckResult, health: Health) -> None: ...
    def transition(
        self, namespace: str, name: str, old: Health, new: Health, message: str
    ) -> None: ...
    def service(self, snapshot: ServiceSnapshot) -> None: ...
    def service_event(
        self,
        namespace: str,
        name: str,
        reason: str,
        message: str,
        data: dict[str, Any] | None = None,
    ) -> None: ...


class Scheduler(Protocol):
    def upsert(self, key: Key, target: ProbeTarget, period_s: float) -> None: ...
    def remove(self, key: Key) -> None: ...


class NoChecks:
    def check(self, namespace: str, name: str, result: CheckResult, health: Health) -> None:
        pass

    def transition(self, namespace: str, name: str, old: Health, new: Health, message: str) -> None:
        pass

    def service(self, snapshot: ServiceSnapshot) -> None:
        pass

    def service_event(
        self,
        namespace: str,
        name: str,
        reason: str,
        message: str,
        data: dict[str, Any] | None = None,
    ) -> None:
        pass


ReplicaLookup = Callable[[WorkloadKey], Replicas | None]


@dataclass
class ServiceEntry:
    key: Key
    uid: str
    generation: int | None
    spec: ServiceSpec | None
    spec_problems: tuple[str, ...]
    policy: HealthPolicy
    state: HealthState
    uptime: UptimeWindow
    target: ProbeTarget | None = None
    conditions: Conditions = field(default_factory=list)
    active_target: str = "primary"
    failover_count: int = 0
    last_failover_time: str | None = None
    # Set by the failover controller and the autoscaler (see ServiceView).
    failover_problem: tuple[str, str] | None = None
    scaling: ConditionState | None = None
    last_scale_time: str | None = None
    anomaly: AnomalyDetector | None = None
    dependencies: DependencyView = field(default_factory=DependencyView)
    # The latest check was inconclusive (the prober suspects itself,
    # controllers/services/prober_watch.py): health stays as the last conclusive checks left
    # it, and nothing switches on it.
    inconclusive: bool = False
    written: dict[str, Any] | None = None
    written_at: float | None = None
    # What the last render depended on (see _signature): equal means nothing visible changed.
    rendered_from: tuple[Any, ...] | None = None

    @property
    def depends_on(self) -> tuple[str, ...]:
        return tuple(self.spec.depends_on) if self.spec else ()

    @property
    def primary_key(self) -> WorkloadKey | None:
        if self.spec is None or self.spec.workload_ref is None:
            return None
        ref = self.spec.workload_ref
        return (self.key[0], ref.kind.value, ref.name)

    @property
    def standby_key(self) -> WorkloadKey | None:
        if self.spec is None or self.spec.failover is None:
            return None
        ref = self.spec.failover.standby_ref
        return (self.key[0], ref.kind.value, ref.name)

    @property
    def workload_key(self) -> WorkloadKey | None:
        """The workload serving the traffic: its replicas count for health and scaling."""
        if self.active_target == "standby" and self.standby_key is not None:
            return self.standby_key
        return self.primary_key

    def workload_keys(self) -> tuple[WorkloadKey, ...]:
        return tuple(k for k in (self.primary_key, self.standby_key) if k is not None)

    def ref(self) -> ObjectRef:
        return ObjectRef(API_VERSION, KIND, self.key[0], self.key[1], self.uid)


def _failover_description(spec: ServiceSpec | None) -> tuple[str, str] | None:
    """(primary, standby) as "Kind name", for the FailedOver condition; None: no failover."""
    if spec is None or spec.failover is None:
        return None
    primary = spec.workload_ref
    standby = spec.failover.standby_ref
    return (
        f"{primary.kind.value} {primary.name}" if primary else "the primary",
        f"{standby.kind.value} {standby.name}",
    )


def _policy(spec: ServiceSpec | None) -> HealthPolicy:
    check = spec.health_check if spec else None
    if check is None:
        return HealthPolicy()
    return HealthPolicy(check.failure_threshold, check.success_threshold, check.warning_latency_ms)


def _priority(spec: ServiceSpec | None) -> str:
    """The priority the health metric carries; a spec that does not validate has the default."""
    return (spec.priority if spec is not None else Priority.NORMAL).value


def _restore(status: Mapping[str, Any]) -> HealthState:
    """The health state a previous run published, so a restart continues where it was."""
    try:
        health = Health(status.get("health", Health.UNKNOWN.value))
    except ValueError:
        health = Health.UNKNOWN
    last = status.get("lastCheckTime")
    return HealthState(
        health=health,
        checked=health is not Health.UNKNOWN,
        consecutive_failures=int(status.get("consecutiveFailures") or 0),
        consecutive_successes=int(status.get("consecutiveSuccesses") or 0),
        last_latency_ms=status.get("lastLatencyMs"),
        last_check_time=datetime.fromisoformat(last.replace("Z", "+00:00")) if last else None,
    )


class MonitoredService(Protocol):
    """What other components read of one service the monitor holds. They only read it: the
    monitor's methods change it (set_scaling, record_failover, ...)."""

    key: Key
    spec: ServiceSpec | None
    state: HealthState
    target: ProbeTarget | None
    active_target: str
    anomaly: AnomalyDetector | None
    inconclusive: bool

    @property
    def workload_key(self) -> WorkloadKey | None: ...
    def ref(self) -> ObjectRef: ...


# The monitor's services as the autoscaler, failover, the optimiser, the halt response, the
# engine keeper and discovery read them: a live, read-only mapping.
MonitoredServices = Mapping[Key, MonitoredService]


class ServiceMonitor:
    def __init__(
        self,
        *,
        scheduler: Scheduler,
        statuses: StatusSink,
        events: EventSink,
        checks: CheckSink | None = None,
        replicas: ReplicaLookup | None = None,
        heartbeat_seconds: float = 60.0,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        monotonic: Callable[[], float] = time.monotonic,
        prober: ProberWatch | None = None,
    ) -> None:
        self.scheduler = scheduler
        self.prober = prober
        self.statuses = statuses
        self.events = events
        self.checks = checks or NoChecks()
        self.replicas: ReplicaLookup = replicas or (lambda _key: None)
        self.heartbeat_seconds = heartbeat_seconds
        self._now = now
        self._monotonic = monotonic
        self.entries: dict[Key, ServiceEntry] = {}
        self.services: MonitoredServices = MappingProxyType(self.entries)
        # Reverse indexes: who depends on a service; who uses a workload.
        self._dependents: dict[Key, set[Key]] = defaultdict(set)
        self._by_workload: dict[WorkloadKey, set[Key]] = defaultdict(set)

        # Called with a service's key whenever its health changes (workflows wait on it).
        self.health_listeners: list[Callable[[Key], None]] = []
        # Called with a service's key when its health, spec or either workload changed, or
        # it was removed: what failover and scaling decide from.
        self.change_listeners: list[Callable[[Key], None]] = []
        # Called with every check result after the monitor has taken it in (the autoscaler).
        self.check_listeners: list[Callable[[Key, CheckResult], None]] = []

    # --- lookups for other components --------------------------------------------------

    def health_of(self, namespace: str, name: str) -> Health | None:
        entry = self.entries.get((namespace, name))
        return entry.state.health if entry is not None else None

    def spec_of(self, namespace: str, name: str) -> ServiceSpec | None:
        entry = self.entries.get((namespace, name))
        return entry.spec if entry is not None else None

    def record_failover(self, key: Key, to: str, message: str = "") -> None:
        """Traffic now goes to ``to`` (primary|standby): status and an Event say so."""
        entry = self.entries.get(key)
        if entry is None:
            return
        entry.failover_problem = None
        if entry.active_target == to:
            self._publish(entry)
            return
        entry.active_target = to
        if to == "standby":
            entry.failover_count += 1
            entry.last_failover_time = rfc3339(self._now())
            metrics.FAILOVERS.labels(key[0], key[1], "failover").inc()
        else:
            metrics.FAILOVERS.labels(key[0], key[1], "failback").inc()
        reason = "FailedOver" if to == "standby" else "FailedBack"
        type_ = "Warning" if to == "standby" else "Normal"
        text = message or f"traffic switched to the {to}"
        self.events.record(entry.ref(), type_, reason, text)
        self.checks.service_event(key[0], key[1], reason, text, {"to": to})
        self._follow_traffic(entry)

    def correct_target(self, key: Key, to: str) -> None:
        """The Service's selector says traffic goes to ``to`` (read back after a restart or a
        manual switch): adopt it without counting a failover."""
        entry = self.entries.get(key)
        if entry is None or entry.active_target == to:
            return
        entry.active_target = to
        self._follow_traffic(entry)

    def set_failover_problem(self, key: Key, problem: tuple[str, str] | None) -> None:
        entry = self.entries.get(key)
        if entry is None or entry.failover_problem == problem:
            return
        entry.failover_problem = problem
        if problem is not None:
            metrics.FAILOVER_ERRORS.labels(problem[0]).inc()
            self.events.record(entry.ref(), "Warning", "FailoverFailed", problem[1])
            self.checks.service_event(
                key[0], key[1], "FailoverFailed", problem[1], {"reason": problem[0]}
            )
        self._publish(entry)

    def set_scaling(self, key: Key, state: ConditionState | None, *, scaled: bool = False) -> None:
        entry = self.entries.get(key)
        if entry is None:
            return
        if scaled:
            entry.last_scale_time = rfc3339(self._now())
        if entry.scaling == state and not scaled:
            return
        entry.scaling = state
        self._publish(entry)

    def primary_ready(self, key: Key) -> bool:
        """Every desired replica of the primary workload is ready (and it wants some)."""
        entry = self.entries.get(key)
        workload = entry.primary_key if entry else None
        if workload is None:
            return False
        replicas = self.replicas(workload)
        return (
            replicas is not None and not replicas.missing and 0 < replicas.desired <= replicas.ready
        )

    def _active_replicas(self, entry: ServiceEntry) -> Replicas | None:
        """The replicas of the workload serving the traffic (None: no workloadRef)."""
        workload = entry.workload_key
        return self.replicas(workload) if workload is not None else None

    def _follow_traffic(self, entry: ServiceEntry) -> None:
        """Traffic moved: health counts the other workload's replicas from now on."""
        self._apply(entry, with_replicas(entry.state, self._active_replicas(entry), entry.policy))
        self._changed(entry.key)

    def _changed(self, key: Key) -> None:
        for listener in self.change_listeners:
            listener(key)

    # --- inputs ---------------------------------------------------------------------------

    def observe(self, event_type: str | None, body: Mapping[str, Any]) -> None:
        """A watch event of an OrchestratedService (None: from the initial listing)."""
        meta = body.get("metadata", {})
        key: Key = (meta.get("namespace", ""), meta.get("name", ""))
        entry = self.entries.get(key)
        uid = str(meta.get("uid", ""))
        if event_type == "DELETED":
            # By uid: a late deletion of an older object must not remove its successor.
            if entry is not None and (not uid or entry.uid == uid):
                self.remove(key)
            return
        generation = meta.get("generation")
        if entry is not None and entry.uid == uid and entry.generation == generation:
            return  # our own status write coming back, or a metadata-only change
        if entry is not None and entry.uid != uid:
            self.remove(key)
            entry = None
        spec, status = body.get("spec") or {}, body.get("status") or {}
        try:
            self._upsert(key, uid, generation, spec, status, entry)
        except Exception as error:
            # One service the monitor cannot take in is shown Stalled (InvalidSpec) with the
            # error, unchecked; the others are unaffected (docs/fmea.md, "Absurd but valid").
            metrics.OBJECT_ERRORS.labels(KIND, "monitor").inc()
            log.warning("service %s/%s cannot be monitored: %r", *key, error)
            problem = f"the operator cannot monitor this spec: {type(error).__name__}: {error}"
            self._upsert(key, uid, generation, spec, status, self.entries.get(key), problem)

    def remove(self, key: Key) -> None:
        entry = self.entries.pop(key, None)
        if entry is None:
            return
        self.scheduler.remove(key)
        if self.prober is not None:
            self.prober.forget(key)
        self.statuses.forget(PLURAL, *key)
        metrics.forget_service(*key)
        self._unindex(entry)
        # Whoever depended on it now depends on something missing.
        for dependent in self._dependents_closure(key):
            self._refresh_dependencies(dependent)
        self._changed(key)
        # Its health is now none at all: the engine's counts and halt, and the workflows
        # waiting on it, judge again without it.
        for listener in self.health_listeners:
            listener(key)

    def workload_changed(self, workload: WorkloadKey) -> None:
        for key in list(self._by_workload.get(workload, ())):
            entry = self.entries.get(key)
            if entry is None:
                continue
            if workload == entry.workload_key:
                self._apply(
                    entry, with_replicas(entry.state, self.replicas(workload), entry.policy)
                )
            self._changed(key)

    async def run_check(self, key: Key, target: ProbeTarget) -> CheckResult:
        """The scheduler's check function for workload-only services (http/tcp are probes)."""
        entry = self.entries.get(key)
        replicas = self._active_replicas(entry) if entry else None
        outcome = workload_check(replicas, self._now())
        if outcome.ok:
            return CheckResult.success(0.0)
        return CheckResult.failure(outcome.message)

    def on_result(self, key: Key, result: CheckResult) -> None:
        entry = self.entries.get(key)
        if entry is None:
            return
        check = entry.target.kind if entry.target else "workload"
        if self.prober is not None and self.prober.observe(key, check, result):
            self._inconclusive(entry, check)
            return
        if entry.inconclusive:
            entry.inconclusive = False
            self._changed(key)  # failover and scaling may decide from this service again
        metrics.CHECKS.labels(check, "pass" if result.ok else "fail").inc()
        if result.ok and result.latency_ms is not None and check != "workload":
            metrics.CHECK_LATENCY.labels(check).observe(result.latency_ms / 1000)
        outcome = CheckOutcome(result.ok, result.latency_ms, result.checked_at, result.message)
        entry.uptime.record(result.checked_at, result.ok)
        state = entry.state
        if entry.workload_key is not None:
            state = replace(state, replicas=self.replicas(entry.workload_key))
        new_state = record_check(state, outcome, entry.policy)
        self.checks.check(key[0], key[1], result, new_state.health)
        if entry.anomaly is not None and entry.anomaly.observe(
            self._monotonic(), result.ok, result.latency_ms
        ):
            self._announce_anomaly(entry)
        self._apply(entry, new_state)
        for listener in self.check_listeners:
            listener(key, result)

    def _inconclusive(self, entry: ServiceEntry, check: str) -> None:
        """A failure the prober itself may have caused: it moves no counter, no health, no
        uptime, and is not stored as the service's failure; the engine's ProbesDegraded
        condition says why."""
        metrics.CHECKS.labels(check, "inconclusive").inc()
        if not entry.inconclusive:
            entry.inconclusive = True
            self._changed(entry.key)  # the failover controller holds its decisions

    # --- internals ------------------------------------------------------------------------

    def _upsert(
        self,
        key: Key,
        uid: str,
        generation: int | None,
        raw_spec: Mapping[str, Any],
        status: Mapping[str, Any],
        entry: ServiceEntry | None,
        failure: str | None = None,
    ) -> None:
        """``failure``: why an earlier attempt raised; the service is then taken in without
        its spec, as a spec the model refuses is."""
        try:
            spec: ServiceSpec | None = ServiceSpec.model_validate(raw_spec)
            problems: tuple[str, ...] = ()
        except ValidationError as error:
            spec, problems = None, tuple(errors.describe(error))
        if failure is not None:
            spec, problems = None, (failure[:1024],)
        policy = _policy(spec)
        if entry is None:
            entry = ServiceEntry(
                key=key,
                uid=uid,
                generation=generation,
                spec=spec,
                spec_problems=problems,
                policy=policy,
                state=_restore(status),
                uptime=UptimeWindow(),
                conditions=list(status.get("conditions") or []),
                active_target=str(status.get("activeTarget") or "primary"),
                failover_count=int(status.get("failoverCount") or 0),
                last_failover_time=status.get("lastFailoverTime"),
                # What the previous run published counts as written: an unchanged service
                # costs no write after a restart.
                written=dict(status) if status else None,
                written_at=self._monotonic() if status else None,
            )
            self._seed_uptime(entry, status)
            entry.last_scale_time = status.get("lastScaleTime")
            self.entries[key] = entry
            metrics.set_service_health(*key, entry.state.health, _priority(spec))
        else:
            self._unindex(entry)
            entry.generation, entry.spec, entry.spec_problems, entry.policy = (
                generation,
                spec,
                problems,
                policy,
            )
            # A priority edit moves the series at once (the same labels: nothing happens).
            metrics.set_service_health(*key, entry.state.health, _priority(spec))
        self._index(entry)
        if spec is None:
            self.scheduler.remove(key)
            if self.prober is not None:
                self.prober.forget(key)
            entry.target = None
            entry.anomaly = None
        else:
            target = target_of(spec)
            entry.target = target
            self.scheduler.upsert(key, target, period_of(spec))
            anomaly_policy = AnomalyPolicy.for_period(period_of(spec))
            if entry.anomaly is None or entry.anomaly.policy != anomaly_policy:
                entry.anomaly = AnomalyDetector(anomaly_policy)
        entry.state = with_replicas(entry.state, self._active_replicas(entry), policy)
        # This service's arrival may complete (or break) others' dependencies.
        for affected in [key, *self._dependents_closure(key)]:
            self._refresh_dependencies(affected)
        self._snapshot(entry)
        self._changed(key)

    def _seed_uptime(self, entry: ServiceEntry, status: Mapping[str, Any]) -> None:
        uptime = status.get("uptimePercent")
        if uptime is None or entry.state.last_check_time is None or entry.spec is None:
            return
        # Until the store's history is loaded, the last published figure stands for the
        # previous 24 h, weighted as that many checks at the service's period.
        checks = max(1, min(86400 // max(1, int(period_of(entry.spec))), 100_000))
        entry.uptime.seed(entry.state.last_check_time, checks, round(checks * float(uptime) / 100))

    def _index(self, entry: ServiceEntry) -> None:
        for dep in entry.depends_on:
            self._dependents[(entry.key[0], dep)].add(entry.key)
        for workload in entry.workload_keys():
            self._by_workload[workload].add(entry.key)

    def _unindex(self, entry: ServiceEntry) -> None:
        for dep in entry.depends_on:
            dependents = self._dependents.get((entry.key[0], dep))
            if dependents is not None:
                dependents.discard(entry.key)
                if not dependents:
                    del self._dependents[(entry.key[0], dep)]
        for workload in entry.workload_keys():
            users = self._by_workload.get(workload)
            if users is not None:
                users.discard(entry.key)
                if not users:
                    del self._by_workload[workload]

    def _dependents_closure(self, key: Key) -> list[Key]:
        seen: set[Key] = set()
        order: list[Key] = []
        frontier = [key]
        while frontier:
            for dependent in self._dependents.get(frontier.pop(), ()):
                if dependent not in seen and dependent != key:
                    seen.add(dependent)
                    order.append(dependent)
                    frontier.append(dependent)
        return order

    def _graph_from(self, key: Key) -> dict[str, list[str]]:
        """The dependsOn graph of the services ``key`` reaches (for the cycle check)."""
        namespace = key[0]
        graph: dict[str, list[str]] = {}
        frontier = [key[1]]
        while frontier:
            name = frontier.pop()
            if name in graph:
                continue
            entry = self.entries.get((namespace, name))
            graph[name] = list(entry.depends_on) if entry else []
            frontier.extend(d for d in graph[name] if (namespace, d) in self.entries)
        return {n: deps for n, deps in graph.items() if (namespace, n) in self.entries}

    def _refresh_dependencies(self, key: Key) -> None:
        entry = self.entries.get(key)
        if entry is None:
            return
        namespace = key[0]
        names = entry.depends_on
        missing = tuple(n for n in names if (namespace, n) not in self.entries)
        cycle = dag.cycle_through(self._graph_from(key), key[1]) if names else None
        health = {
            n: self.entries[(namespace, n)].state.health
            for n in names
            if (namespace, n) in self.entries
        }
        entry.dependencies = DependencyView(names, missing, cycle, health)
        new_state = with_dependencies(entry.state, health.items(), entry.policy)
        self._apply(entry, new_state)

    def _apply(self, entry: ServiceEntry, new_state: HealthState) -> None:
        old = entry.state.health
        entry.state = new_state
        if new_state.health is not old:
            self._announce(entry, old, new_state.health)
        self._publish(entry)
        if new_state.health is not old:
            # Dependents see the new health at once, not at their next check.
            for dependent in list(self._dependents.get(entry.key, ())):
                self._refresh_dependencies(dependent)
            for listener in self.health_listeners:
                listener(entry.key)
            self._changed(entry.key)

    def _announce_anomaly(self, entry: ServiceEntry) -> None:
        assert entry.anomaly is not None
        verdict = entry.anomaly.verdict
        if verdict.active:
            metrics.ANOMALIES.labels(*entry.key).inc()
            reason, type_, text = "AnomalyDetected", "Warning", verdict.message
        else:
            reason, type_, text = (
                "AnomalyCleared",
                "Normal",
                "latency and errors are back to normal",
            )
        self.events.record(entry.ref(), type_, reason, text)
        self.checks.service_event(
            entry.key[0], entry.key[1], reason, text, {"signals": list(verdict.signals)}
        )

    def _announce(self, entry: ServiceEntry, old: Health, new: Health) -> None:
        status = render_status(self._view(entry), entry.conditions, self._now())
        message = next((c["message"] for c in status["conditions"] if c["type"] == "Healthy"), "")
        text = f"{old.value} -> {new.value}" + (f": {message}" if message else "")
        type_ = "Normal" if new in HEALTHY_EVENT_STATES else "Warning"
        self.events.record(entry.ref(), type_, "HealthChanged", text)
        metrics.set_service_health(*entry.key, new, _priority(entry.spec))
        self.checks.transition(entry.key[0], entry.key[1], old, new, message)
        self._snapshot(entry)

    def _view(self, entry: ServiceEntry) -> ServiceView:
        ref = entry.spec.workload_ref if entry.spec else None
        return ServiceView(
            generation=entry.generation,
            state=entry.state,
            policy=entry.policy,
            workload=f"{ref.kind.value} {ref.name}" if ref else "the workload",
            spec_problems=entry.spec_problems,
            dependencies=entry.dependencies,
            uptime_percent=entry.uptime.percent(self._now()),
            active_target=entry.active_target,
            failover_count=entry.failover_count,
            last_failover_time=entry.last_failover_time,
            failover=_failover_description(entry.spec),
            failover_problem=entry.failover_problem,
            scaling=entry.scaling,
            last_scale_time=entry.last_scale_time,
            anomaly=entry.anomaly.verdict if entry.anomaly is not None else None,
        )

    @staticmethod
    def _signature(entry: ServiceEntry) -> tuple[Any, ...]:
        """Everything the visible part of the status is computed from (heartbeat fields
        aside). A check that changes none of it needs no render: at fleet scale, rendering
        on every check was the main source of objects living long enough to cost full
        garbage collections."""
        state = entry.state
        failing = state.consecutive_failures > 0
        return (
            entry.generation,
            state.health,
            state.replicas,
            failing,
            state.last_message if failing else "",
            state.failing_dependencies,
            entry.spec_problems,
            entry.dependencies,
            entry.active_target,
            entry.failover_count,
            entry.last_failover_time,
            entry.policy,
            entry.failover_problem,
            entry.scaling,
            entry.last_scale_time,
            entry.anomaly.verdict if entry.anomaly is not None else None,
        )

    def _publish(self, entry: ServiceEntry) -> None:
        signature = self._signature(entry)
        if (
            signature == entry.rendered_from
            and entry.written_at is not None
            and self._monotonic() - entry.written_at < self.heartbeat_seconds
        ):
            return
        entry.rendered_from = signature
        status = render_status(self._view(entry), entry.conditions, self._now())
        entry.conditions = status["conditions"]
        now = self._monotonic()
        since = None if entry.written_at is None else now - entry.written_at
        if should_write(status, entry.written, since, self.heartbeat_seconds):
            entry.written, entry.written_at = status, now
            self.statuses.submit(PLURAL, entry.key[0], entry.key[1], status)

    def _snapshot(self, entry: ServiceEntry) -> None:
        self.checks.service(
            ServiceSnapshot(
                entry.key[0],
                entry.key[1],
                entry.uid,
                entry.spec,
                entry.state,
                entry.uptime.percent(self._now()),
            )
        )
