"""The operator's components: built in dependency order into one typed object, started and
stopped through one ``AsyncExitStack``, and handed to every kopf handler as its ``memo``.

``build`` constructs (no I/O); ``run`` starts each component in order on the stack, which
stops them in the reverse order when the operator ends. Three edges go against the order and
are bound late, each named where it is made: the store reports its degradation to the engine
keeper, the probe scheduler hands checks to the service monitor, and the keeper reads the
workflow controller's facts.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Any, cast

import httpx
import kopf
from sqlalchemy.ext.asyncio import AsyncEngine

from orchestration_engine.actions.base import ActionDeps
from orchestration_engine.actions.job import delete_workflow_jobs
from orchestration_engine.actions.registry import end_action, run_action
from orchestration_engine.api.common import API_VERSION
from orchestration_engine.api.quantity import parse_quantity
from orchestration_engine.api.service import PLURAL as SERVICE_PLURAL
from orchestration_engine.api.workflow import PLURAL as WORKFLOW_PLURAL
from orchestration_engine.app.handlers import service, workflow, workloads
from orchestration_engine.app.handlers.relist import Kind, Relister, Sightings, api_lister
from orchestration_engine.app.settings import OperatorSettings
from orchestration_engine.controllers.engine.halt_response import HaltResponse
from orchestration_engine.controllers.engine.keeper import EngineKeeper
from orchestration_engine.controllers.engine.notifier import WebhookNotifier
from orchestration_engine.controllers.engine.resource_optimizer import ResourceOptimizer
from orchestration_engine.controllers.engine.watch_canary import WatchCanary
from orchestration_engine.controllers.engine.workflow_tracker import WorkflowTracker
from orchestration_engine.controllers.services.autoscaler import Autoscaler, kube_scale
from orchestration_engine.controllers.services.checker import make_checker
from orchestration_engine.controllers.services.failover import ServiceFailover
from orchestration_engine.controllers.services.failover_controller import FailoverController
from orchestration_engine.controllers.services.prober_watch import ProberWatch, api_reference
from orchestration_engine.controllers.services.service_monitor import ServiceMonitor
from orchestration_engine.controllers.services.store_sink import StoreSink
from orchestration_engine.controllers.services.workloads import DiscoveredServices, WorkloadCache
from orchestration_engine.controllers.workflows.collector import WorkflowCollector
from orchestration_engine.controllers.workflows.controller import WorkflowController
from orchestration_engine.controllers.workflows.store_rows import WorkflowRows
from orchestration_engine.core.prober_health import ProberPolicy
from orchestration_engine.core.scheduler import Limits, Resources
from orchestration_engine.core.workflow_retention import Retention
from orchestration_engine.kube.client import ApiClient, make_api_client
from orchestration_engine.kube.delete import delete_exact
from orchestration_engine.kube.events import EventRecorder
from orchestration_engine.kube.objects import CustomObjects
from orchestration_engine.kube.status import StatusWriter
from orchestration_engine.kube.transport import TransportSettings
from orchestration_engine.plumbing import metrics
from orchestration_engine.probes.http import HttpProber
from orchestration_engine.probes.remote import RemoteProbeScheduler
from orchestration_engine.probes.routing import RoutingScheduler
from orchestration_engine.probes.scheduler import ProbeScheduler
from orchestration_engine.probes.target import ProbeTarget
from orchestration_engine.store.engine import create_engine
from orchestration_engine.store.queries import demand_history
from orchestration_engine.store.retention import RetentionTask
from orchestration_engine.store.writer import StoreWriter

# The kinds whose missed deletions app/handlers/relist.py finds.
RELISTED_PLURALS = (WORKFLOW_PLURAL, SERVICE_PLURAL, "deployments", "statefulsets")


@dataclass(frozen=True, slots=True)
class Components:
    """Everything the operator runs, in the order it is built (each reads only those above)."""

    settings: OperatorSettings
    api: ApiClient
    objects: CustomObjects
    statuses: StatusWriter
    events: EventRecorder
    sightings: Sightings  # what the watches reported, for the relist
    workloads: WorkloadCache
    discovered: DiscoveredServices
    prober: HttpProber
    scheduler: ProbeScheduler[tuple[str, str], ProbeTarget]
    remote: RemoteProbeScheduler | None
    prober_watch: ProberWatch
    store: StoreWriter
    monitor: ServiceMonitor
    workflows: WorkflowTracker
    engine: EngineKeeper  # the engine keeper
    http: httpx.AsyncClient  # the step actions' and the notifier's client
    failover: ServiceFailover
    notifier: WebhookNotifier
    failover_controller: FailoverController
    history_engine: AsyncEngine  # the demand history, read once per predictive service
    autoscaler: Autoscaler
    optimizer: ResourceOptimizer
    halt_response: HaltResponse
    controller: WorkflowController
    collector: WorkflowCollector
    canary: WatchCanary
    retention: RetentionTask


def build(
    settings: OperatorSettings,
    api: ApiClient,
    transport: TransportSettings,
    orchestration_id: str,
) -> Components:
    """Construct every component; nothing runs or talks to the API server yet."""
    objects = CustomObjects(api)
    statuses = StatusWriter(api)
    events = EventRecorder(api)
    workload_cache = WorkloadCache()
    prober = HttpProber(max_connections=settings.max_concurrent_checks)
    # Late: the monitor consumes the scheduler's checks and owns the scheduler's entries.
    monitor: ServiceMonitor
    scheduler: ProbeScheduler[tuple[str, str], ProbeTarget] = ProbeScheduler(
        run_check=make_checker(prober, lambda key, target: monitor.run_check(key, target)),
        on_result=lambda key, result: monitor.on_result(key, result),
        max_concurrency=settings.max_concurrent_checks,
    )
    remote: RemoteProbeScheduler | None = None
    routed: ProbeScheduler[tuple[str, str], ProbeTarget] | RoutingScheduler = scheduler
    if settings.probe_process:
        remote = RemoteProbeScheduler(
            lambda key, result: monitor.on_result(key, result),
            max_connections=settings.max_concurrent_checks,
        )
        routed = RoutingScheduler(network=remote, local=scheduler)
    prober_watch = ProberWatch(
        policy=ProberPolicy(clear_after_s=settings.probes_degraded_clear_seconds),
        reference=api_reference(api.configuration.host or ""),
    )
    # Late: the keeper reports the store's degradation, and writes its rows to the store.
    keeper: EngineKeeper
    store = StoreWriter(
        settings.database_url,
        spill_path=settings.store_spill_path,
        on_degraded_change=lambda degraded, message: keeper.store_changed(degraded, message),
    )
    monitor = ServiceMonitor(
        prober=prober_watch,
        scheduler=routed,
        statuses=statuses,
        events=events,
        checks=StoreSink(store, orchestration_id),
        replicas=workload_cache.lookup,
        heartbeat_seconds=settings.status_heartbeat_seconds,
    )
    workflows = WorkflowTracker()
    # Late: the keeper's status counts the controller's workflows; the controller's limits
    # are the keeper's spec.
    controller: WorkflowController
    keeper = EngineKeeper(
        statuses=statuses,
        monitor=monitor,
        interval_override=settings.monitoring_interval,
        workflows=workflows,
        rows=store,
        orchestration_id=orchestration_id,
        events=events,
        workflow_facts=lambda now: controller.facts(now),
        settle_seconds=settings.halt_settle_seconds,
        halt_enabled_override=settings.emergency_halt,
    )
    http = httpx.AsyncClient(timeout=30.0, follow_redirects=False)
    failover = ServiceFailover(api, monitor, lambda: float(keeper.spec.failover_timeout_seconds))
    notifier = WebhookNotifier(api, http, lambda: keeper.spec.notification)
    failover_controller = FailoverController(api, monitor, failover)
    history_engine = create_engine(settings.database_url, pool_size=1)
    autoscaler = Autoscaler(
        kube_scale(api),
        monitor,
        workload_cache,
        engine=lambda: keeper.spec,
        halted=lambda: keeper.halted,
        rows=store,
        http=http,
        load_history=lambda namespace, name, since: demand_history(
            history_engine, namespace, name, since
        ),
        prometheus_interval_s=settings.scaling_metrics_interval_seconds,
    )
    optimizer = ResourceOptimizer(
        monitor,
        workload_cache,
        autoscaler,
        engine=lambda: keeper.spec,
        rows=store,
        orchestration_id=orchestration_id,
        on_outcome=lambda o: keeper.optimized(o.summary, o.recommendations, o.score, o.annealed),
        quantum_override=settings.quantum,
        ai_override=settings.ai,
    )
    halt_response = HaltResponse(
        api, monitor, workload_cache, failover_controller.sweep, notifier.notify
    )
    deps = ActionDeps(
        api=api,
        http=http,
        health=monitor.health_of,
        service=monitor.spec_of,
        failover=failover,
        workload_generation=lambda namespace, kind, name: workload_cache.generation(
            (namespace, kind, name)
        ),
    )
    controller = WorkflowController(
        statuses=statuses,
        events=events,
        run_step=lambda context, step: run_action(deps, context, step),
        limits=lambda: workflow_limits(keeper, settings),
        health=monitor.health_of,
        cleanup=lambda namespace, uid: delete_workflow_jobs(api, namespace, uid),
        rows=WorkflowRows(store, orchestration_id),
        on_change=keeper.poke,
        read=lambda namespace, name: objects.get(WORKFLOW_PLURAL, namespace, name),
        end_step=lambda context, step: end_action(deps, context, step),
    )
    collector = WorkflowCollector(
        records=lambda: controller.records.values(),
        retention=lambda: workflow_retention(keeper),
        delete=lambda namespace, name, uid: delete_exact(
            api, WORKFLOW_PLURAL, namespace, name, uid
        ),
    )
    components = Components(
        settings=settings,
        api=api,
        objects=objects,
        statuses=statuses,
        events=events,
        sightings=Sightings(RELISTED_PLURALS),
        workloads=workload_cache,
        discovered=DiscoveredServices(),
        prober=prober,
        scheduler=scheduler,
        remote=remote,
        prober_watch=prober_watch,
        store=store,
        monitor=monitor,
        workflows=workflows,
        engine=keeper,
        http=http,
        failover=failover,
        notifier=notifier,
        failover_controller=failover_controller,
        history_engine=history_engine,
        autoscaler=autoscaler,
        optimizer=optimizer,
        halt_response=halt_response,
        controller=controller,
        collector=collector,
        canary=WatchCanary(
            lambda: make_api_client(transport),
            interval_s=settings.watch_heartbeat_seconds,
            stall_after_s=settings.watch_stall_seconds,
        ),
        retention=RetentionTask(
            settings.database_url,
            raw_retention=timedelta(days=settings.check_retention_days),
            rollup_retention=timedelta(days=settings.rollup_retention_days),
            history_retention=timedelta(days=settings.history_retention_days),
            max_size=settings.store_max_size,
        ),
    )
    connect(components)
    return components


def connect(c: Components) -> None:
    """Who hears whom: every listener of the operator, in one place."""
    c.prober_watch.listeners.append(c.engine.probes_changed)
    c.monitor.change_listeners.append(c.failover_controller.changed)
    c.monitor.check_listeners.append(c.autoscaler.check)
    c.monitor.change_listeners.append(c.autoscaler.changed)
    c.engine.listeners.append(c.autoscaler.engine_changed)
    c.engine.listeners.append(c.optimizer.engine_changed)
    c.engine.optimizing = lambda: c.optimizer.solving
    c.engine.automatic_failovers = c.failover_controller.switching
    c.engine.automatic_scaling = c.autoscaler.scaling
    c.engine.halt_listeners.append(c.halt_response)
    c.engine.round_listeners.append(c.halt_response.on_round)
    metrics.set_emergency_halt(None)
    c.engine.listeners.append(c.controller.engine_changed)
    c.engine.listeners.append(c.collector.wake)
    c.monitor.health_listeners.append(lambda _key: c.controller.services_changed())
    c.monitor.health_listeners.append(lambda _key: c.engine.poke())


def close_clients(c: Components, stack: contextlib.AsyncExitStack) -> None:
    """What is only closed, never started; closed after every started component stopped."""
    stack.push_async_callback(c.api.close)
    stack.push_async_callback(c.history_engine.dispose)
    stack.push_async_callback(c.http.aclose)
    stack.push_async_callback(c.prober.close)
    stack.push_async_callback(c.notifier.close)
    stack.push_async_callback(c.halt_response.close)


async def start(c: Components, stack: contextlib.AsyncExitStack) -> None:
    """Start every component in order; the stack stops them in the reverse order (the
    engine keeper's stop publishes COMPLETED through the status writer, stopped after it)."""
    await _started(stack, c.store.start, c.store.stop)
    await _started(stack, c.events.start, c.events.stop)
    await _started(stack, c.statuses.start, c.statuses.stop)
    await _started(stack, c.scheduler.start, c.scheduler.stop)
    if c.remote is not None:
        await _started(stack, c.remote.start, c.remote.stop)
    await _started(stack, c.engine.start, c.engine.stop)
    await _started(stack, c.prober_watch.start, c.prober_watch.stop)
    await _started(stack, c.controller.start, c.controller.stop)
    await _started(stack, c.collector.start, c.collector.stop)
    stack.push_async_callback(c.failover_controller.close)
    await _started(stack, c.autoscaler.start, c.autoscaler.close)
    await _started(stack, c.optimizer.start, c.optimizer.stop)
    await _started(stack, c.canary.start, c.canary.stop)
    relist = relister(c)
    await _started(stack, relist.start, relist.stop)
    await _started(stack, c.retention.start, c.retention.stop)


def relister(c: Components) -> Relister:
    """The relist of RELISTED_PLURALS: each deletion it finds goes to the kind's own handler,
    as its watch events do."""

    async def workflows(event: dict[str, Any]) -> None:
        await workflow.workflow_event(cast(kopf.RawEvent, event), c)

    async def services(event: dict[str, Any]) -> None:
        await service.service_event(cast(kopf.RawEvent, event), c)

    def workload_kind(plural: str) -> Kind:
        async def deliver(event: dict[str, Any]) -> None:
            resource = kopf.Resource("apps", "v1", plural)
            await workloads.workload_event(cast(kopf.RawEvent, event), c, resource)

        return Kind("apps/v1", plural, deliver)

    return Relister(
        c.sightings,
        [
            Kind(API_VERSION, WORKFLOW_PLURAL, workflows),
            Kind(API_VERSION, SERVICE_PLURAL, services),
            workload_kind("deployments"),
            workload_kind("statefulsets"),
        ],
        api_lister(c.api, c.settings.namespaces),
        interval_s=c.settings.relist_seconds,
    )


async def _started(
    stack: contextlib.AsyncExitStack,
    start: Callable[[], Awaitable[None]],
    stop: Callable[[], Awaitable[None]],
) -> None:
    await start()
    stack.push_async_callback(stop)


def workflow_limits(keeper: EngineKeeper, settings: OperatorSettings) -> Limits:
    spec = keeper.spec
    capacity = spec.capacity
    return Limits(
        max_concurrent=settings.max_workflows or spec.max_concurrent_workflows,
        capacity=Resources(
            parse_quantity(capacity.cpu) if capacity.cpu is not None else Decimal("Infinity"),
            parse_quantity(capacity.memory) if capacity.memory is not None else Decimal("Infinity"),
        ),
        halted=keeper.halted,
    )


def workflow_retention(keeper: EngineKeeper) -> Retention | None:
    """None while the engine's spec is unknown or unreadable: no workflow is deleted on
    defaults that the real spec may raise."""
    if not keeper.exists or keeper.spec_problems:
        return None
    spec = keeper.spec.workflow_retention
    return Retention(
        ttl_seconds=spec.ttl_seconds_after_finished,
        successful_limit=spec.successful_workflows_history_limit,
        failed_limit=spec.failed_workflows_history_limit,
    )
