"""Runs the operator in-process: kopf with our handlers and settings.

The kopf settings here answer its known pitfalls: explicit watch timeouts (a stream can stall
silently), progress kept in annotations under our own prefix (status fields outside the CRD
schema are pruned), no finalizers unless a handler truly needs one, and bounded retries.
"""

from __future__ import annotations

import asyncio
import logging
import threading

import kopf
import prometheus_client

from orchestration_engine.api import GROUP
from orchestration_engine.handlers import engine, login, service, workflow, workloads
from orchestration_engine.kube.client import make_api_client
from orchestration_engine.kube.events import EventRecorder
from orchestration_engine.kube.objects import CustomObjects
from orchestration_engine.kube.status import StatusWriter
from orchestration_engine.monitoring.checker import make_checker
from orchestration_engine.monitoring.service_monitor import ServiceMonitor
from orchestration_engine.monitoring.targets import ProbeTarget
from orchestration_engine.monitoring.workloads import DiscoveredServices, WorkloadCache
from orchestration_engine.probes.http import HttpProber
from orchestration_engine.probes.scheduler import ProbeScheduler
from orchestration_engine.settings import OperatorSettings

log = logging.getLogger(__name__)

WATCH_SERVER_TIMEOUT_SECONDS = 300
WATCH_CLIENT_TIMEOUT_SECONDS = WATCH_SERVER_TIMEOUT_SECONDS + 30


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
    # Our own Events say what happened; kopf's per-handler chatter would drown them.
    settings.posting.level = logging.WARNING
    settings.batching.error_delays = (1, 2, 5, 10, 30, 60)
    return settings


async def operate(
    settings: OperatorSettings,
    *,
    stop_flag: asyncio.Event | threading.Event | None = None,
    ready_flag: asyncio.Event | threading.Event | None = None,
) -> None:
    health = f"http://0.0.0.0:{settings.health_port}/healthz" if settings.health_port else None
    if settings.metrics_port:
        # A daemon thread: scrapes never wait on the event loop, and it dies with the process.
        prometheus_client.start_http_server(settings.metrics_port)
    api = await make_api_client()
    statuses = StatusWriter(api)
    events = EventRecorder(api)
    prober = HttpProber(max_connections=settings.max_concurrent_checks)
    monitor: ServiceMonitor
    scheduler: ProbeScheduler[tuple[str, str], ProbeTarget] = ProbeScheduler(
        run_check=make_checker(prober, lambda key, target: monitor.run_check(key, target)),
        on_result=lambda key, result: monitor.on_result(key, result),
        max_concurrency=settings.max_concurrent_checks,
    )
    workload_cache = WorkloadCache()
    discovered = DiscoveredServices()
    monitor = ServiceMonitor(
        scheduler=scheduler,
        statuses=statuses,
        events=events,
        replicas=workload_cache.lookup,
        heartbeat_seconds=settings.status_heartbeat_seconds,
    )
    # Complete pictures before the first handler runs (see monitoring/workloads.py).
    await workload_cache.prime(api, settings.namespaces)
    await discovered.prime(api, settings.namespaces)
    memo = kopf.Memo(
        monitor=monitor,
        events=events,
        objects=CustomObjects(api),
        workloads=workload_cache,
        discovered=discovered,
    )
    await statuses.start()
    await events.start()
    await scheduler.start()
    try:
        await kopf.operator(
            registry=build_registry(),
            settings=kopf_settings(),
            standalone=True,
            clusterwide=settings.clusterwide,
            namespaces=settings.namespaces,
            liveness_endpoint=health,
            stop_flag=stop_flag,
            ready_flag=ready_flag,
            memo=memo,
        )
    finally:
        await scheduler.stop()
        await statuses.stop()
        await events.stop()
        await prober.close()
        await api.close()
