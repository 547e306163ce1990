"""The pydantic models: API.md's defaults, and every bad input rejected with its field named."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from orchestration_engine.api import errors
from orchestration_engine.api.engine import EngineSpec
from orchestration_engine.api.service import ServiceSpec
from orchestration_engine.api.workflow import Step, WorkflowSpec


def problems(model: type[Any], data: dict[str, Any]) -> str:
    with pytest.raises(ValidationError) as raised:
        model.model_validate(data)
    return "\n".join(errors.describe(raised.value))


def test_service_defaults_follow_the_contract() -> None:
    parsed = ServiceSpec.model_validate(
        {"healthCheck": {"http": {"url": "http://a.b:8080/healthz"}}}
    )
    assert parsed.priority.value == "NORMAL"
    assert parsed.health_check is not None
    check = parsed.health_check
    assert (check.period_seconds, check.timeout_seconds) == (10, 1)
    assert (check.failure_threshold, check.success_threshold) == (3, 1)
    assert check.http is not None
    assert check.http.expected_status == [200]
    assert parsed.to_k8s()["healthCheck"]["periodSeconds"] == 10


def test_engine_defaults_follow_the_contract() -> None:
    parsed = EngineSpec.model_validate({})
    assert parsed.max_concurrent_workflows == 10
    assert parsed.capacity.cpu == "16"
    assert parsed.capacity.memory == "64Gi"
    assert parsed.thresholds.failed_services_percent == 50
    assert parsed.optimization_strategy.value == "PERFORMANCE"
    assert parsed.emergency_halt_enabled is True
    assert parsed.halt is False


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"healthCheck": {"http": {"url": "not a url"}}}, "spec.healthCheck.http.url"),
        ({"healthCheck": {"tcp": {"host": "db", "port": 0}}}, "spec.healthCheck.tcp.port"),
        ({"healthCheck": {"tcp": {"host": "db", "port": 70000}}}, "spec.healthCheck.tcp.port"),
        ({"healthCheck": {"periodSeconds": 0}}, "spec.healthCheck.periodSeconds"),
        ({"healthCheck": {"failureThreshold": 0}}, "spec.healthCheck.failureThreshold"),
        (
            {"healthCheck": {"http": {"url": "http://x"}, "tcp": {"host": "x", "port": 1}}},
            "one of http or tcp",
        ),
        (
            {"scaling": {"minReplicas": 5, "maxReplicas": 2}},
            "minReplicas must not exceed maxReplicas",
        ),
        ({"priority": "URGENT"}, "spec.priority"),
        ({"serviceType": "mainframe"}, "spec.serviceType"),
        ({"dependsOn": ["a", "a"]}, "dependsOn lists a more than once"),
        ({"healthChek": {}}, "spec.healthChek: Extra inputs are not permitted"),
        ({"resources": {"cpu": "lots"}}, "spec.resources.cpu"),
    ],
)
def test_bad_service_specs_name_the_field(data: dict[str, Any], expected: str) -> None:
    assert expected in problems(ServiceSpec, data)


def test_quantities_accept_numbers() -> None:
    parsed = ServiceSpec.model_validate({"resources": {"cpu": 2, "memory": "256Mi"}})
    assert parsed.resources is not None
    assert parsed.resources.cpu == "2"


def step(**fields: Any) -> dict[str, Any]:
    return {"name": "s", "action": "delay", "params": {"seconds": 1}, **fields}


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (step(action="teleport"), "spec.action"),
        (step(action="job", params={}), "params.template: Field required"),
        (step(action="job", params={"template": {"backoffLimit": 1}}), "pod `template`"),
        (step(retries=-1), "spec.retries"),
        (step(name="Bad_Name"), "spec.name"),
        (step(action="scale", params={"replicas": 2}), "exactly one of service or workloadRef"),
        (step(action="http", params={"url": "ftp://x"}), "params.url"),
        (step(action="waitHealthy", params={"services": []}), "params.services"),
    ],
)
def test_bad_steps_name_the_problem(data: dict[str, Any], expected: str) -> None:
    assert expected in problems(Step, data)


def test_duplicate_step_names_are_rejected() -> None:
    assert "step names must be unique: a repeated" in problems(
        WorkflowSpec, {"steps": [step(name="a"), step(name="a")]}
    )


def test_workflow_needs_a_step() -> None:
    assert "spec.steps" in problems(WorkflowSpec, {"steps": []})


def test_every_action_has_a_valid_example() -> None:
    examples = {
        "scale": {"service": "payments", "replicas": 1},
        "restart": {"workloadRef": {"kind": "Deployment", "name": "web"}},
        "failover": {"service": "payments"},
        "failback": {"service": "payments"},
        "waitHealthy": {"services": ["payments"]},
        "http": {"url": "http://127.0.0.1:9/hook", "method": "POST", "body": {"a": 1}},
        "job": {"template": {"template": {"spec": {"containers": []}}}},
        "patch": {
            "target": {"apiVersion": "v1", "kind": "ConfigMap", "name": "c"},
            "patch": {"data": {}},
        },
        "delay": {"seconds": 0.5},
    }
    for action, params in examples.items():
        Step.model_validate({"name": "s", "action": action, "params": params})
