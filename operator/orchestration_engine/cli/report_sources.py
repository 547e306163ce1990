"""Gathers what the report needs: objects from the cluster, history from the store.

Either source may be unreachable; the report then says which and carries on with the other.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from orchestration_engine.api.engine import PLURAL as ENGINES
from orchestration_engine.api.engine import SINGLETON_NAME
from orchestration_engine.api.service import PLURAL as SERVICES
from orchestration_engine.api.workflow import PLURAL as WORKFLOWS
from orchestration_engine.core.report import ClusterView, StoreView, assemble
from orchestration_engine.kube.client import make_api_client
from orchestration_engine.kube.objects import CustomObjects
from orchestration_engine.store import queries
from orchestration_engine.store.engine import create_engine
from orchestration_engine.store.url import is_sqlite, redact, sqlite_path

CLUSTER_TIMEOUT_SECONDS = 10.0
WINDOW = timedelta(hours=24)


async def from_cluster() -> ClusterView:
    api = await make_api_client()
    try:
        objects = CustomObjects(api)
        timeout = CLUSTER_TIMEOUT_SECONDS
        services = await objects.list(SERVICES, timeout=timeout)
        workflows = await objects.list(WORKFLOWS, timeout=timeout)
        engines = await objects.list(ENGINES, timeout=timeout)
        engine = next((e for e in engines if e["metadata"]["name"] == SINGLETON_NAME), None)
        return ClusterView(services, workflows, engine)
    finally:
        await api.close()


async def from_store(url: str, now: datetime) -> StoreView:
    if is_sqlite(url):
        path = sqlite_path(url)
        # Reading must not create an empty database where none was.
        if path is not None and not await asyncio.to_thread(Path(path).exists):
            raise FileNotFoundError(f"no store at {path}")
    engine = create_engine(url)
    try:
        stats = await queries.service_check_stats(engine, since=now - WINDOW)
        return StoreView(
            check_stats={(s.namespace, s.service): s for s in stats},
            events=await queries.recent_events(engine, limit=20),
            service_rows=await queries.latest_service_rows(engine),
            latest_metrics=await queries.latest_orchestration_metrics(engine),
            workflow_counts=await queries.workflow_status_counts(engine),
        )
    finally:
        await engine.dispose()


def _why(error: BaseException) -> str:
    text = str(error) or type(error).__name__
    return text.splitlines()[0][:300]


async def build_report(database_url: str) -> dict[str, Any]:
    now = datetime.now(UTC)
    cluster_result, store_result = await asyncio.gather(
        from_cluster(), from_store(database_url, now), return_exceptions=True
    )
    cluster = cluster_result if isinstance(cluster_result, ClusterView) else None
    store = store_result if isinstance(store_result, StoreView) else None
    if cluster is None and store is None:
        raise ReportUnavailable(
            f"neither the cluster ({_why(cluster_result)}) nor the store at "  # type: ignore[arg-type]
            f"{redact(database_url)} ({_why(store_result)}) could be read"  # type: ignore[arg-type]
        )
    return assemble(
        cluster,
        store,
        now,
        cluster_error=None if cluster else _why(cluster_result),  # type: ignore[arg-type]
        store_error=None if store else _why(store_result),  # type: ignore[arg-type]
    )


class ReportUnavailable(RuntimeError):
    pass
