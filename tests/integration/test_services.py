"""OrchestratedService health against the real API server, with real HTTP and TCP servers on
127.0.0.1; the test plays the kubelet by writing Deployment status."""

from __future__ import annotations

import socket
import time
from typing import Any

import pytest
from fleet_support import Services, closed_port, http_check
from integration_support import GROUP, VERSION, OperatorProcess, wait_for

from builders import deployment, service
from envtest.workloads import set_ready
from http_support import Endpoint

PLURAL = "orchestratedservices"


@pytest.fixture
def services(custom: Any, namespace: str, module_operator: OperatorProcess) -> Services:
    return Services(custom, namespace)


def test_http_health_walks_through_the_states(services: Services, endpoint: Endpoint) -> None:
    services.create(service("web", healthCheck=http_check(endpoint.url, successThreshold=2)))
    obj = services.wait_health("web", "HEALTHY")
    status = obj["status"]
    assert status["consecutiveFailures"] == 0
    assert status["lastLatencyMs"] >= 0
    assert status["observedGeneration"] == obj["metadata"]["generation"]
    assert services.condition("web", "Ready")["status"] == "True"
    assert services.condition("web", "Healthy")["status"] == "True"

    endpoint.status = 500
    services.wait_health("web", "WARNING")
    services.wait_health("web", "FAILED")
    failed = services.condition("web", "Healthy")
    assert failed["status"] == "False"
    assert failed["reason"] == "Failed"
    assert "HTTP 500" in failed["message"]
    assert services.condition("web", "Ready")["status"] == "False"

    endpoint.status = 200
    services.wait_health("web", "HEALTHY")


def test_slow_answer_is_warning(services: Services, endpoint: Endpoint) -> None:
    endpoint.delay = 0.3
    services.create(service("slow", healthCheck=http_check(endpoint.url, warningLatencyMs=100)))
    services.wait_health("slow", "WARNING")
    assert "slower than 100 ms" in services.condition("slow", "Healthy")["message"]


def test_closed_tcp_port_is_failed(services: Services) -> None:
    check = {
        "tcp": {"host": "127.0.0.1", "port": closed_port()},
        "periodSeconds": 1,
        "failureThreshold": 2,
    }
    services.create(service("db", healthCheck=check))
    services.wait_health("db", "FAILED")
    assert "refused" in services.condition("db", "Healthy")["message"]


def test_open_tcp_port_is_healthy(services: Services) -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        services.create(
            service(
                "cache",
                healthCheck={"tcp": {"host": "127.0.0.1", "port": port}, "periodSeconds": 1},
            )
        )
        services.wait_health("cache", "HEALTHY")


def test_workload_readiness_decides_health(
    services: Services, kube_api: Any, namespace: str
) -> None:
    from kubernetes import client

    client.AppsV1Api(kube_api).create_namespaced_deployment(namespace, deployment("api", 3))
    set_ready(kube_api, namespace, "api", 3, 3)
    check = {"periodSeconds": 1}
    services.create(
        service("api", workloadRef={"kind": "Deployment", "name": "api"}, healthCheck=check)
    )
    obj = services.wait_health("api", "HEALTHY")
    assert obj["status"]["replicas"] == {"desired": 3, "ready": 3}

    set_ready(kube_api, namespace, "api", 3, 2)
    obj = services.wait_health("api", "DEGRADED")
    assert obj["status"]["replicas"] == {"desired": 3, "ready": 2}
    assert "2 of 3 replicas ready" in services.condition("api", "Healthy")["message"]

    set_ready(kube_api, namespace, "api", 3, 1)
    services.wait_health("api", "CRITICAL")

    set_ready(kube_api, namespace, "api", 3, 0)
    services.wait_health("api", "FAILED")

    set_ready(kube_api, namespace, "api", 3, 3)
    services.wait_health("api", "HEALTHY")


def test_missing_workload_is_failed(services: Services) -> None:
    services.create(
        service(
            "ghost",
            workloadRef={"kind": "Deployment", "name": "nope"},
            healthCheck={"periodSeconds": 1},
        )
    )
    services.wait_health("ghost", "FAILED")
    assert "Deployment nope does not exist" in services.condition("ghost", "Healthy")["message"]


def test_failed_dependency_degrades(services: Services, endpoint: Endpoint) -> None:
    check = {
        "tcp": {"host": "127.0.0.1", "port": closed_port()},
        "periodSeconds": 1,
        "failureThreshold": 1,
    }
    services.create(service("postgres", healthCheck=check))
    services.create(
        service("payments", healthCheck=http_check(endpoint.url), dependsOn=["postgres"])
    )
    services.wait_health("postgres", "FAILED")
    services.wait_health("payments", "DEGRADED")
    dependencies = services.condition("payments", "DependenciesHealthy")
    assert dependencies["status"] == "False"
    assert dependencies["reason"] == "DependencyFailing"
    assert "postgres is FAILED" in dependencies["message"]


def test_missing_dependency_and_cycle_are_stalled(services: Services, endpoint: Endpoint) -> None:
    services.create(service("orphan", healthCheck=http_check(endpoint.url), dependsOn=["nowhere"]))
    wait_for(
        lambda: services.condition("orphan", "Stalled").get("status") == "True",
        what="orphan stalled",
    )
    stalled = services.condition("orphan", "Stalled")
    assert stalled["reason"] == "DependencyMissing"
    assert "nowhere" in stalled["message"]
    assert services.condition("orphan", "Ready")["status"] == "False"

    services.create(service("a", healthCheck=http_check(endpoint.url), dependsOn=["b"]))
    services.create(service("b", healthCheck=http_check(endpoint.url), dependsOn=["a"]))
    wait_for(
        lambda: services.condition("a", "Stalled").get("reason") == "DependencyCycle",
        what="a in a cycle",
    )
    assert "a -> b -> a" in services.condition("a", "Stalled")["message"]
    assert "b -> a -> b" in services.condition("b", "Stalled")["message"]

    # Creating the missing dependency clears the stall.
    services.create(service("nowhere", healthCheck=http_check(endpoint.url)))
    wait_for(
        lambda: services.condition("orphan", "Stalled").get("status") == "False",
        what="orphan unstalled",
    )


def test_health_transitions_are_events(
    services: Services, endpoint: Endpoint, kube_api: Any, namespace: str
) -> None:
    from kubernetes import client

    services.create(service("evented", healthCheck=http_check(endpoint.url, failureThreshold=1)))
    services.wait_health("evented", "HEALTHY")
    endpoint.status = 503
    services.wait_health("evented", "FAILED")
    core = client.CoreV1Api(kube_api)

    def messages() -> list[str]:
        events = core.list_namespaced_event(
            namespace, field_selector="involvedObject.name=evented"
        ).items
        return [e.message for e in events if e.reason == "HealthChanged"]

    wait_for(
        lambda: any(m.startswith("HEALTHY -> FAILED") for m in messages()),
        what="HealthChanged event",
    )
    assert any(m.startswith("UNKNOWN -> HEALTHY") for m in messages())


def test_steady_service_costs_no_status_writes(services: Services, endpoint: Endpoint) -> None:
    services.create(service("steady", healthCheck=http_check(endpoint.url)))
    services.wait_health("steady", "HEALTHY")
    time.sleep(1.5)  # let the first writes settle
    before = services.get("steady")["metadata"]["resourceVersion"]
    hits = endpoint.hits
    time.sleep(4)
    assert endpoint.hits >= hits + 3  # it kept checking ...
    assert services.get("steady")["metadata"]["resourceVersion"] == before  # ... without writing


def test_spec_change_replans_checks(services: Services, endpoint: Endpoint) -> None:
    other = Endpoint()
    try:
        services.create(service("moving", healthCheck=http_check(endpoint.url)))
        services.wait_health("moving", "HEALTHY")
        other.status = 500
        services.custom.patch_namespaced_custom_object(
            GROUP,
            VERSION,
            services.namespace,
            PLURAL,
            "moving",
            {"spec": {"healthCheck": {"http": {"url": other.url}, "failureThreshold": 1}}},
        )
        obj = services.wait_health("moving", "FAILED")
        assert obj["status"]["observedGeneration"] == 2
        hits = endpoint.hits
        time.sleep(2.5)
        assert endpoint.hits == hits  # the old URL is no longer probed
    finally:
        other.close()


def test_deleted_service_is_no_longer_probed(services: Services, endpoint: Endpoint) -> None:
    services.create(service("gone", healthCheck=http_check(endpoint.url)))
    services.wait_health("gone", "HEALTHY")
    services.custom.delete_namespaced_custom_object(
        GROUP, VERSION, services.namespace, PLURAL, "gone"
    )
    time.sleep(1.5)
    hits = endpoint.hits
    time.sleep(2.5)
    assert endpoint.hits == hits
