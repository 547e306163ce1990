"""Every command of the contract exists and answers --help; `crds` prints the CRDs."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from orchestration_engine.cli.main import app

runner = CliRunner()


@pytest.mark.parametrize("command", ["run", "report", "status", "halt", "resume", "plan", "crds"])
def test_every_command_has_help(command: str) -> None:
    result = runner.invoke(app, [command, "--help"])
    assert result.exit_code == 0, result.output


def test_run_flags_follow_the_contract() -> None:
    text = runner.invoke(app, ["run", "--help"], terminal_width=200).output
    for flag in (
        "--namespace",
        "--all-namespaces",
        "--database-url",
        "--metrics-port",
        "--quantum",
        "--no-quantum",
        "--ai",
        "--no-ai",
        "--max-workflows",
    ):
        assert flag in text, flag


def test_crds_prints_three_definitions() -> None:
    result = runner.invoke(app, ["crds"])
    assert result.exit_code == 0
    kinds = [d["spec"]["names"]["kind"] for d in yaml.safe_load_all(result.output)]
    assert kinds == ["OrchestratedService", "OrchestrationWorkflow", "OrchestrationEngine"]


def test_namespace_and_all_namespaces_exclude_each_other() -> None:
    result = runner.invoke(app, ["run", "--namespace", "a", "--all-namespaces"])
    assert result.exit_code == 2
    assert "exclude each other" in result.output


def test_bad_environment_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QUANTUM_OPTIMIZATION", "maybe")
    result = runner.invoke(app, ["run"])
    assert result.exit_code == 2
    assert "expected true or false, got 'maybe'" in result.output


def test_action_maps_onto_the_commands(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # No cluster and no store: `--action report` runs `report`, which says so and exits 1.
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "missing.kubeconfig"))
    result = runner.invoke(app, ["--action", "report", "--help"])
    assert result.exit_code == 0
    result = runner.invoke(
        app,
        ["--action", "status"],
        env={"ORCHESTRATION_DATABASE_URL": f"sqlite:///{tmp_path / 'none.db'}"},
    )
    assert result.exit_code == 1
    assert "neither the cluster" in result.output
    result = runner.invoke(app, ["--action", "report", "status"])
    assert result.exit_code == 2
    assert "--action cannot be combined with a command" in result.output
