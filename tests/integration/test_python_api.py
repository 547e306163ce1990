"""The README's Python API example, run against the real API server."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from orchestration_engine import EnterpriseOrchestrationEngine, OrchestrationConfiguration


def test_readme_example_runs(
    control_plane: Any, crds: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KUBECONFIG", str(control_plane.kubeconfig))
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    example = readme.split("<!-- python-api-example -->")[1].split("```python")[1].split("```")[0]
    namespace: dict[str, Any] = {"__name__": "readme_example"}
    monkeypatch.chdir(tmp_path)
    exec(compile(example, "README.md", "exec"), namespace)  # noqa: S102 - the README's own example
    started, report, stopped = namespace["started"], namespace["report"], namespace["stopped"]
    assert started["status"] == "success"
    overview = report["orchestration_report"]["orchestration_overview"]
    assert isinstance(overview["overall_health_score"], int | float)
    assert stopped["status"] == "success"
    assert stopped["final_state"] == "COMPLETED"
    assert (tmp_path / "databases" / "orchestration.db").exists()


def test_api_reports_a_failure_to_start(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "missing.kubeconfig"))
    engine = EnterpriseOrchestrationEngine(
        workspace_path=tmp_path, config=OrchestrationConfiguration()
    )
    result = engine.start_enterprise_orchestration()
    assert result["status"] == "failed"
    assert result["error"]
    assert engine.orchestration_active is False
