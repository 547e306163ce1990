"""Reactive scaling against the real API server: a real HTTP endpoint on 127.0.0.1 whose
answers the test slows down and speeds up, a fake Prometheus answering instant queries, and
the test playing the kubelet (it marks every desired replica ready)."""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from fleet_support import Scaled
from integration_support import (
    GROUP,
    VERSION,
    OperatorProcess,
    engine,
    wait_for,
)

from http_support import Endpoint

pytestmark = pytest.mark.cluster


PLURAL = "orchestratedservices"
ENGINES = "orchestrationengines"


@pytest.fixture(scope="module")
def scaling_operator(
    control_plane: Any, crds: None, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[OperatorProcess]:
    process = OperatorProcess(
        control_plane.kubeconfig,
        tmp_path_factory.mktemp("scaling-operator"),
        "--scaling-metrics-interval-seconds",
        "1",
    )
    try:
        process.wait_ready()
        yield process
    finally:
        process.stop()


@pytest.fixture
def scaled(kube_api: Any, custom: Any, namespace: str, scaling_operator: OperatorProcess) -> Scaled:
    return Scaled(kube_api, custom, namespace)


def latency_scaling(url: str, **scaling: Any) -> dict[str, Any]:
    return {
        "healthCheck": {"http": {"url": url}, "periodSeconds": 1, "timeoutSeconds": 1},
        "scaling": {
            "minReplicas": 2,
            "maxReplicas": 5,
            "targetLatencyMs": 60,
            "scaleDownStabilizationSeconds": 3,
            **scaling,
        },
    }


def test_a_slow_endpoint_scales_up_to_max_and_a_fast_one_back_down_to_min(
    scaled: Scaled, endpoint: Endpoint, scaling_operator: OperatorProcess
) -> None:
    endpoint.delay = 0.1  # p95 about 100 ms against a 60 ms target
    scaled.create("web", 2, latency_scaling(endpoint.url))
    wait_for(lambda: scaled.replicas("web") == 5, timeout=40, interval=0.2, what="at max")
    # Events are posted after the patch they tell of.
    up = wait_for(lambda: scaled.events("web", "ScaledUp"), what="a ScaledUp Event")
    assert "above the 60 ms target" in up[0].message
    for _ in range(15):  # it stays at the bound while the endpoint stays slow
        scaled.replicas("web")
        time.sleep(0.2)
    assert max(scaled.seen["web"]) == 5
    wait_for(
        lambda: scaled.condition("web", "Scaling").get("reason") == "AtMaximum",
        what="Scaling AtMaximum",
    )
    endpoint.delay = 0.0
    fast = time.monotonic()
    # The p95 of the last 30 s has to come down first, then one step per window.
    wait_for(lambda: scaled.replicas("web") == 2, timeout=90, interval=0.2, what="at min")
    # One replica at a time, each after the 3 s scale-down window.
    assert time.monotonic() - fast >= 3
    for _ in range(15):
        scaled.replicas("web")
        time.sleep(0.2)
    assert min(scaled.seen["web"]) == 2
    down = wait_for(lambda: scaled.events("web", "ScaledDown"), what="a ScaledDown Event")
    assert "below half the 60 ms target" in down[0].message
    text = scaling_operator.metrics()
    assert 'eoe_scaling_actions_total{direction="up"' in text
    database = scaling_operator.workdir / "orchestration.db"
    wait_for(lambda: _event_rows(database, "ScaledDown"), timeout=15, what="a store row")


def _event_rows(database: Any, reason: str) -> int:
    with sqlite3.connect(database) as connection:
        try:
            row = connection.execute(
                "SELECT count(*) FROM events WHERE reason = ?", (reason,)
            ).fetchone()
        except sqlite3.OperationalError:
            return 0
    return int(row[0])


def test_replicas_below_the_minimum_are_raised_at_once(scaled: Scaled, endpoint: Endpoint) -> None:
    scaled.create("api", 1, latency_scaling(endpoint.url, minReplicas=3))
    wait_for(lambda: scaled.replicas("api") == 3, what="raised to minReplicas")


def test_autoscaling_disabled_on_the_engine_leaves_replicas_alone(
    scaled: Scaled, endpoint: Endpoint, custom: Any
) -> None:
    custom.patch_cluster_custom_object(
        GROUP, VERSION, ENGINES, "default", {"spec": {"autoScalingEnabled": False}}
    )
    try:
        wait_for(lambda: engine(custom)["spec"].get("autoScalingEnabled") is False, what="engine")
        endpoint.delay = 0.1
        scaled.create("batch", 2, latency_scaling(endpoint.url))
        wait_for(
            lambda: scaled.condition("batch", "Scaling").get("reason") == "Disabled",
            what="Scaling Disabled",
        )
        time.sleep(3)
        assert scaled.replicas("batch") == 2
    finally:
        custom.patch_cluster_custom_object(
            GROUP, VERSION, ENGINES, "default", {"spec": {"autoScalingEnabled": True}}
        )
    wait_for(lambda: scaled.replicas("batch") == 5, timeout=30, what="scaled once enabled")


class Prometheus:
    """Answers ``/api/v1/query`` with the value the test sets, as Prometheus's HTTP API does."""

    def __init__(self) -> None:
        self.value = "35"
        self.queries: list[str] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                from urllib.parse import parse_qs, urlsplit

                parts = urlsplit(self.path)
                fake.queries.append(parse_qs(parts.query).get("query", [""])[0])
                body = json.dumps(
                    {
                        "status": "success",
                        "data": {
                            "resultType": "vector",
                            "result": [{"metric": {}, "value": [time.time(), fake.value]}],
                        },
                    }
                ).encode()
                self.send_response(200 if parts.path == "/api/v1/query" else 404)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_a_prometheus_query_drives_the_replica_count(scaled: Scaled) -> None:
    prometheus = Prometheus()
    try:
        query = 'sum(rate(http_requests_total{app="orders"}[1m]))'
        scaled.create(
            "orders",
            1,
            {
                "scaling": {
                    "minReplicas": 1,
                    "maxReplicas": 10,
                    "scaleDownStabilizationSeconds": 1,
                    "prometheus": {"url": prometheus.url, "query": query, "target": 10},
                }
            },
        )
        # 35 requests/s at 10 per replica.
        wait_for(lambda: scaled.replicas("orders") == 4, what="4 replicas")
        assert query in prometheus.queries
        prometheus.value = "12"
        wait_for(lambda: scaled.replicas("orders") == 2, what="2 replicas")
    finally:
        prometheus.close()
