"""A restarted operator continues where the last one was: level-triggered, from status."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from fleet_support import Services, http_check
from integration_support import OperatorProcess, wait_for

from builders import service
from http_support import Endpoint


@pytest.fixture
def endpoint() -> Iterator[Endpoint]:
    server = Endpoint()
    yield server
    server.close()


def test_restart_keeps_health_and_repeats_no_event(
    custom: Any,
    namespace: str,
    control_plane: Any,
    crds: None,
    endpoint: Endpoint,
    kube_api: Any,
    tmp_path: Any,
) -> None:
    from kubernetes import client

    first = OperatorProcess(control_plane.kubeconfig, tmp_path / "first")
    services = Services(custom, namespace)
    try:
        first.wait_ready()
        services.create(service("durable", healthCheck=http_check(endpoint.url)))
        services.wait_health("durable", "HEALTHY")
    finally:
        first.stop()
    version = services.get("durable")["metadata"]["resourceVersion"]

    second = OperatorProcess(control_plane.kubeconfig, tmp_path / "second")
    try:
        second.wait_ready()
        hits = endpoint.hits
        wait_for(lambda: endpoint.hits >= hits + 2, what="checks resumed")
        time.sleep(1)
        obj = services.get("durable")
        assert obj["status"]["health"] == "HEALTHY"
        assert obj["metadata"]["resourceVersion"] == version  # nothing changed, nothing written
    finally:
        second.stop()
    events = (
        client.CoreV1Api(kube_api)
        .list_namespaced_event(namespace, field_selector="involvedObject.name=durable")
        .items
    )
    assert [e.message for e in events if e.reason == "HealthChanged"] == [
        "UNKNOWN -> HEALTHY: all checks pass"
    ]
