"""Failover across an operator restart: where traffic goes is read back from the Service's
selector, whatever ``status`` says, and nothing is counted twice. Its own module: an operator
of another module's fixture would act on the same objects."""

from __future__ import annotations

import time
from typing import Any

import pytest
from fleet_support import PLURAL, Fleet
from integration_support import GROUP, VERSION, OperatorProcess, wait_for

from http_support import Primary

pytestmark = pytest.mark.cluster


def test_a_restart_reads_where_traffic_goes_from_the_service(
    control_plane: Any,
    crds: None,
    kube_api: Any,
    custom: Any,
    namespace: str,
    primary: Primary,
    tmp_path: Any,
) -> None:
    operator = OperatorProcess(
        control_plane.kubeconfig, tmp_path / "first", "--namespace", namespace
    )
    fleet = Fleet(kube_api, custom, namespace)
    try:
        operator.wait_ready()
        fleet.pair("db", primary.url)
        primary.stop()
        wait_for(lambda: fleet.status("db").get("activeTarget") == "standby", what="failover")
    finally:
        operator.stop()
    # While the operator is down, its status is made to lie; the Service's selector is true.
    custom.patch_namespaced_custom_object_status(
        GROUP, VERSION, namespace, PLURAL, "db", {"status": {"activeTarget": "primary"}}
    )
    operator = OperatorProcess(
        control_plane.kubeconfig, tmp_path / "second", "--namespace", namespace
    )
    try:
        operator.wait_ready()
        wait_for(lambda: fleet.status("db").get("activeTarget") == "standby", what="read back")
        time.sleep(2)
        status = fleet.status("db")
        assert status["failoverCount"] == 1  # not counted again
        assert fleet.selector("db") == {"app": "db-standby"}
        events = fleet.events("db", "FailedOver")
        assert len(events) == 1, [(e.message, e.first_timestamp, e.count) for e in events]
    finally:
        operator.stop()
