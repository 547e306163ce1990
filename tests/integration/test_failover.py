"""Automatic failover and failback against the real API server, with the primary's health
endpoint a real HTTP server on 127.0.0.1 that the test stops and starts; the test plays the
kubelet by writing Deployment status."""

from __future__ import annotations

import time
from typing import Any

import pytest
from fleet_support import Fleet
from integration_support import OperatorProcess, wait_for

from envtest.workloads import set_ready
from http_support import Primary

pytestmark = pytest.mark.cluster


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
