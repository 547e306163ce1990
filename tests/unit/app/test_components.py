"""app/components.py: the operator's components are built into one typed object that kopf can
copy per resource (its memo), with every listener connected; the clients are closed by the
exit stack (no cluster: nothing is started)."""

from __future__ import annotations

import contextlib
import copy
from pathlib import Path

from kubernetes_asyncio import client

from orchestration_engine.app import components
from orchestration_engine.app.settings import OperatorSettings
from orchestration_engine.kube.transport import TransportSettings


async def test_the_components_are_one_copyable_object_with_their_listeners(
    tmp_path: Path,
) -> None:
    settings = OperatorSettings(
        database_url=f"sqlite:///{tmp_path / 'store.db'}",
        store_spill_path=str(tmp_path / "spill"),
    )
    api = client.ApiClient(client.Configuration(host="https://127.0.0.1:6443"))
    async with contextlib.AsyncExitStack() as stack:
        parts = components.build(settings, api, TransportSettings(), "test")
        components.close_clients(parts, stack)
        memo = copy.copy(parts)  # what kopf does for each resource
        assert memo.monitor is parts.monitor
        assert memo.engine is parts.engine
        assert parts.failover_controller.changed in parts.monitor.change_listeners
        assert parts.autoscaler.check in parts.monitor.check_listeners
        assert parts.engine.probes_changed in parts.prober_watch.listeners
        assert parts.collector.wake in parts.engine.listeners
        assert parts.halt_response in parts.engine.halt_listeners
        assert parts.remote is not None  # the probes run in their own process by default
        kinds = components.relister(parts).kinds
        assert sorted(kinds) == sorted(components.RELISTED_PLURALS)
    assert parts.http.is_closed
