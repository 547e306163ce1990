"""core/admission.py: what the webhook rejects, and what it only warns about."""

from __future__ import annotations

from typing import Any

from orchestration_engine.core.admission import (
    Neighbours,
    review_engine,
    review_service,
    review_workflow,
)

HERE = Neighbours(services={"db": [], "api": ["db"]}, workflows=frozenset({"warmup"}))


def step(name: str, *after: str, **params: Any) -> dict[str, Any]:
    return {
        "name": name,
        "action": "delay",
        "params": {"seconds": 1, **params},
        "dependsOn": list(after),
    }


def test_the_engine_is_a_singleton() -> None:
    assert review_engine("default", {}).allowed
    verdict = review_engine("second", {})
    assert not verdict.allowed
    assert "singleton named 'default'" in verdict.message


def test_engine_spec_problems_are_named() -> None:
    verdict = review_engine("default", {"maxConcurrentWorkflows": -1})
    assert not verdict.allowed
    assert "maxConcurrentWorkflows" in verdict.message


def test_a_service_closing_a_cycle_is_rejected() -> None:
    verdict = review_service("db", {"dependsOn": ["api"]}, HERE)
    assert not verdict.allowed
    assert verdict.message == "dependsOn would close a cycle: db -> api -> db"


def test_a_missing_dependency_is_only_a_warning() -> None:
    verdict = review_service("web", {"dependsOn": ["api", "cache"]}, HERE)
    assert verdict.allowed
    assert verdict.warnings == ("dependsOn names services that do not exist yet: cache",)


def test_a_standby_that_is_the_primary_is_rejected() -> None:
    ref = {"kind": "Deployment", "name": "api"}
    spec = {"workloadRef": ref, "failover": {"standbyRef": ref, "serviceRef": {"name": "api"}}}
    verdict = review_service("api", spec, HERE)
    assert not verdict.allowed
    assert "standbyRef names the primary" in verdict.message


def test_service_spec_problems_are_named() -> None:
    verdict = review_service("x", {"scaling": {"minReplicas": 5, "maxReplicas": 2}}, HERE)
    assert not verdict.allowed
    assert "minReplicas must not exceed maxReplicas" in verdict.message


def test_a_workflow_with_a_step_cycle_is_rejected_naming_it() -> None:
    verdict = review_workflow("w", {"steps": [step("a", "b"), step("b", "a")]}, HERE)
    assert not verdict.allowed
    assert "a" in verdict.message
    assert "cycle" in verdict.message


def test_a_workflow_naming_missing_services_and_workflows_is_warned() -> None:
    spec = {
        "dependsOn": ["warmup", "later"],
        "steps": [
            {"name": "s", "action": "scale", "params": {"service": "ghost", "replicas": 2}},
            {"name": "w", "action": "waitHealthy", "params": {"services": ["api", "phantom"]}},
        ],
        "successCriteria": {"servicesHealthy": ["db"]},
    }
    verdict = review_workflow("nightly", spec, HERE)
    assert verdict.allowed
    assert verdict.warnings == (
        "steps name services that do not exist yet: ghost, phantom",
        "dependsOn names workflows that do not exist yet: later",
    )


def test_a_good_workflow_is_allowed_silently() -> None:
    verdict = review_workflow("w", {"steps": [step("a"), step("b", "a")]}, HERE)
    assert verdict.allowed
    assert verdict.warnings == ()
