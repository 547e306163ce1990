"""Automatic failover and failback against the real API server, with the primary's health
endpoint a real HTTP server on 127.0.0.1 that the test stops and starts; the test plays the
kubelet by writing Deployment status."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from integration_support import GROUP, VERSION, OperatorProcess, condition, events_of, wait_for
from test_services import deployment, set_ready

pytestmark = pytest.mark.cluster

PLURAL = "orchestratedservices"
PERIOD_S = 1
THRESHOLD = 3


class Primary:
    """The primary's health endpoint: stop() and start() keep its port."""

    def __init__(self) -> None:
        self.server: ThreadingHTTPServer | None = None
        self.port = 0
        self.start()

    def start(self) -> None:
        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/healthz"


@pytest.fixture
def primary() -> Iterator[Primary]:
    server = Primary()
    yield server
    server.stop()


class Fleet:
    def __init__(self, kube_api: Any, custom: Any, namespace: str) -> None:
        from kubernetes import client

        self.apps = client.AppsV1Api(kube_api)
        self.core = client.CoreV1Api(kube_api)
        self.kube_api = kube_api
        self.custom = custom
        self.namespace = namespace

    def workload(self, name: str, replicas: int, ready: int) -> None:
        self.apps.create_namespaced_deployment(self.namespace, deployment(name, replicas))
        set_ready(self.kube_api, self.namespace, name, replicas, ready)

    def k8s_service(self, name: str, app: str) -> None:
        self.core.create_namespaced_service(
            self.namespace,
            {
                "metadata": {"name": name},
                "spec": {"selector": {"app": app}, "ports": [{"port": 80}]},
            },
        )

    def selector(self, name: str) -> dict[str, str]:
        return dict(self.core.read_namespaced_service(name, self.namespace).spec.selector or {})

    def replicas(self, name: str) -> int:
        return int(self.apps.read_namespaced_deployment(name, self.namespace).spec.replicas)

    def osvc(self, name: str, url: str, failover: dict[str, Any]) -> None:
        body = {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": "OrchestratedService",
            "metadata": {"name": name},
            "spec": {
                "workloadRef": {"kind": "Deployment", "name": name},
                "healthCheck": {
                    "http": {"url": url},
                    "periodSeconds": PERIOD_S,
                    "timeoutSeconds": 1,
                    "failureThreshold": THRESHOLD,
                },
                "failover": {
                    "standbyRef": {"kind": "Deployment", "name": f"{name}-standby"},
                    "serviceRef": {"name": name},
                    **failover,
                },
            },
        }
        self.custom.create_namespaced_custom_object(GROUP, VERSION, self.namespace, PLURAL, body)

    def status(self, name: str) -> dict[str, Any]:
        obj = self.custom.get_namespaced_custom_object(GROUP, VERSION, self.namespace, PLURAL, name)
        return dict(obj.get("status") or {})

    def condition(self, name: str, type_: str) -> dict[str, Any]:
        return condition({"status": self.status(name)}, type_)

    def wait_health(self, name: str, health: str, timeout: float = 20) -> None:
        wait_for(
            lambda: self.status(name).get("health") == health,
            timeout=timeout,
            what=f"{name} {health}",
        )

    def events(self, name: str, reason: str) -> list[Any]:
        return events_of(self.core, self.namespace, name, reason)

    def pair(self, name: str, url: str, **failover: Any) -> None:
        """A primary with two ready replicas, an idle standby, a Service on the primary."""
        self.workload(name, 2, 2)
        self.workload(f"{name}-standby", 0, 0)
        self.k8s_service(name, name)
        self.osvc(name, url, failover)
        self.wait_health(name, "HEALTHY")


@pytest.fixture
def fleet(kube_api: Any, custom: Any, namespace: str, module_operator: OperatorProcess) -> Fleet:
    return Fleet(kube_api, custom, namespace)


def test_a_stopped_primary_fails_over_to_the_standby(fleet: Fleet, primary: Primary) -> None:
    fleet.pair("pay", primary.url)
    assert fleet.condition("pay", "FailedOver")["status"] == "False"
    primary.stop()
    # How fast is measured by the failover benchmark (tests/bench), not here: a shared CI
    # machine in the middle of the suite gives a timing bound no meaning.
    wait_for(
        lambda: fleet.selector("pay") == {"app": "pay-standby"},
        timeout=30,
        interval=0.05,
        what="the Service's selector on the standby",
    )
    # The idle standby got the primary's replica count.
    assert fleet.replicas("pay-standby") == 2
    wait_for(lambda: fleet.status("pay").get("activeTarget") == "standby", what="activeTarget")
    status = fleet.status("pay")
    assert status["failoverCount"] == 1
    assert status["lastFailoverTime"]
    failed_over = fleet.condition("pay", "FailedOver")
    assert failed_over["status"] == "True"
    assert "Deployment pay-standby" in failed_over["message"]
    wait_for(lambda: fleet.events("pay", "FailedOver"), what="a FailedOver Event")


def test_no_failback_without_automatic_failback(fleet: Fleet, primary: Primary) -> None:
    fleet.pair("shop", primary.url, failbackDelaySeconds=1)
    primary.stop()
    wait_for(lambda: fleet.selector("shop") == {"app": "shop-standby"}, what="failover")
    set_ready(fleet.kube_api, fleet.namespace, "shop-standby", 2, 2)
    primary.start()
    fleet.wait_health("shop", "HEALTHY")
    time.sleep(4)  # well past the failback delay
    assert fleet.selector("shop") == {"app": "shop-standby"}
    assert fleet.status("shop")["activeTarget"] == "standby"


def test_automatic_failback_once_the_primary_is_healthy_for_the_delay(
    fleet: Fleet, primary: Primary
) -> None:
    fleet.pair("cart", primary.url, automaticFailback=True, failbackDelaySeconds=2)
    primary.stop()
    wait_for(lambda: fleet.selector("cart") == {"app": "cart-standby"}, what="failover")
    set_ready(fleet.kube_api, fleet.namespace, "cart-standby", 2, 2)
    primary.start()
    healthy_again = time.monotonic()
    wait_for(lambda: fleet.selector("cart") == {"app": "cart"}, timeout=15, what="failback")
    # Not before the primary had been healthy for the delay.
    assert time.monotonic() - healthy_again >= 2
    wait_for(lambda: fleet.status("cart").get("activeTarget") == "primary", what="primary")
    assert fleet.status("cart")["failoverCount"] == 1
    assert fleet.condition("cart", "FailedOver")["reason"] == "Primary"
    wait_for(lambda: fleet.events("cart", "FailedBack"), what="a FailedBack Event")


def test_a_missing_standby_is_a_clear_condition_and_its_arrival_completes_the_failover(
    fleet: Fleet, primary: Primary
) -> None:
    fleet.workload("inv", 1, 1)
    fleet.k8s_service("inv", "inv")
    fleet.osvc("inv", primary.url, {})
    fleet.wait_health("inv", "HEALTHY")
    primary.stop()
    problem = wait_for(
        lambda: (c := fleet.condition("inv", "FailoverFailed")).get("status") == "True" and c,
        what="FailoverFailed",
    )
    assert problem["reason"] == "StandbyNotFound"
    assert "Deployment inv-standby not found" in problem["message"]
    assert fleet.status("inv")["activeTarget"] == "primary"
    assert fleet.selector("inv") == {"app": "inv"}
    fleet.workload("inv-standby", 0, 0)
    wait_for(lambda: fleet.selector("inv") == {"app": "inv-standby"}, what="failover")
    wait_for(
        lambda: fleet.condition("inv", "FailoverFailed").get("reason") == "Resolved",
        what="FailoverFailed resolved",
    )
