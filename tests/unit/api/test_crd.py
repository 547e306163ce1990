"""The generated CRDs: current on disk, structural, and carrying the contract's columns."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from orchestration_engine.api import crd

CRDS_DIR = Path(__file__).resolve().parents[3] / "crds"


@pytest.mark.parametrize("definition", crd.KINDS, ids=lambda d: d.kind)
def test_crds_on_disk_are_current(definition: crd.KindDefinition) -> None:
    on_disk = (CRDS_DIR / crd.crd_file_name(definition)).read_text()
    assert on_disk == crd.render(definition.to_k8s()), "crds/ is stale: run `make crds`"


def test_no_stray_files_in_crds_dir() -> None:
    expected = {crd.crd_file_name(d) for d in crd.KINDS}
    assert {p.name for p in CRDS_DIR.glob("*.yaml")} == expected


def walk(node: Any, path: str = "") -> list[tuple[str, dict[str, Any]]]:
    found: list[tuple[str, dict[str, Any]]] = []
    if isinstance(node, dict):
        found.append((path, node))
        for key, value in node.items():
            found.extend(walk(value, f"{path}.{key}"))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found.extend(walk(value, f"{path}[{index}]"))
    return found


@pytest.mark.parametrize("definition", crd.KINDS, ids=lambda d: d.kind)
def test_schema_is_structural(definition: crd.KindDefinition) -> None:
    schema = definition.to_k8s()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    for path, node in walk(schema):
        assert "$ref" not in node, path
        assert "title" not in node or isinstance(node.get("title"), dict), path
        if "anyOf" in node:
            assert node.get("x-kubernetes-int-or-string") is True, path
        assert node.get("additionalProperties") is not False, path
        if "properties" in node and not path.endswith(".properties"):
            assert node.get("type") == "object", path


def columns(kind: str) -> list[str]:
    definition = next(d for d in crd.KINDS if d.kind == kind)
    version = definition.to_k8s()["spec"]["versions"][0]
    return [c["name"] for c in version["additionalPrinterColumns"]]


def test_printer_columns_follow_the_contract() -> None:
    assert columns("OrchestratedService") == ["Health", "Priority", "Active", "Uptime", "Age"]
    assert columns("OrchestrationWorkflow") == ["Phase", "Priority", "Progress", "Queue", "Age"]
    assert columns("OrchestrationEngine") == ["Phase", "Health", "Halt", "Age"]


def test_names_scope_and_status_subresource() -> None:
    by_kind = {d.kind: d.to_k8s()["spec"] for d in crd.KINDS}
    assert by_kind["OrchestratedService"]["names"]["shortNames"] == ["osvc"]
    assert by_kind["OrchestrationWorkflow"]["names"]["shortNames"] == ["owf"]
    assert by_kind["OrchestrationEngine"]["names"]["shortNames"] == ["oeng"]
    assert by_kind["OrchestrationEngine"]["scope"] == "Cluster"
    for spec in by_kind.values():
        assert spec["group"] == "orchestration.eoe.dev"
        assert spec["versions"][0]["name"] == "v1alpha1"
        assert spec["versions"][0]["subresources"] == {"status": {}}


def test_status_keeps_what_the_operator_writes() -> None:
    by_kind = {
        d.kind: d.to_k8s()["spec"]["versions"][0]["schema"]["openAPIV3Schema"] for d in crd.KINDS
    }
    service_status = by_kind["OrchestratedService"]["properties"]["status"]["properties"]
    for field in (
        "health",
        "activeTarget",
        "lastCheckTime",
        "lastLatencyMs",
        "consecutiveFailures",
        "consecutiveSuccesses",
        "uptimePercent",
        "replicas",
        "failoverCount",
        "lastFailoverTime",
        "conditions",
        "observedGeneration",
    ):
        assert field in service_status, field
    conditions = service_status["conditions"]
    assert conditions["x-kubernetes-list-type"] == "map"
    assert conditions["x-kubernetes-list-map-keys"] == ["type"]
    workflow_status = by_kind["OrchestrationWorkflow"]["properties"]["status"]["properties"]
    for field in (
        "phase",
        "progress",
        "queuePosition",
        "startedAt",
        "finishedAt",
        "steps",
        "conditions",
    ):
        assert field in workflow_status, field
    engine_status = by_kind["OrchestrationEngine"]["properties"]["status"]["properties"]
    for field in ("phase", "healthScore", "services", "workflows", "scores", "conditions"):
        assert field in engine_status, field


def test_rendered_yaml_has_no_anchors() -> None:
    text = crd.render_all()
    assert "&id" not in text
    assert "*id" not in text
    assert len(list(yaml.safe_load_all(text))) == 3
