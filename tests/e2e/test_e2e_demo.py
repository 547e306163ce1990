"""`make demo` without a configured cluster, run as the Makefile runs it: a network namespace
of its own with a link to the machine, the local real cluster inside it, the operator, the
examples, a provoked failover and the report. The demo makes its own cluster beside the
session's, so this test uses none of the session's fixtures."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# A cluster's start, pods, the workflow and the failover on a machine shared with other runs:
# the bound on all of it, not an expectation of its speed.
pytestmark = pytest.mark.timeout(900)


def _row(out: str, name: str) -> str:
    """The last table row naming ``name``: the table after the failover."""
    rows = [line for line in out.splitlines() if "│" in line and f" {name} " in line]
    assert rows, f"no table row for {name}:\n{out}"
    return rows[-1]


def test_make_demo_runs_the_examples_and_a_failover_on_the_local_cluster(
    tmp_path: Path,
) -> None:
    venv_python = ROOT / ".venv" / "bin" / "python"
    python = str(venv_python if venv_python.is_file() else Path(sys.executable))
    env = {
        **os.environ,
        # No configured cluster: the demo must take the local one.
        "KUBECONFIG": str(tmp_path / "no-such-kubeconfig"),
        "COLUMNS": "200",
        "PYTHONPATH": str(ROOT / "operator"),
    }
    result = subprocess.run(
        [
            "python3", str(ROOT / "tests/localcluster/netns.py"), "run", "--label", "demotest",
            "--host-link", "--", python, str(ROOT / "examples/demo.py"), "--once",
        ],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=840, check=False,
    )  # fmt: skip
    out = result.stdout
    assert result.returncode == 0, out + result.stderr
    assert "local cluster ready in" in out
    assert "the workloads' pods are ready" in out

    # Before the failover: both services HEALTHY, the maintenance workflow (scale, a real Job
    # in the web image, waitHealthy) Succeeded.
    before, failover = out.split("Failover", 1)
    assert "OrchestratedService payments: HEALTHY" in before
    assert "OrchestratedService postgres: HEALTHY" in before
    assert "OrchestrationWorkflow nightly-maintenance: Succeeded" in before
    assert "HEALTHY" in _row(before, "payments")
    assert "Succeeded" in _row(before, "nightly-maintenance")

    # The failover: the client of the Service's ClusterIP got the primary, then the standby.
    assert re.search(
        r"calls the Service payments at http://10\.96\.[0-9.]+:8080/: role primary", failover
    )
    assert "broke primary pod payments-" in failover
    assert "the Service answers: role standby (payments-standby" in failover
    assert "traffic moved to the standby" in failover
    assert "payments: activeTarget=standby, failoverCount=1" in failover
    assert "Succeeded" in _row(failover, "nightly-maintenance")
    assert "HEALTHY" in _row(failover, "postgres")

    # The report, from the cluster and the operator's store.
    report = failover.split("orchestration-engine report", 1)[1]
    assert "health score:" in report
    assert "FailedOver" in report  # the failover's Event, from the store
    # How to look around from outside the namespace: the kubeconfig through the host link.
    assert re.search(r"export KUBECONFIG=/tmp/eoe-node-\w+/host\.kubeconfig", report)
    assert "watch -n eoe-demo" in report
    assert "demo shown in" in report
