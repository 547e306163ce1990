"""``kubectl eoe``: the installed plugin executable answers with every command of the app, its
completion helper answers kubectl's protocol, and the plain command's shell completion works.

The scripts are the ones pip installed next to this interpreter (``make venv`` installs the
package, and again whenever pyproject.toml changes)."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import typer

from orchestration_engine.cli.kubectl_plugin import completions
from orchestration_engine.cli.main import app

ROOT = Path(__file__).resolve().parents[3]
BIN = Path(sys.executable).parent
CONTRACT_COMMANDS = ["report", "status", "watch", "plan", "halt", "resume", "backup", "restore"]


def script(name: str) -> Path:
    path = BIN / name
    if not path.exists():
        pytest.fail(f"{path} is not installed: run `make venv` (pip install -e .) again")
    return path


def run(
    *command: str | Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(part) for part in command],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, "COLUMNS": "200", **(env or {})},
    )


def app_commands() -> list[str]:
    return sorted(typer.main.get_group(app).commands)


def test_the_scripts_are_declared() -> None:
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts["kubectl-eoe"] == "orchestration_engine.cli.kubectl_plugin:main"
    assert scripts["kubectl_complete-eoe"] == "orchestration_engine.cli.kubectl_plugin:complete"


def test_kubectl_eoe_help_lists_every_command() -> None:
    result = run(script("kubectl-eoe"), "--help")
    assert result.returncode == 0, result.stderr
    assert "Usage: kubectl eoe" in result.stdout
    for command in {*CONTRACT_COMMANDS, *app_commands()}:
        assert f" {command} " in result.stdout, command
    # Installing completion is the plain command's business (kubectl completes plugins).
    assert "--install-completion" not in result.stdout


@pytest.mark.parametrize("command", CONTRACT_COMMANDS)
def test_kubectl_eoe_runs_each_command(command: str) -> None:
    result = run(script("kubectl-eoe"), command, "--help")
    assert result.returncode == 0, result.stderr
    assert f"kubectl eoe {command}" in result.stdout


def test_the_module_runs_as_the_plugin_too() -> None:
    result = run(sys.executable, "-m", "orchestration_engine.cli.kubectl_plugin", "--help")
    assert result.returncode == 0, result.stderr
    assert "Usage: kubectl eoe" in result.stdout


def test_kubectl_completion_protocol() -> None:
    result = run(script("kubectl_complete-eoe"), "re")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[-1] == ":4"  # cobra's NoFileComp: only these candidates
    assert [line.split("\t")[0] for line in lines[:-1]] == ["report", "resume", "restore"]
    assert completions(["backup", "--n"]) == [
        "--namespace\tOnly these namespaces (repeatable; default: all).",
        "--no-objects\tThe custom objects (on).",
        "--no-store\tThe metrics store (on).",
        ":4",
    ]
    assert completions(["report", "--format", ""]) == ["table", "json", ":4"]
    # A path: no candidates of ours, the shell completes file names.
    assert completions(["plan", "-f", ""]) == [":0"]


def test_shell_completion_of_the_plain_command() -> None:
    command = script("orchestration-engine")
    shown = run(command, "--show-completion", "bash")
    assert shown.returncode == 0, shown.stderr
    assert "_ORCHESTRATION_ENGINE_COMPLETE=complete_bash" in shown.stdout
    answered = run(
        command,
        env={
            "_ORCHESTRATION_ENGINE_COMPLETE": "complete_bash",
            "COMP_WORDS": "orchestration-engine bac",
            "COMP_CWORD": "1",
        },
    )
    assert answered.returncode == 0, answered.stderr
    assert answered.stdout.split() == ["backup"]
