"""`orchestration-engine plan -f`: waves for a good workflow, a named problem for a bad one."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from orchestration_engine.cli.main import app

runner = CliRunner()


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "workflow.yaml"
    path.write_text(text)
    return path


HEADER = """
apiVersion: orchestration.eoe.dev/v1alpha1
kind: OrchestrationWorkflow
metadata: {name: nightly}
spec:
  priority: HIGH
"""


def test_valid_workflow_prints_waves(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        HEADER
        + """
  steps:
    - {name: drain, action: scale, params: {service: payments, replicas: 1}}
    - {name: backup, action: delay, params: {seconds: 1}}
    - {name: migrate, action: delay, params: {seconds: 1}, dependsOn: [drain, backup]}
    - {name: verify, action: waitHealthy, params: {services: [payments]}, dependsOn: [migrate]}
  rollback:
    - {name: restore, action: scale, params: {service: payments, replicas: 3}}
""",
    )
    result = runner.invoke(app, ["plan", "-f", str(path)])
    assert result.exit_code == 0, result.output
    assert "nightly (priority HIGH): 4 steps in 3 waves" in result.output
    assert "wave 1: drain, backup" in result.output
    assert "wave 2: migrate" in result.output
    assert "wave 3: verify" in result.output
    assert "rollback (last step first): restore" in result.output


def test_json_output(tmp_path: Path) -> None:
    path = write(tmp_path, HEADER + "  steps: [{name: a, action: delay, params: {seconds: 1}}]\n")
    result = runner.invoke(app, ["plan", "-f", str(path), "--format", "json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == [{"name": "nightly", "waves": [["a"]], "rollbackOrder": []}]


def test_cycle_exits_non_zero_naming_it(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        HEADER
        + """
  steps:
    - {name: a, action: delay, params: {seconds: 1}, dependsOn: [c]}
    - {name: b, action: delay, params: {seconds: 1}, dependsOn: [a]}
    - {name: c, action: delay, params: {seconds: 1}, dependsOn: [b]}
""",
    )
    result = runner.invoke(app, ["plan", "-f", str(path)])
    assert result.exit_code == 1
    assert "dependsOn forms a cycle: a -> c -> b -> a" in result.output


def test_unknown_dependency_is_named(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        HEADER + "  steps: [{name: a, action: delay, params: {seconds: 1}, dependsOn: [ghost]}]\n",
    )
    result = runner.invoke(app, ["plan", "-f", str(path)])
    assert result.exit_code == 1
    assert "step 'a' depends on 'ghost', which does not exist" in result.output


def test_invalid_field_is_named(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        HEADER + "  steps: [{name: a, action: delay, params: {seconds: 1}, retries: -1}]\n",
    )
    result = runner.invoke(app, ["plan", "-f", str(path)])
    assert result.exit_code == 1
    assert "spec.steps[0].retries" in result.output


def test_invalid_yaml_is_reported(tmp_path: Path) -> None:
    path = write(tmp_path, "spec: [unclosed\n")
    result = runner.invoke(app, ["plan", "-f", str(path)])
    assert result.exit_code == 1
    assert "invalid YAML" in result.output


def test_wrong_kind_is_reported(tmp_path: Path) -> None:
    path = write(tmp_path, "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n")
    result = runner.invoke(app, ["plan", "-f", str(path)])
    assert result.exit_code == 1
    assert "expected 'OrchestrationWorkflow'" in result.output


def test_missing_file_is_reported(tmp_path: Path) -> None:
    result = runner.invoke(app, ["plan", "-f", str(tmp_path / "nope.yaml")])
    assert result.exit_code == 1
    assert "cannot read the file" in result.output
