"""Discovery against the real API server: labelled workloads get an OrchestratedService."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import kopf
import pytest
from integration_support import GROUP, VERSION, OperatorProcess, wait_for

import builders

PLURAL = "orchestratedservices"


def deployment(
    name: str, labels: dict[str, str], annotations: dict[str, str] | None = None
) -> dict[str, Any]:
    return builders.deployment(name, 1, meta={"labels": labels, "annotations": annotations or {}})


@pytest.fixture
def apps(kube_api: Any) -> Any:
    from kubernetes import client

    return client.AppsV1Api(kube_api)


def find(custom: Any, namespace: str, name: str) -> dict[str, Any] | None:
    from kubernetes.client import ApiException

    try:
        return custom.get_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name)  # type: ignore[no-any-return]
    except ApiException as error:
        if error.status == 404:
            return None
        raise


def create_users_service(custom: Any, namespace: str, name: str) -> None:
    """A service a user wrote for the workload ``name``: no discovered-from label."""
    mine = builders.service(name, priority="LOW", workloadRef={"kind": "Deployment", "name": name})
    custom.create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, mine)


def test_labelled_deployment_is_discovered_and_released(
    module_operator: OperatorProcess, custom: Any, apps: Any, namespace: str
) -> None:
    labels = {"orchestration.eoe.dev/managed": "true", "app.kubernetes.io/component": "web"}
    annotations = {"orchestration.eoe.dev/priority": "HIGH"}
    created = apps.create_namespaced_deployment(namespace, deployment("shop", labels, annotations))
    service = wait_for(lambda: find(custom, namespace, "shop"), what="discovered service")
    assert service["spec"]["serviceType"] == "web"
    assert service["spec"]["priority"] == "HIGH"
    assert service["spec"]["workloadRef"] == {"kind": "Deployment", "name": "shop"}
    owner = service["metadata"]["ownerReferences"][0]
    assert (owner["kind"], owner["name"], owner["uid"]) == (
        "Deployment",
        "shop",
        created.metadata.uid,
    )

    apps.patch_namespaced_deployment(
        "shop",
        namespace,
        {"metadata": {"annotations": {"orchestration.eoe.dev/priority": "CRITICAL"}}},
    )
    try:
        wait_for(
            lambda: find(custom, namespace, "shop")["spec"]["priority"] == "CRITICAL",
            what="priority follows",
        )
    except TimeoutError as error:
        log = module_operator.text().splitlines()
        shop = [line for line in log if f"{namespace}/shop" in line]
        raise AssertionError(f"{error}\noperator log on shop:\n" + "\n".join(shop)) from None

    apps.patch_namespaced_deployment(
        "shop", namespace, {"metadata": {"labels": {"orchestration.eoe.dev/managed": None}}}
    )
    wait_for(lambda: find(custom, namespace, "shop") is None, what="discovered service removed")


def test_user_created_service_is_never_deleted_by_discovery(
    module_operator: OperatorProcess, custom: Any, apps: Any, namespace: str
) -> None:
    import time

    create_users_service(custom, namespace, "billing")
    apps.create_namespaced_deployment(
        namespace, deployment("billing", {"orchestration.eoe.dev/managed": "true"})
    )
    time.sleep(2)
    service = find(custom, namespace, "billing")
    assert service is not None
    assert service["spec"]["priority"] == "LOW"  # untouched
    assert "orchestration.eoe.dev/discovered-from" not in (service["metadata"].get("labels") or {})
    apps.patch_namespaced_deployment(
        "billing", namespace, {"metadata": {"labels": {"orchestration.eoe.dev/managed": None}}}
    )
    time.sleep(2)
    assert find(custom, namespace, "billing") is not None


def test_deleted_workload_takes_its_discovered_service(
    module_operator: OperatorProcess, custom: Any, apps: Any, namespace: str
) -> None:
    apps.create_namespaced_deployment(
        namespace, deployment("temp", {"orchestration.eoe.dev/managed": "true"})
    )
    wait_for(lambda: find(custom, namespace, "temp"), what="discovered service")
    apps.delete_namespaced_deployment("temp", namespace)
    wait_for(
        lambda: find(custom, namespace, "temp") is None, what="service removed with its workload"
    )


def lagging_memo(async_api: Any) -> kopf.Memo:
    """What the operator holds just after it created a service, before that service's own
    watch event reached its cache: an empty cache of discovered services."""
    from orchestration_engine.controllers.services.workloads import DiscoveredServices
    from orchestration_engine.kube.objects import CustomObjects

    return kopf.Memo(
        discovered=DiscoveredServices(),
        monitor=SimpleNamespace(services={}),
        objects=CustomObjects(async_api),
        events=SimpleNamespace(record=lambda *_event: None),  # Events are not under test
    )


def labelled(name: str, namespace: str, priority: str) -> dict[str, Any]:
    body = deployment(
        name,
        {"orchestration.eoe.dev/managed": "true"},
        {"orchestration.eoe.dev/priority": priority},
    )
    body["metadata"].update(namespace=namespace, uid="0b6c1f9e-0000-4000-8000-000000000001")
    return body


async def test_a_change_seen_before_the_cache_has_the_service_is_still_applied(
    async_api: Any, custom: Any, namespace: str
) -> None:
    """The race CI met: the workload's change is handled before the event of the service
    discovery had just created, so the plan says Create and the server says it exists."""
    from orchestration_engine.app.handlers.workloads import discover

    memo = lagging_memo(async_api)
    await discover(memo, "Deployment", labelled("shop", namespace, "HIGH"), False)
    assert find(custom, namespace, "shop")["spec"]["priority"] == "HIGH"

    await discover(memo, "Deployment", labelled("shop", namespace, "CRITICAL"), False)
    assert find(custom, namespace, "shop")["spec"]["priority"] == "CRITICAL"


async def test_a_users_service_of_the_same_name_is_left_alone_by_a_lagging_cache(
    async_api: Any, custom: Any, namespace: str
) -> None:
    from orchestration_engine.app.handlers.workloads import discover

    create_users_service(custom, namespace, "billing")
    await discover(
        lagging_memo(async_api), "Deployment", labelled("billing", namespace, "HIGH"), False
    )
    assert find(custom, namespace, "billing")["spec"]["priority"] == "LOW"
