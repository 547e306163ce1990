"""`orchestration-engine run` against the real API server: the first handlers write
``status.observedGeneration`` and a ``Ready`` condition for each kind."""

from __future__ import annotations

import urllib.request
from typing import Any

from integration_support import GROUP, VERSION, OperatorProcess, wait_for

import builders


def ready_condition(obj: dict[str, Any]) -> dict[str, Any] | None:
    for condition in (obj.get("status") or {}).get("conditions") or []:
        if condition["type"] == "Ready":
            return condition  # type: ignore[no-any-return]
    return None


def delay_workflow(name: str, steps: list[dict[str, Any]]) -> dict[str, Any]:
    return builders.workflow(name, steps)


def test_each_kind_gets_observed_generation_and_ready(
    operator: OperatorProcess, custom: Any, namespace: str
) -> None:
    from kubernetes.client import ApiException

    service = builders.service("payments", healthCheck={"tcp": {"host": "127.0.0.1", "port": 5432}})
    custom.create_namespaced_custom_object(
        GROUP, VERSION, namespace, "orchestratedservices", service
    )
    workflow = delay_workflow("wf", [{"name": "a", "action": "delay", "params": {"seconds": 1}}])
    custom.create_namespaced_custom_object(
        GROUP, VERSION, namespace, "orchestrationworkflows", workflow
    )
    try:
        custom.delete_cluster_custom_object(GROUP, VERSION, "orchestrationengines", "default")
    except ApiException as error:
        if error.status != 404:
            raise
    engine = builders.engine()
    custom.create_cluster_custom_object(GROUP, VERSION, "orchestrationengines", engine)

    readers = {
        "service": lambda: custom.get_namespaced_custom_object(
            GROUP, VERSION, namespace, "orchestratedservices", "payments"
        ),
        "workflow": lambda: custom.get_namespaced_custom_object(
            GROUP, VERSION, namespace, "orchestrationworkflows", "wf"
        ),
        "engine": lambda: custom.get_cluster_custom_object(
            GROUP, VERSION, "orchestrationengines", "default"
        ),
    }

    def judged(what: str, obj: dict[str, Any]) -> bool:
        condition = ready_condition(obj)
        if condition is None:
            return False
        # A workflow is Ready once it has succeeded (its one-second delay step).
        return what != "workflow" or condition["status"] == "True"

    for what, read in readers.items():
        obj = wait_for(
            lambda read=read, what=what: judged(what, read()) and read(), what=f"{what} Ready"
        )
        condition = ready_condition(obj)
        assert condition is not None
        if what != "service":  # the service's readiness is its health: tested elsewhere
            assert condition["status"] == "True", (what, condition, operator.log())
        assert obj["status"]["observedGeneration"] == obj["metadata"]["generation"]
        assert condition["observedGeneration"] == obj["metadata"]["generation"]

    # A spec change is observed: the generation moves and the status follows.
    custom.patch_namespaced_custom_object(
        GROUP,
        VERSION,
        namespace,
        "orchestratedservices",
        "payments",
        {"spec": {"priority": "HIGH"}},
    )
    wait_for(
        lambda: readers["service"]()["status"]["observedGeneration"] == 2,
        what="observedGeneration 2",
    )


def test_a_cycle_is_stalled_with_a_message_naming_it(
    operator: OperatorProcess, custom: Any, namespace: str
) -> None:
    workflow = delay_workflow(
        "cyclic",
        [
            {"name": "a", "action": "delay", "params": {"seconds": 1}, "dependsOn": ["b"]},
            {"name": "b", "action": "delay", "params": {"seconds": 1}, "dependsOn": ["a"]},
        ],
    )
    custom.create_namespaced_custom_object(
        GROUP, VERSION, namespace, "orchestrationworkflows", workflow
    )

    def read() -> dict[str, Any]:
        return custom.get_namespaced_custom_object(  # type: ignore[no-any-return]
            GROUP, VERSION, namespace, "orchestrationworkflows", "cyclic"
        )

    obj = wait_for(lambda: ready_condition(read()) and read(), what="cyclic workflow judged")
    conditions = {c["type"]: c for c in obj["status"]["conditions"]}
    assert conditions["Ready"]["status"] == "False"
    assert conditions["Stalled"]["status"] == "True"
    assert conditions["Stalled"]["reason"] == "InvalidSpec"
    assert "dependsOn forms a cycle" in conditions["Stalled"]["message"]
    assert (
        "a -> b -> a" in conditions["Stalled"]["message"]
        or "b -> a -> b" in conditions["Stalled"]["message"]
    )


def test_liveness_and_metrics_endpoints_answer(operator: OperatorProcess) -> None:
    with urllib.request.urlopen(
        f"http://127.0.0.1:{operator.health_port}/healthz", timeout=5
    ) as response:
        assert response.status == 200
    with urllib.request.urlopen(
        f"http://127.0.0.1:{operator.metrics_port}/metrics", timeout=5
    ) as response:
        assert response.status == 200
        assert b"process_resident_memory_bytes" in response.read()
