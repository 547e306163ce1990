"""An unwritable metrics store: the engine says so (StoreDegraded) and services are still
reconciled. A module of its own: no other operator may write the engine's status meanwhile."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fleet_support import Services, http_check
from integration_support import OperatorProcess, condition, engine, wait_for

from builders import service
from http_support import Endpoint


@pytest.fixture
def endpoint() -> Iterator[Endpoint]:
    server = Endpoint()
    yield server
    server.close()


def test_unwritable_store_is_degraded_and_reconciling_goes_on(
    custom: Any, namespace: str, control_plane: Any, crds: None, tmp_path: Path, endpoint: Endpoint
) -> None:
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("a file where a directory should be")
    operator = OperatorProcess(
        control_plane.kubeconfig,
        tmp_path / "op",
        "--database-url",
        f"sqlite:///{blocker / 'store.db'}",
        "--monitoring-interval-seconds",
        "1",
    )
    try:
        operator.wait_ready()
        degraded = wait_for(
            lambda: (
                condition(engine(custom), "StoreDegraded").get("status") == "True"
                and engine(custom)
            ),
            what="StoreDegraded",
        )
        assert condition(degraded, "StoreDegraded")["reason"] == "StoreUnavailable"
        assert condition(degraded, "StoreDegraded")["message"]
        services = Services(custom, namespace)
        services.create(service("still-watched", healthCheck=http_check(endpoint.url)))
        services.wait_health("still-watched", "HEALTHY")
    finally:
        operator.stop()
