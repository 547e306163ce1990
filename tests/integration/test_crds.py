"""The generated CRDs on a real API server: good objects accepted, bad ones rejected by the
server itself (schema and CEL) with a message that names the problem."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
import yaml
from integration_support import EXAMPLES_DIR, GROUP, VERSION

import builders

PLURALS = {
    "OrchestratedService": "orchestratedservices",
    "OrchestrationWorkflow": "orchestrationworkflows",
    "OrchestrationEngine": "orchestrationengines",
}


def create(custom: Any, namespace: str, body: dict[str, Any]) -> dict[str, Any]:
    plural = PLURALS[body["kind"]]
    if body["kind"] == "OrchestrationEngine":
        return custom.create_cluster_custom_object(GROUP, VERSION, plural, body)  # type: ignore[no-any-return]
    return custom.create_namespaced_custom_object(GROUP, VERSION, namespace, plural, body)  # type: ignore[no-any-return]


def rejection(custom: Any, namespace: str, body: dict[str, Any]) -> str:
    from kubernetes.client import ApiException

    with pytest.raises(ApiException) as raised:
        create(custom, namespace, body)
    assert raised.value.status == 422, raised.value.body
    return str(json.loads(raised.value.body)["message"])


def examples() -> list[dict[str, Any]]:
    documents: list[dict[str, Any]] = []
    for path in sorted(EXAMPLES_DIR.glob("*.yaml")):
        documents.extend(d for d in yaml.safe_load_all(path.read_text()) if d)
    return documents


def service(**spec: Any) -> dict[str, Any]:
    return builders.service("svc", spec)


def workflow(steps: list[dict[str, Any]], **spec: Any) -> dict[str, Any]:
    return builders.workflow("wf", steps, **spec)


def delay(name: str = "a", **fields: Any) -> dict[str, Any]:
    return {"name": name, "action": "delay", "params": {"seconds": 1}, **fields}


def test_examples_are_accepted_with_defaults(custom: Any, namespace: str) -> None:
    from kubernetes.client import ApiException

    created = {}
    for body in examples():
        if body["kind"] == "OrchestrationEngine":
            try:
                custom.delete_cluster_custom_object(
                    GROUP, VERSION, "orchestrationengines", "default"
                )
            except ApiException as error:
                if error.status != 404:
                    raise
        created[body["metadata"]["name"]] = create(custom, namespace, copy.deepcopy(body))
    # Defaults come from the schema, applied by the server.
    payments = created["payments"]["spec"]
    assert payments["healthCheck"]["periodSeconds"] == 10
    postgres = created["postgres"]["spec"]
    assert postgres["healthCheck"]["failureThreshold"] == 3
    assert created["nightly-maintenance"]["spec"]["steps"][0]["retries"] == 2
    assert created["nightly-maintenance"]["spec"]["steps"][1]["retries"] == 0
    engine = created["default"]["spec"]
    assert engine["optimizationIntervalSeconds"] == 300
    assert engine["halt"] is False


def test_engine_with_empty_spec_gets_every_default(custom: Any) -> None:
    from kubernetes.client import ApiException

    try:
        custom.delete_cluster_custom_object(GROUP, VERSION, "orchestrationengines", "default")
    except ApiException as error:
        if error.status != 404:
            raise
    body = builders.engine()
    spec = create(custom, "", body)["spec"]
    assert spec["maxConcurrentWorkflows"] == 10
    assert spec["capacity"] == {"cpu": "16", "memory": "64Gi"}
    assert spec["thresholds"] == {
        "resourcePercent": 95,
        "failedServicesPercent": 50,
        "failedWorkflowsPercent": 30,
    }


BAD_SERVICES = [
    ({"healthCheck": {"tcp": {"host": "db", "port": 0}}}, "spec.healthCheck.tcp.port"),
    ({"healthCheck": {"tcp": {"host": "db", "port": 70000}}}, "spec.healthCheck.tcp.port"),
    ({"healthCheck": {"periodSeconds": 0}}, "spec.healthCheck.periodSeconds"),
    ({"healthCheck": {"failureThreshold": 0}}, "spec.healthCheck.failureThreshold"),
    (
        {"healthCheck": {"http": {"url": "not a url"}}},
        "url must be an absolute http:// or https:// URL, not not a url",
    ),
    (
        {"healthCheck": {"http": {"url": "ftp://x/y"}}},
        "url must be an absolute http:// or https:// URL",
    ),
    (
        {"healthCheck": {"http": {"url": "http://x"}, "tcp": {"host": "x", "port": 1}}},
        "healthCheck takes one of http or tcp, not both",
    ),
    (
        {"healthCheck": {"periodSeconds": 5, "timeoutSeconds": 10}},
        "timeoutSeconds must not exceed periodSeconds",
    ),
    (
        {"scaling": {"minReplicas": 5, "maxReplicas": 2}},
        "minReplicas must not exceed maxReplicas",
    ),
    ({"priority": "URGENT"}, 'spec.priority: Unsupported value: "URGENT"'),
    ({"serviceType": "mainframe"}, "spec.serviceType"),
    ({"dependsOn": ["svc"]}, "an OrchestratedService cannot depend on itself: svc"),
    ({"dependsOn": ["a", "a"]}, "spec.dependsOn[1]: Duplicate value"),
    ({"resources": {"cpu": "lots"}}, "spec.resources.cpu"),
    # Bounds (docs/decisions.md): what the grammar lets through but the operator cannot use.
    (
        {"resources": {"cpu": "9e9999999999"}},
        'spec.resources.cpu: Invalid value: "9e9999999999": spec.resources.cpu in body '
        "should match",
    ),
    ({"resources": {"cpu": "9e99"}}, "cpu 9e99 is more than 1M"),
    ({"resources": {"cpu": 2**63 - 1}}, "cpu 9223372036854775807 is more than 1M"),
    ({"resources": {"cpu": "1000001"}}, "cpu 1000001 is more than 1M"),
    ({"resources": {"memory": "2Ei"}}, "memory 2Ei is more than 1Ei"),
    (
        {"healthCheck": {"warningLatencyMs": 1e308}},
        "spec.healthCheck.warningLatencyMs in body should be less than or equal to 3.6e+06",
    ),
    (
        {
            "scaling": {
                "maxReplicas": 2,
                "prometheus": {"url": "http://p", "query": "q", "target": 1e-300},
            }
        },
        "spec.scaling.prometheus.target in body should be greater than or equal to 1e-06",
    ),
    ({"workloadRef": {"kind": "Pod", "name": "x"}}, "spec.workloadRef.kind"),
]


@pytest.mark.parametrize(("spec", "expected"), BAD_SERVICES, ids=[e for _, e in BAD_SERVICES])
def test_bad_services_are_rejected_by_the_server(
    custom: Any, namespace: str, spec: dict[str, Any], expected: str
) -> None:
    assert expected in rejection(custom, namespace, service(**spec))


BAD_WORKFLOWS = [
    ([delay("a"), delay("a")], {}, "step names must be unique: a repeated"),
    (
        [delay("z"), delay("a", dependsOn=["z", "ghost"]), delay("b", dependsOn=["x"])],
        {},
        # The first offender is named.
        "a step's dependsOn names a step that does not exist: step 'a' dependsOn 'ghost'",
    ),
    (
        [{"name": "a", "action": "teleport"}],
        {},
        'spec.steps[0].action: Unsupported value: "teleport"',
    ),
    (
        [{"name": "a", "action": "job", "params": {}}],
        {},
        "step 'a': a job step needs params.template",
    ),
    ([delay("a", retries=-1)], {}, "spec.steps[0].retries"),
    (
        [{"name": "a", "action": "scale", "params": {"service": "x"}}],
        {},
        "step 'a': a scale step needs params.replicas",
    ),
    ([], {}, "spec.steps"),
    ([delay("a")], {"priority": "SOON"}, "spec.priority"),
    ([delay("a")], {"dependsOn": ["wf"]}, "an OrchestrationWorkflow cannot depend on itself: wf"),
    (
        [delay("a")],
        {"deadlineSeconds": 2**63 - 1},
        "spec.deadlineSeconds: Invalid value: 9223372036854775807: spec.deadlineSeconds in body "
        "should be less than or equal to 31536000",
    ),
    (
        [delay("a")],
        {"resources": {"cpu": "9e9999999999"}},
        'spec.resources.cpu: Invalid value: "9e9999999999"',
    ),
    (
        # At the limits (64 steps, each naming 32 steps that do not exist): the rule and its
        # messageExpression stay within the API server's runtime cost budget.
        [delay(f"s{i}", dependsOn=[f"g{i}-{j}" for j in range(32)]) for i in range(64)],
        {},
        "a step's dependsOn names a step that does not exist: step 's0'",
    ),
    (
        [delay(f"s{i}", dependsOn=[f"g{i}-{j}" for j in range(32)]) for i in range(32)],
        {},
        "a step's dependsOn names a step that does not exist: step 's0' dependsOn 'g0-0'",
    ),
    ([delay("a") for _ in range(64)], {}, "step names must be unique: a repeated"),
    (
        [delay(f"s{i}") for i in range(10_000)],
        {},
        "spec.steps: Too many: 10000: must have at most 64 items",
    ),
    ([delay("Bad_Name")], {}, "spec.steps[0].name"),
]


@pytest.mark.parametrize(
    ("steps", "spec", "expected"), BAD_WORKFLOWS, ids=[e for _, _, e in BAD_WORKFLOWS]
)
def test_bad_workflows_are_rejected_by_the_server(
    custom: Any, namespace: str, steps: list[dict[str, Any]], spec: dict[str, Any], expected: str
) -> None:
    assert expected in rejection(custom, namespace, workflow(steps, **spec))


def test_engine_must_be_named_default(custom: Any) -> None:
    body = builders.engine({}, name="other")
    assert "must be named 'default', not 'other'" in rejection(custom, "", body)


def test_unknown_fields_are_pruned_not_stored(custom: Any, namespace: str) -> None:
    body = service(healthCheck={"periodSeconds": 5, "typo": 1})
    created = create(custom, namespace, body)
    assert "typo" not in created["spec"]["healthCheck"]


def test_status_written_by_the_operator_is_kept(custom: Any, namespace: str) -> None:
    create(custom, namespace, service())
    status = {
        "status": {
            "health": "HEALTHY",
            "activeTarget": "primary",
            "lastCheckTime": "2026-11-23T10:00:00Z",
            "lastLatencyMs": 12.5,
            "consecutiveFailures": 0,
            "consecutiveSuccesses": 14,
            "uptimePercent": 99.95,
            "replicas": {"desired": 2, "ready": 2},
            "failoverCount": 0,
            "lastFailoverTime": None,
            "observedGeneration": 1,
            "conditions": [
                {
                    "type": "Ready",
                    "status": "True",
                    "reason": "Healthy",
                    "message": "",
                    "lastTransitionTime": "2026-11-23T10:00:00Z",
                    "observedGeneration": 1,
                }
            ],
        }
    }
    patched = custom.patch_namespaced_custom_object_status(
        GROUP, VERSION, namespace, "orchestratedservices", "svc", status
    )
    expected = {k: v for k, v in status["status"].items() if v is not None}
    assert {k: patched["status"][k] for k in expected} == expected
