"""The emergency halt against the real API server: each automatic trigger raises it with its
reason and figures, it clears after the settle period, a flickering cause does not make it
flap, a CRITICAL workflow runs through it while a NORMAL one is Halted and resumes, and the
notification webhook hears of it."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from typing import Any

import pytest
from integration_support import GROUP, VERSION, OperatorProcess, engine, engine_if_any, wait_for
from workflow_support import create, create_service, delay, wait_phase, workflow

import builders
from builders import deployment
from http_support import AlertWebhook

pytestmark = pytest.mark.cluster

ENGINES = "orchestrationengines"
SETTLE_SECONDS = 4


@pytest.fixture
def halt_operator(
    control_plane: Any, crds: None, namespace: str, tmp_path: Any
) -> Iterator[OperatorProcess]:
    """An operator of the test's namespace alone: other tests leave FAILED services behind
    in namespaces that never finish terminating, and the halt counts what it watches."""
    process = OperatorProcess(
        control_plane.kubeconfig,
        tmp_path / "halt-operator",
        "--namespace",
        namespace,
        "--monitoring-interval-seconds",
        "1",
        "--halt-settle-seconds",
        str(SETTLE_SECONDS),
        emergency_halt=None,  # the engine's spec decides
    )
    try:
        process.wait_ready()
        yield process
    finally:
        process.stop()


def halt_condition(custom: Any) -> dict[str, Any]:
    conditions = (engine(custom).get("status") or {}).get("conditions") or []
    return next((c for c in conditions if c["type"] == "EmergencyHalt"), {})


def patch_engine(custom: Any, spec: dict[str, Any]) -> None:
    custom.patch_cluster_custom_object(GROUP, VERSION, ENGINES, "default", {"spec": spec})


@pytest.fixture
def engine_spec(custom: Any, halt_operator: OperatorProcess) -> Iterator[None]:
    """Every test changes the engine's spec; each leaves it as it found it."""
    wait_for(lambda: engine_if_any(custom), what="the engine")
    before = engine(custom)["spec"]
    # A busy CI machine can keep its CPU above 95 % for three rounds and raise a
    # ResourceExhaustion halt of its own; no host sample exceeds 100 %.
    patch_engine(custom, {"thresholds": {"resourcePercent": 100}})
    yield
    restore = {key: before.get(key) for key in {*before, *engine(custom)["spec"]}}
    patch_engine(custom, restore)
    wait_for(lambda: halt_condition(custom).get("status") != "True", timeout=30, what="no halt")


def wait_halt(custom: Any, reason: str, timeout: float = 30) -> dict[str, Any]:
    return wait_for(  # type: ignore[no-any-return]
        lambda: (
            (c := halt_condition(custom)).get("status") == "True"
            and c.get("reason") == reason
            and c
        ),
        timeout=timeout,
        what=f"EmergencyHalt {reason} (now {halt_condition(custom)})",
    )


def cleared_count(kube_api: Any) -> int:
    """How many times the halt was announced cleared (Events may be aggregated: count them)."""
    from kubernetes import client

    events = client.CoreV1Api(kube_api).list_event_for_all_namespaces(
        field_selector="involvedObject.kind=OrchestrationEngine,reason=EmergencyHaltCleared"
    )
    return sum(e.count or 1 for e in events.items)


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_failed_services_raise_the_halt_and_their_recovery_clears_it(
    custom: Any, namespace: str, engine_spec: None
) -> None:
    port = closed_port()
    for name in ("down-1", "down-2"):
        create_service(
            custom,
            namespace,
            name,
            {
                "healthCheck": {
                    "tcp": {"host": "127.0.0.1", "port": port},
                    "periodSeconds": 1,
                    "failureThreshold": 1,
                }
            },
        )
    raised = wait_halt(custom, "ServiceFailures")
    assert "services FAILED" in raised["message"]
    assert engine(custom)["status"]["phase"] == "EMERGENCY_HALT"
    for name in ("down-1", "down-2"):
        custom.delete_namespaced_custom_object(
            GROUP, VERSION, namespace, "orchestratedservices", name
        )
    gone = time.monotonic()
    wait_for(lambda: halt_condition(custom).get("status") == "False", timeout=30, what="cleared")
    # Not before the settle period (minus one engine round of slack).
    assert time.monotonic() - gone >= SETTLE_SECONDS - 1
    assert engine(custom)["status"]["phase"] != "EMERGENCY_HALT"


def test_failed_workflows_raise_the_halt(custom: Any, namespace: str, engine_spec: None) -> None:
    url = f"http://127.0.0.1:{closed_port()}/"
    for i in range(5):
        create(
            custom,
            namespace,
            workflow(f"fails-{i}", [{"name": "call", "action": "http", "params": {"url": url}}]),
        )
    raised = wait_halt(custom, "WorkflowFailures")
    assert "5 of 5 workflows" in raised["message"]
    for i in range(5):
        custom.delete_namespaced_custom_object(
            GROUP, VERSION, namespace, "orchestrationworkflows", f"fails-{i}"
        )


def test_a_critical_workflow_runs_through_a_timeout_halt_and_a_normal_one_resumes(
    custom: Any, namespace: str, engine_spec: None
) -> None:
    patch_engine(custom, {"maxOrchestrationDurationSeconds": 2})
    create(custom, namespace, workflow("urgent", [delay("a", 6)], priority="CRITICAL"))
    wait_phase(custom, namespace, "urgent", "Running")
    # Long enough that the halt (a round or two after urgent's second second) surely comes
    # before it ends, however slow the machine.
    create(custom, namespace, workflow("routine", [delay("a", 15)]))
    raised = wait_halt(custom, "Timeout")
    assert "maxOrchestrationDurationSeconds" in raised["message"]
    wait_phase(custom, namespace, "routine", "Halted")
    assert wait_phase(custom, namespace, "urgent", "Succeeded", timeout=20)
    # The long one ended: the cause is gone. The limit goes up before the halt clears, or the
    # routine one, started long ago, would raise it again as soon as it resumes.
    patch_engine(custom, {"maxOrchestrationDurationSeconds": 86400})
    wait_for(lambda: halt_condition(custom).get("status") == "False", timeout=30, what="cleared")
    wait_phase(custom, namespace, "routine", "Succeeded", timeout=30)


def test_resource_exhaustion_raises_the_halt_and_a_flicker_does_not_clear_it(
    custom: Any, kube_api: Any, engine_spec: None
) -> None:
    before = cleared_count(kube_api)
    patch_engine(custom, {"thresholds": {"resourcePercent": 0.5}})
    raised = wait_halt(custom, "ResourceExhaustion")
    assert "memory" in raised["message"]
    # The cause goes for less than the settle period, then comes back: no clearing.
    patch_engine(custom, {"thresholds": {"resourcePercent": 100}})
    time.sleep(SETTLE_SECONDS / 2)
    patch_engine(custom, {"thresholds": {"resourcePercent": 0.5}})
    time.sleep(SETTLE_SECONDS)
    assert halt_condition(custom)["status"] == "True"
    assert cleared_count(kube_api) == before


def test_disabled_triggers_leave_only_the_manual_halt(custom: Any, engine_spec: None) -> None:
    patch_engine(custom, {"emergencyHaltEnabled": False, "thresholds": {"resourcePercent": 0.5}})
    time.sleep(5)  # several rounds, each over the threshold
    assert halt_condition(custom).get("status") != "True"
    patch_engine(custom, {"halt": True, "haltReason": "drill"})
    raised = wait_halt(custom, "Manual")
    assert raised["message"] == "drill"


def test_the_webhook_hears_of_the_halt_with_the_token_from_a_secret(
    custom: Any, kube_api: Any, namespace: str, engine_spec: None
) -> None:
    from kubernetes import client

    client.CoreV1Api(kube_api).create_namespaced_secret(
        namespace,
        {"metadata": {"name": "hook-token"}, "stringData": {"token": "s3cret"}},
    )
    hook = AlertWebhook()
    try:
        patch_engine(
            custom,
            {
                "notification": {
                    "webhookUrl": hook.url,
                    "tokenSecretRef": {
                        "namespace": namespace,
                        "name": "hook-token",
                        "key": "token",
                    },
                }
            },
        )
        patch_engine(custom, {"halt": True, "haltReason": "notify drill"})
        wait_halt(custom, "Manual")
        wait_for(lambda: hook.received, what="the webhook called")
        authorization, document = hook.received[0]
        assert authorization == "Bearer s3cret"
        assert document["event"] == "EmergencyHalt"
        assert document["reason"] == "Manual"
        assert document["message"] == "notify drill"
        patch_engine(custom, {"halt": False})
        wait_for(
            lambda: any(d["event"] == "EmergencyHaltCleared" for _a, d in hook.received),
            what="the clearing announced",
        )
    finally:
        patch_engine(custom, {"notification": None})
        hook.close()


@pytest.mark.parametrize(
    ("spec", "named"),
    [
        ({"thresholds": {"failedServicesPercent": 150}}, "failedServicesPercent"),
        ({"thresholds": {"resourcePercent": -1}}, "resourcePercent"),
        ({"monitoringIntervalSeconds": -5}, "monitoringIntervalSeconds"),
    ],
)
def test_bad_engine_settings_are_rejected(custom: Any, spec: dict[str, Any], named: str) -> None:
    from kubernetes.client import ApiException

    with pytest.raises(ApiException) as raised:
        patch_engine(custom, spec)
    assert raised.value.status == 422
    assert named in raised.value.body


def test_the_halt_fails_over_failed_services_and_scales_critical_ones_once(
    custom: Any, kube_api: Any, namespace: str, engine_spec: None
) -> None:
    from kubernetes import client

    apps, core = client.AppsV1Api(kube_api), client.CoreV1Api(kube_api)
    for name, replicas in (("api", 2), ("api-standby", 0), ("core", 2)):
        apps.create_namespaced_deployment(namespace, deployment(name, replicas))
    core.create_namespaced_service(
        namespace,
        builders.kube_service("api", {"app": "api"}),
    )
    services = {
        # No kubelet: no replica is ever ready, so both services are FAILED.
        "api": {
            "workloadRef": {"kind": "Deployment", "name": "api"},
            "failover": {
                "standbyRef": {"kind": "Deployment", "name": "api-standby"},
                "serviceRef": {"name": "api"},
            },
        },
        "core": {
            "priority": "CRITICAL",
            "workloadRef": {"kind": "Deployment", "name": "core"},
            "scaling": {"minReplicas": 1, "maxReplicas": 3},
        },
    }
    for name, spec in services.items():
        create_service(custom, namespace, name, spec)
    wait_halt(custom, "ServiceFailures")
    wait_for(
        lambda: (
            core.read_namespaced_service("api", namespace).spec.selector == {"app": "api-standby"}
        ),
        what="the Service switched to the standby",
    )
    assert apps.read_namespaced_deployment("api-standby", namespace).spec.replicas == 2
    wait_for(
        lambda: apps.read_namespaced_deployment("core", namespace).spec.replicas == 3,
        what="the CRITICAL service scaled up by one",
    )
    status = wait_for(
        lambda: (
            (
                s := custom.get_namespaced_custom_object(
                    GROUP, VERSION, namespace, "orchestratedservices", "api"
                ).get("status", {})
            ).get("activeTarget")
            == "standby"
            and s
        ),
        what="activeTarget standby",
    )
    assert status["failoverCount"] == 1
    time.sleep(3)  # several more engine rounds: the scale-up is once per halt
    assert apps.read_namespaced_deployment("core", namespace).spec.replicas == 3
    for name in services:
        custom.delete_namespaced_custom_object(
            GROUP, VERSION, namespace, "orchestratedservices", name
        )
