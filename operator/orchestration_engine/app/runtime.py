"""Runs the operator in-process: kopf with our handlers and settings.

The kopf settings here answer its known pitfalls: explicit watch timeouts (a stream can stall
silently), progress kept in annotations under our own prefix (status fields outside the CRD
schema are pruned), no finalizers unless a handler truly needs one, and bounded retries.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import threading
import uuid
from typing import Any, cast

import kopf
import prometheus_client

from orchestration_engine.api import GROUP
from orchestration_engine.api.engine import SINGLETON_NAME
from orchestration_engine.api.workflow import PLURAL as WORKFLOW_PLURAL
from orchestration_engine.app import components, login
from orchestration_engine.app.handlers import engine, service, workflow, workloads
from orchestration_engine.app.settings import OperatorSettings
from orchestration_engine.controllers.engine.keeper import EngineKeeper
from orchestration_engine.controllers.workflows.controller import WorkflowController
from orchestration_engine.kube.client import ApiClient, make_api_client
from orchestration_engine.kube.engine_object import EngineObject
from orchestration_engine.kube.errors import KubeError
from orchestration_engine.kube.lease import default_identity
from orchestration_engine.kube.objects import CustomObjects
from orchestration_engine.kube.transport import TransportSettings
from orchestration_engine.plumbing import metrics
from orchestration_engine.plumbing.nesting import allow_api_server_nesting
from orchestration_engine.plumbing.periodic import Periodic, every

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
    tune_garbage_collector()
    allow_api_server_nesting()
    if settings.metrics_port:
        # A daemon thread: scrapes never wait on the event loop, and it dies with the process.
        prometheus_client.start_http_server(settings.metrics_port)
    transport = transport_settings(settings)
    async with contextlib.AsyncExitStack() as stack:
        api = await make_api_client(transport)
        parts = components.build(settings, api, transport, orchestration_id or uuid.uuid4().hex)
        components.close_clients(parts, stack)
        # Complete pictures before the first handler runs (see controllers/services/workloads.py):
        # the engine's limits and every workflow, so no admission is decided on half a listing.
        await parts.workloads.prime(api, settings.namespaces)
        await parts.discovered.prime(api, settings.namespaces)
        engine_object = EngineObject(api)
        await ensure_engine(engine_object)
        await prime_engine(engine_object, parts.engine)
        await prime_workflows(api, settings.namespaces, parts.controller)
        parts.engine.initialized = True
        await components.start(parts, stack)
        await run_kopf(settings, parts, stack, stop_flag=stop_flag, ready_flag=ready_flag)


async def run_kopf(
    settings: OperatorSettings,
    parts: components.Components,
    stack: contextlib.AsyncExitStack,
    *,
    stop_flag: asyncio.Event | threading.Event | None,
    ready_flag: asyncio.Event | threading.Event | None,
) -> None:
    health = f"http://0.0.0.0:{settings.health_port}/healthz" if settings.health_port else None
    settle = asyncio.create_task(_freeze_startup_objects(), name="gc-freeze")
    await stack.enter_async_context(
        Periodic("task-gauge", every(TASK_SAMPLE_SECONDS, _sample_task_count))
    )
    stack.callback(settle.cancel)
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
        memo=parts,
    )


def transport_settings(settings: OperatorSettings) -> TransportSettings:
    """The operator's own API client: rate limits and per-request timeout (kube/transport.py)."""
    return TransportSettings(
        qps=settings.kube_api_qps,
        burst=settings.kube_api_burst,
        request_timeout_s=settings.kube_request_timeout_seconds,
    )


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


async def _sample_task_count() -> None:
    """``eoe_asyncio_tasks``: the soak test (tests/fmea/soak.py) reads it to tell a steady
    operator from one that leaks a task per check or per workflow."""
    metrics.ASYNCIO_TASKS.set(len(asyncio.all_tasks()))


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
        for item in await objects.list(WORKFLOW_PLURAL, scope, timeout=None):
            controller.observe(None, item)


async def ensure_engine(engine_object: EngineObject) -> None:
    """The singleton exists from the operator's first start, with every default."""
    try:
        await engine_object.create({})
    except KubeError as error:
        log.warning("could not create the OrchestrationEngine %s: %s", SINGLETON_NAME, error)
