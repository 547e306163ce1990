"""Runs the operator in-process: kopf with our handlers and settings.

The kopf settings here answer its known pitfalls: explicit watch timeouts (a stream can stall
silently), progress kept in annotations under our own prefix (status fields outside the CRD
schema are pruned), no finalizers unless a handler truly needs one, and bounded retries.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import threading
import uuid
from datetime import timedelta
from decimal import Decimal
from typing import Any, cast

import httpx
import kopf
import prometheus_client

from orchestration_engine.actions.base import ActionDeps
from orchestration_engine.actions.job import delete_workflow_jobs
from orchestration_engine.actions.registry import end_action, run_action
from orchestration_engine.api import GROUP
from orchestration_engine.api.common import API_VERSION
from orchestration_engine.api.engine import SINGLETON_NAME
from orchestration_engine.api.service import PLURAL as SERVICE_PLURAL
from orchestration_engine.api.workflow import PLURAL as WORKFLOW_PLURAL
from orchestration_engine.app import login
from orchestration_engine.app.handlers import engine, service, workflow, workloads
from orchestration_engine.app.handlers.relist import Kind, Relister, api_lister
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
from orchestration_engine.core.quantity import parse_quantity
from orchestration_engine.core.scheduler import Limits, Resources
from orchestration_engine.core.workflow_retention import Retention
from orchestration_engine.kube.client import ApiClient, make_api_client
from orchestration_engine.kube.delete import delete_exact
from orchestration_engine.kube.engine_object import EngineObject
from orchestration_engine.kube.errors import KubeError
from orchestration_engine.kube.events import EventRecorder
from orchestration_engine.kube.lease import default_identity
from orchestration_engine.kube.objects import CustomObjects
from orchestration_engine.kube.status import StatusWriter
from orchestration_engine.kube.transport import TransportSettings
from orchestration_engine.plumbing import metrics
from orchestration_engine.plumbing.nesting import allow_api_server_nesting
from orchestration_engine.plumbing.supervision import supervise
from orchestration_engine.probes.http import HttpProber
from orchestration_engine.probes.remote import RemoteProbeScheduler
from orchestration_engine.probes.routing import RoutingScheduler
from orchestration_engine.probes.scheduler import ProbeScheduler
from orchestration_engine.probes.target import ProbeTarget
from orchestration_engine.store.engine import create_engine
from orchestration_engine.store.queries import demand_history
from orchestration_engine.store.retention import RetentionTask
from orchestration_engine.store.writer import StoreWriter

log = logging.getLogger(__name__)

STARTUP_SETTLE_SECONDS = 20.0
TASK_SAMPLE_SECONDS = 10.0
GC_GEN0_THRESHOLD = 700
# The server ends each watch after this long and kopf resumes it from where it was (no
# re-list). The client gives up on a watch 10 s later: a connection that went silent (a load
# balancer or NAT that dropped it without a reset) is noticed within 40 s, as client-go's
# HTTP/2 pings notice one within 45 s. kopf's own inactivity timeout (70 s) was the only
# bound before, and a service created then was first written HEALTHY after 71 s.
WATCH_SERVER_TIMEOUT_SECONDS = 30
WATCH_CLIENT_TIMEOUT_SECONDS = WATCH_SERVER_TIMEOUT_SECONDS + 10


def build_registry() -> kopf.OperatorRegistry:
    registry = kopf.OperatorRegistry()
    for module in (login, workloads, service, workflow, engine):
        module.register(registry)
    return registry


def kopf_settings() -> kopf.OperatorSettings:
    settings = kopf.OperatorSettings()
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=GROUP)
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix=GROUP, key="last-handled-configuration"
    )
    settings.persistence.finalizer = f"{GROUP}/finalizer"
    settings.watching.server_timeout = WATCH_SERVER_TIMEOUT_SECONDS
    settings.watching.client_timeout = WATCH_CLIENT_TIMEOUT_SECONDS
    settings.watching.connect_timeout = 10
    settings.networking.request_timeout = 30
    settings.networking.connect_timeout = 10
    # Our own Events say what happened; kopf's per-handler chatter would drown them.
    settings.posting.level = logging.WARNING
    settings.batching.error_delays = (1, 2, 5, 10, 30, 60)
    return settings


async def operate(
    settings: OperatorSettings,
    *,
    stop_flag: asyncio.Event | threading.Event | None = None,
    ready_flag: asyncio.Event | threading.Event | None = None,
    orchestration_id: str | None = None,
) -> None:
    health = f"http://0.0.0.0:{settings.health_port}/healthz" if settings.health_port else None
    tune_garbage_collector()
    allow_api_server_nesting()
    if settings.metrics_port:
        # A daemon thread: scrapes never wait on the event loop, and it dies with the process.
        prometheus_client.start_http_server(settings.metrics_port)
    transport = transport_settings(settings)
    api = await make_api_client(transport)
    orchestration_id = orchestration_id or uuid.uuid4().hex
    keeper: EngineKeeper
    controller: WorkflowController
    store = StoreWriter(
        settings.database_url,
        spill_path=settings.store_spill_path,
        on_degraded_change=lambda degraded, message: keeper.store_changed(degraded, message),
    )
    statuses = StatusWriter(api)
    events = EventRecorder(api)
    prober = HttpProber(max_connections=settings.max_concurrent_checks)
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
    workload_cache = WorkloadCache()
    discovered = DiscoveredServices()
    prober_watch = ProberWatch(
        policy=ProberPolicy(clear_after_s=settings.probes_degraded_clear_seconds),
        reference=api_reference(api.configuration.host or ""),
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
    keeper = EngineKeeper(
        statuses=statuses,
        monitor=monitor,
        workflows=workflows,
        rows=store,
        orchestration_id=orchestration_id,
        interval_override=settings.monitoring_interval,
        events=events,
        workflow_facts=lambda now: controller.facts(now),
        settle_seconds=settings.halt_settle_seconds,
        halt_enabled_override=settings.emergency_halt,
    )
    actions_http = httpx.AsyncClient(timeout=30.0, follow_redirects=False)
    failover = ServiceFailover(api, monitor, lambda: float(keeper.spec.failover_timeout_seconds))
    deps = ActionDeps(
        api=api,
        http=actions_http,
        health=monitor.health_of,
        service=monitor.spec_of,
        failover=failover,
        workload_generation=lambda namespace, kind, name: workload_cache.generation(
            (namespace, kind, name)
        ),
    )
    notifier = WebhookNotifier(api, actions_http, lambda: keeper.spec.notification)
    failover_controller = FailoverController(api, monitor, failover)
    prober_watch.listeners.append(keeper.probes_changed)
    monitor.change_listeners.append(failover_controller.changed)
    # The demand history is read once per predictive service; the writer has its own engine.
    history_engine = create_engine(settings.database_url, pool_size=1)
    autoscaler = Autoscaler(
        kube_scale(api),
        monitor,
        workload_cache,
        engine=lambda: keeper.spec,
        halted=lambda: keeper.halted,
        rows=store,
        http=actions_http,
        load_history=lambda namespace, name, since: demand_history(
            history_engine, namespace, name, since
        ),
        prometheus_interval_s=settings.scaling_metrics_interval_seconds,
    )
    monitor.check_listeners.append(autoscaler.check)
    monitor.change_listeners.append(autoscaler.changed)
    keeper.listeners.append(autoscaler.engine_changed)
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
    keeper.listeners.append(optimizer.engine_changed)
    keeper.optimizing = lambda: optimizer.solving
    keeper.automatic_failovers = failover_controller.switching
    keeper.automatic_scaling = autoscaler.scaling
    halt_response = HaltResponse(
        api, monitor, workload_cache, failover_controller.sweep, notifier.notify
    )
    keeper.halt_listeners.append(halt_response)
    keeper.round_listeners.append(halt_response.on_round)
    metrics.set_emergency_halt(None)
    controller = WorkflowController(
        statuses=statuses,
        events=events,
        run_step=lambda context, step: run_action(deps, context, step),
        limits=lambda: workflow_limits(keeper, settings),
        health=monitor.health_of,
        cleanup=lambda namespace, uid: delete_workflow_jobs(api, namespace, uid),
        rows=WorkflowRows(store, orchestration_id),
        on_change=keeper.poke,
        read=lambda namespace, name: CustomObjects(api).get(WORKFLOW_PLURAL, namespace, name),
        end_step=lambda context, step: end_action(deps, context, step),
    )
    keeper.listeners.append(controller.engine_changed)
    collector = WorkflowCollector(
        records=lambda: controller.records.values(),
        retention=lambda: workflow_retention(keeper),
        delete=lambda namespace, name, uid: delete_exact(
            api, WORKFLOW_PLURAL, namespace, name, uid
        ),
    )
    keeper.listeners.append(collector.wake)
    monitor.health_listeners.append(lambda _key: controller.services_changed())
    monitor.health_listeners.append(lambda _key: keeper.poke())
    # Complete pictures before the first handler runs (see controllers/services/workloads.py): the
    # engine's limits and every workflow, so no admission is decided on half a listing.
    await workload_cache.prime(api, settings.namespaces)
    await discovered.prime(api, settings.namespaces)
    await ensure_engine(EngineObject(api))
    await prime_engine(EngineObject(api), keeper)
    await prime_workflows(api, settings.namespaces, controller)
    keeper.initialized = True
    canary = WatchCanary(
        lambda: make_api_client(transport),
        interval_s=settings.watch_heartbeat_seconds,
        stall_after_s=settings.watch_stall_seconds,
    )
    memo = kopf.Memo(
        canary=canary,
        monitor=monitor,
        events=events,
        objects=CustomObjects(api),
        workloads=workload_cache,
        discovered=discovered,
        workflows=workflows,
        engine=keeper,
        controller=controller,
        collector=collector,
    )
    relist = Relister(
        relisted_kinds(memo),
        api_lister(api, settings.namespaces),
        interval_s=settings.relist_seconds,
    )
    memo.relist = relist
    await store.start()
    await statuses.start()
    await events.start()
    await scheduler.start()
    if remote is not None:
        await remote.start()
    await keeper.start()
    await prober_watch.start()
    await controller.start()
    await collector.start()
    await autoscaler.start()
    await optimizer.start()
    await canary.start()
    await relist.start()
    retention = RetentionTask(
        settings.database_url,
        raw_retention=timedelta(days=settings.check_retention_days),
        rollup_retention=timedelta(days=settings.rollup_retention_days),
        history_retention=timedelta(days=settings.history_retention_days),
        max_size=settings.store_max_size,
    )
    await retention.start()
    settle = asyncio.create_task(_freeze_startup_objects(), name="gc-freeze")
    task_gauge = supervise("task-gauge", _sample_task_count)
    try:
        await kopf.operator(
            registry=build_registry(),
            settings=kopf_settings(),
            standalone=True,
            # kopf would otherwise name itself after the process's user name, which a pod run
            # as a fixed or arbitrary uid (ours, OpenShift's) does not have: getpwuid raises
            # and the operator never starts. The Lease's identity is the pod's and the pid.
            identity=cast(Any, default_identity()),  # kopf's NewType over str
            clusterwide=settings.clusterwide,
            namespaces=settings.namespaces,
            liveness_endpoint=health,
            stop_flag=stop_flag,
            ready_flag=ready_flag,
            memo=memo,
        )
    finally:
        settle.cancel()
        task_gauge.cancel()
        await canary.stop()
        await relist.stop()
        await retention.stop()
        await collector.stop()
        await controller.stop()
        await optimizer.stop()
        await autoscaler.close()
        await failover_controller.close()
        await prober_watch.stop()
        await scheduler.stop()
        if remote is not None:
            await remote.stop()
        await keeper.stop()  # publishes COMPLETED
        await statuses.stop()
        await events.stop()
        await store.stop()
        await halt_response.close()
        await notifier.close()
        await prober.close()
        await actions_http.aclose()
        await history_engine.dispose()
        await api.close()


def transport_settings(settings: OperatorSettings) -> TransportSettings:
    """The operator's own API client: rate limits and per-request timeout (kube/transport.py)."""
    return TransportSettings(
        qps=settings.kube_api_qps,
        burst=settings.kube_api_burst,
        request_timeout_s=settings.kube_request_timeout_seconds,
    )


def relisted_kinds(memo: kopf.Memo) -> list[Kind]:
    """The kinds whose missed deletions app/handlers/relist.py finds, each delivered to the same
    handler as its watch events."""

    async def workflows(event: dict[str, Any]) -> None:
        await workflow.workflow_event(cast(kopf.RawEvent, event), memo)

    async def services(event: dict[str, Any]) -> None:
        await service.service_event(cast(kopf.RawEvent, event), memo)

    def workload_kind(plural: str) -> Kind:
        async def deliver(event: dict[str, Any]) -> None:
            resource = kopf.Resource("apps", "v1", plural)
            await workloads.workload_event(cast(kopf.RawEvent, event), memo, resource)

        return Kind("apps/v1", plural, deliver)

    return [
        Kind(API_VERSION, WORKFLOW_PLURAL, workflows),
        Kind(API_VERSION, SERVICE_PLURAL, services),
        workload_kind("deployments"),
        workload_kind("statefulsets"),
    ]


def tune_garbage_collector() -> None:
    """Fewer, cheaper collections (measured at 2,000 services: full collections of 250 ms
    every few seconds, the probes' whole tail latency).

    Each check allocates thousands of objects that die within milliseconds; with the default
    first-generation threshold (700) many are collected while still alive, promoted, and end
    up forcing full collections of the whole heap. A larger threshold lets them die young.
    """
    gc.set_threshold(GC_GEN0_THRESHOLD, 20, 20)


async def _freeze_startup_objects(delay: float = STARTUP_SETTLE_SECONDS) -> None:
    """Move what start-up built (caches, the initial listing) out of the collector's sight:
    it lives as long as the process, and a full collection need not walk it again."""
    await asyncio.sleep(delay)
    gc.collect()
    gc.freeze()


async def _sample_task_count(interval: float = TASK_SAMPLE_SECONDS) -> None:
    """``eoe_asyncio_tasks``: the soak test (tests/fmea/soak.py) reads it to tell a steady
    operator from one that leaks a task per check or per workflow."""
    while True:
        metrics.ASYNCIO_TASKS.set(len(asyncio.all_tasks()))
        await asyncio.sleep(interval)


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


async def prime_engine(engine_object: EngineObject, keeper: EngineKeeper) -> None:
    try:
        body = await engine_object.get()
    except KubeError as error:
        log.warning("could not read the OrchestrationEngine %s: %s", SINGLETON_NAME, error)
        return
    if body is not None:
        keeper.observe(None, body)


async def prime_workflows(
    api: ApiClient, namespaces: list[str], controller: WorkflowController
) -> None:
    objects = CustomObjects(api)
    for scope in namespaces or [""]:
        for item in await objects.list(WORKFLOW_PLURAL, scope):
            controller.observe(None, item)


async def ensure_engine(engine_object: EngineObject) -> None:
    """The singleton exists from the operator's first start, with every default."""
    try:
        await engine_object.create({})
    except KubeError as error:
        log.warning("could not create the OrchestrationEngine %s: %s", SINGLETON_NAME, error)
