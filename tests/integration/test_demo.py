"""`make demo`'s script against the test cluster: CRDs, operator, examples, the table."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

from integration_support import ROOT


def test_demo_once_shows_what_the_operator_did(
    control_plane: Any, crds: None, namespace: str
) -> None:
    # The test's namespace, deleted with what the demo applied: left behind, the maintenance
    # workflow (its Job never runs without a kubelet) would hold a slot and the engine's phase
    # under every later module's operator.
    result = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "demo.py"), "--once", "--namespace", namespace],
        env={**os.environ, "KUBECONFIG": str(control_plane.kubeconfig), "COLUMNS": "200"},
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "using the cluster of" in out
    assert "What the operator did" in out
    for name in ("default", "postgres", "payments", "nightly-maintenance", "warm-up"):
        assert name in out
    warm_up = next(line for line in out.splitlines() if "warm-up" in line and "│" in line)
    assert "Succeeded" in warm_up  # the self-contained workflow ran to its end
