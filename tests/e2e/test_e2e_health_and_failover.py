"""Health from real readiness probes and HTTP checks through Service DNS names, and a failover
that moves real traffic: a client calling the Service gets the standby's answers."""

from __future__ import annotations

import time
from typing import Any

from e2e_support import (
    cluster_ip,
    create,
    create_custom,
    get_json,
    pod_post,
    running_ready_pods,
    service_status,
    wait_for,
    web_deployment,
    web_service,
)


def _service(namespace: str, *, failover: bool) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "serviceType": "web",
        "priority": "CRITICAL",
        "workloadRef": {"kind": "Deployment", "name": "shop"},
        # The Service's DNS name, resolved by the operator's pod through the cluster's DNS.
        "healthCheck": {
            "http": {"url": f"http://shop.{namespace}.svc.cluster.local:8080/healthz"},
            "periodSeconds": 1,
            "timeoutSeconds": 1,
            "failureThreshold": 2,
        },
    }
    if failover:
        spec["failover"] = {
            "standbyRef": {"kind": "Deployment", "name": "shop-standby"},
            "serviceRef": {"name": "shop"},
            "timeoutSeconds": 30,
        }
    return {"kind": "OrchestratedService", "metadata": {"name": "shop"}, "spec": spec}


def test_health_follows_real_readiness_and_http_checks(kube_api: Any, namespace: str) -> None:
    create(kube_api, namespace, web_deployment("shop", app="shop", role="primary", replicas=2))
    create(kube_api, namespace, web_service("shop", {"app": "shop"}))
    create_custom(kube_api, namespace, _service(namespace, failover=False))

    status = wait_for(
        lambda: (s := service_status(kube_api, namespace, "shop")).get("health") == "HEALTHY" and s,
        120,
        "the service HEALTHY from its pods' readiness and its HTTP check",
    )
    assert status.get("readyReplicas", 2) == 2

    # Break every pod: kubelet's readiness probe takes them out, the HTTP check through the
    # Service fails, and the operator says so.
    for pod in running_ready_pods(kube_api, namespace, "app=shop"):
        pod_post(pod, "/break")
    wait_for(
        lambda: service_status(kube_api, namespace, "shop").get("health") == "FAILED",
        60,
        "the service FAILED once no pod is ready",
    )
    for pod in running_ready_pods(kube_api, namespace, "app=shop") or []:
        pod_post(pod, "/heal")


def test_failover_moves_real_traffic_to_the_standby(kube_api: Any, namespace: str) -> None:
    create(kube_api, namespace, web_deployment("shop", app="shop", role="primary"))
    create(kube_api, namespace, web_deployment("shop-standby", app="shop", role="standby"))
    create(kube_api, namespace, web_service("shop", {"app": "shop", "role": "primary"}))
    create_custom(kube_api, namespace, _service(namespace, failover=True))
    wait_for(
        lambda: service_status(kube_api, namespace, "shop").get("health") == "HEALTHY",
        120,
        "the service HEALTHY",
    )
    url = f"http://{cluster_ip(kube_api, namespace, 'shop')}:8080/"
    # kube-proxy programs the ClusterIP a moment after the endpoints exist.
    wait_for(lambda: (get_json(url) or {}).get("role") == "primary", 60, "the primary serving")

    primary = wait_for(
        lambda: running_ready_pods(kube_api, namespace, "app=shop,role=primary"), 60, "primary"
    )
    broken = time.monotonic()
    pod_post(primary[0], "/break")
    # A client calling the Service's ClusterIP (kube-proxy's rules) until the standby answers.
    answer = wait_for(
        lambda: (a := get_json(url, timeout=0.5)) and a.get("role") == "standby" and a,
        90,
        "the standby's answer through the Service",
        interval=0.1,
    )
    elapsed = time.monotonic() - broken
    assert answer["name"] == "shop-standby"
    status = service_status(kube_api, namespace, "shop")
    assert status.get("activeTarget") == "standby"
    assert status.get("failoverCount") == 1
    print(f"failover: primary broken -> standby serving in {elapsed:.2f} s")
    # From then on every answer is the standby's.
    for _ in range(20):
        assert (get_json(url) or {}).get("role") == "standby"
