"""Every example is what the API server accepts: each YAML document under examples/ is applied
server-side with dry run (schema, CEL rules and all) to the real API server, and every workflow
passes `orchestration-engine plan`."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

pytestmark = pytest.mark.cluster

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
# Kinds of other projects (Argo CD, Flux, kustomize's own file): not on a bare API server.
FOREIGN_GROUPS = ("argoproj.io/", "source.toolkit.fluxcd.io/", "helm.toolkit.fluxcd.io/")
FOREIGN_GROUPS += ("kustomize.toolkit.fluxcd.io/", "kustomize.config.k8s.io/")


def documents() -> list[tuple[str, dict[str, Any]]]:
    found = []
    for path in sorted(EXAMPLES.rglob("*.yaml")):
        for document in yaml.safe_load_all(path.read_text()):
            if document:
                found.append((str(path.relative_to(ROOT)), document))
    return found


def test_there_are_examples_of_every_kind() -> None:
    kinds = {d["kind"] for _, d in documents()}
    assert {"OrchestratedService", "OrchestrationWorkflow", "OrchestrationEngine"} <= kinds
    assert {"Application", "Kustomization", "HelmRelease"} <= kinds


def test_every_example_is_accepted_by_the_api_server(kube_api: Any, crds: None) -> None:
    from kubernetes import dynamic
    from kubernetes.client import CoreV1Api
    from kubernetes.client.exceptions import ApiException

    client = dynamic.DynamicClient(kube_api)
    namespaces = {d["metadata"]["name"] for _, d in documents() if d["kind"] == "Namespace"}
    namespaces |= {ns for _, d in documents() if (ns := d.get("metadata", {}).get("namespace"))}
    for name in namespaces:  # dry run cannot create objects in a namespace that is not there
        try:
            CoreV1Api(kube_api).create_namespace({"metadata": {"name": name}})
        except ApiException as error:
            if error.status != 409:  # already there: fine
                raise
    checked = 0
    for source, document in documents():
        if document["apiVersion"].startswith(FOREIGN_GROUPS) or document["kind"] == "Namespace":
            continue
        resource = client.resources.get(api_version=document["apiVersion"], kind=document["kind"])
        namespace = None
        if resource.namespaced:
            namespace = document["metadata"].get("namespace") or "shop"
        try:
            resource.server_side_apply(
                body=document,
                name=document["metadata"]["name"],
                namespace=namespace,
                field_manager="examples-test",
                dry_run="All",
                force_conflicts=True,
            )
        except ApiException as error:
            pytest.fail(
                f"{source}: {document['kind']} {document['metadata']['name']}: {error.body}"
            )
        checked += 1
    assert checked >= 15


@pytest.mark.parametrize(
    "path",
    sorted(
        str(p.relative_to(ROOT))
        for p in EXAMPLES.rglob("*.yaml")
        if "kind: OrchestrationWorkflow" in p.read_text()
    ),
)
def test_every_workflow_example_plans(path: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "orchestration_engine", "plan", "-f", path],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr


def gitops_values() -> list[tuple[str, dict[str, Any]]]:
    """The chart values the GitOps examples pass (Argo CD's valuesObject, Flux's values)."""
    found = []
    for source, document in documents():
        if document["kind"] == "Application" and "helm" in document["spec"]["source"]:
            found.append((source, document["spec"]["source"]["helm"]["valuesObject"]))
        if document["kind"] == "HelmRelease":
            found.append((source, document["spec"]["values"]))
    return found


def test_the_gitops_examples_values_fit_the_chart(tmp_path: Path) -> None:
    from chart_support import of_kind, render

    examples = gitops_values()
    assert len(examples) == 2
    for index, (source, values) in enumerate(examples):
        path = tmp_path / f"values-{index}.yaml"
        path.write_text(yaml.safe_dump(values))
        docs = render(path)  # helm validates them against values.schema.json
        assert of_kind(docs, "ServiceMonitor"), source
        assert of_kind(docs, "PrometheusRule"), source
