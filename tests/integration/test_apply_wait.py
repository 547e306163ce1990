"""`apply -f FILE [--wait]` and `wait WORKFLOW` against the real API server and the operator
as a real process: exit 0 when the workflow succeeds, 1 with the failing step's message when
it fails, 2 on timeout, 3 with a clear message when there is nothing valid to apply or wait
for."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from integration_support import GROUP, VERSION, OperatorProcess
from workflow_support import create, delay, status, steps, workflow

import builders
from http_support import CountingServer

pytestmark = pytest.mark.cluster


def cli(kubeconfig: Path, *args: str, timeout: float = 90) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [sys.executable, "-m", "orchestration_engine", *args],
        env={**os.environ, "KUBECONFIG": str(kubeconfig), "COLUMNS": "200"},
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert "Traceback" not in result.stdout + result.stderr, result.stdout + result.stderr
    return result


def write(path: Path, *documents: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump_all(documents, sort_keys=False))
    return path


def test_apply_wait_follows_a_workflow_to_success(
    module_operator: OperatorProcess,
    custom: Any,
    namespace: str,
    control_plane: Any,
    tmp_path: Path,
) -> None:
    service = builders.service("payments", serviceType="web", priority="HIGH")
    chain = workflow(
        "release",
        [
            delay("drain", 0.3),
            delay("migrate", 0.3, dependsOn=["drain"]),
            delay("verify", 0.3, dependsOn=["migrate"]),
        ],
    )
    file = write(tmp_path / "release.yaml", service, chain)

    result = cli(control_plane.kubeconfig, "apply", "-f", str(file), "-n", namespace, "--wait")
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert f"OrchestratedService {namespace}/payments created" in lines
    assert f"OrchestrationWorkflow {namespace}/release created" in lines
    # Each step is seen advancing (plain lines: stdout is not a terminal), in order.
    finished = [
        line.split()[2]
        for line in lines
        if line.startswith(f"{namespace}/release: step ") and "Succeeded" in line
    ]
    assert finished == ["drain", "migrate", "verify"]
    assert lines[-1] == f"{namespace}/release Succeeded (3/3 steps succeeded)"
    assert "\x1b" not in result.stdout

    # Server-side applied under our field manager.
    stored = custom.get_namespaced_custom_object(
        GROUP, VERSION, namespace, "orchestrationworkflows", "release"
    )
    managers = {m["manager"] for m in stored["metadata"]["managedFields"]}
    assert "orchestration-engine-cli" in managers

    # Again: nothing changes, and `wait` on the finished workflow answers at once.
    again = cli(control_plane.kubeconfig, "apply", "-f", str(file), "--namespace", namespace)
    assert again.returncode == 0, again.stderr
    assert f"OrchestrationWorkflow {namespace}/release unchanged" in again.stdout.splitlines()
    waited = cli(control_plane.kubeconfig, "wait", "release", "-n", namespace)
    assert waited.returncode == 0, waited.stderr
    assert waited.stdout.splitlines()[-1] == f"{namespace}/release Succeeded (3/3 steps succeeded)"


def test_apply_wait_fails_with_the_failing_steps_message(
    module_operator: OperatorProcess,
    custom: Any,
    namespace: str,
    control_plane: Any,
    tmp_path: Path,
    server: CountingServer,
) -> None:
    server.answers["/migrate"] = 500
    body = workflow(
        "broken-release",
        [
            delay("drain", 0),
            {
                "name": "migrate",
                "action": "http",
                "params": {"url": server.url("/migrate"), "method": "POST"},
                "dependsOn": ["drain"],
            },
        ],
        rollback=[{"name": "restore", "action": "http", "params": {"url": server.url("/undo")}}],
    )
    file = write(tmp_path / "broken.yaml", body)

    result = cli(control_plane.kubeconfig, "apply", "-f", str(file), "-n", namespace, "--wait")
    assert result.returncode == 1, result.stdout + result.stderr
    final = status(custom, namespace, "broken-release")
    assert final["phase"] == "RolledBack"
    message = steps(final)["migrate"]["message"]
    assert "500" in message
    lines = result.stdout.splitlines()
    assert f"  failed step migrate: {message}" in lines
    assert any(
        line.startswith(f"{namespace}/broken-release RolledBack (1/2 steps succeeded): ")
        and "step migrate failed" in line
        for line in lines
    )
    assert f"{namespace}/broken-release: rollback step restore Succeeded" in " ".join(lines)


def test_wait_times_out_with_exit_code_2(
    module_operator: OperatorProcess, custom: Any, namespace: str, control_plane: Any
) -> None:
    create(custom, namespace, workflow("slow", [delay("sleep", 60)]))
    result = cli(control_plane.kubeconfig, "wait", "slow", "-n", namespace, "--timeout", "2")
    assert result.returncode == 2, result.stdout + result.stderr
    assert f"timed out after 2s waiting for {namespace}/slow" in result.stdout


def test_nothing_to_wait_for_is_said_plainly(
    crds: None, namespace: str, control_plane: Any, tmp_path: Path
) -> None:
    missing = cli(control_plane.kubeconfig, "wait", "nope", "-n", namespace, "--timeout", "5")
    assert missing.returncode == 3
    assert f"no OrchestrationWorkflow nope in namespace {namespace}" in missing.stderr

    unreachable = cli(tmp_path / "no-such-kubeconfig", "wait", "nope", "-n", namespace)
    assert unreachable.returncode == 3
    assert "could not reach the cluster" in unreachable.stderr


def test_invalid_files_are_refused_with_the_reason(
    crds: None, custom: Any, namespace: str, control_plane: Any, tmp_path: Path
) -> None:
    def apply(path: Path) -> subprocess.CompletedProcess[str]:
        return cli(control_plane.kubeconfig, "apply", "-f", str(path), "-n", namespace, "--wait")

    broken_yaml = tmp_path / "broken.yaml"
    broken_yaml.write_text("kind: [unclosed\n")
    result = apply(broken_yaml)
    assert result.returncode == 3
    assert "invalid YAML" in result.stderr

    cycle = write(
        tmp_path / "cycle.yaml",
        workflow("loop", [delay("a", 0, dependsOn=["b"]), delay("b", 0, dependsOn=["a"])]),
    )
    result = apply(cycle)
    assert result.returncode == 3
    assert "OrchestrationWorkflow loop" in result.stderr
    assert "cycle" in result.stderr

    nameless = tmp_path / "nameless.yaml"
    nameless.write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {}\n")
    result = apply(nameless)
    assert result.returncode == 3
    assert "metadata.name is missing" in result.stderr

    # Valid YAML the API server refuses: its message, and nothing of the file applied after.
    rejected = write(
        tmp_path / "rejected.yaml",
        builders.service("odd", serviceType="teleporter"),
        workflow("after", [delay("a", 0)]),
    )
    result = apply(rejected)
    assert result.returncode == 3
    assert "OrchestratedService odd was rejected: 422" in result.stderr
    assert "teleporter" in result.stderr
    listed = custom.list_namespaced_custom_object(
        GROUP, VERSION, namespace, "orchestrationworkflows"
    )
    assert listed["items"] == []

    unknown = write(
        tmp_path / "unknown.yaml",
        {"apiVersion": f"{GROUP}/{VERSION}", "kind": "Teleporter", "metadata": {"name": "x"}},
    )
    result = apply(unknown)
    assert result.returncode == 3
    assert f"the server has no kind Teleporter in {GROUP}/{VERSION}" in result.stderr
