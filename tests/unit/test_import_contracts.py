"""The import contracts of pyproject.toml ([tool.importlinter], run by ``make lint``): the real
package keeps them all, and each contract breaks, by name, on an import that crosses its line.

The broken cases run import-linter on a copy of the package with one import added, in a
process of its own (an analysis in this process would find the package already imported).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "pyproject.toml"
PACKAGE = ROOT / "operator" / "orchestration_engine"
CHECK = "import sys; from importlinter.cli import lint_imports_command; lint_imports_command()"


def lint_imports(source_root: Path) -> subprocess.CompletedProcess[str]:
    """import-linter on the package under ``source_root``, with the project's contracts."""
    env = {**os.environ, "PYTHONPATH": str(source_root), "NO_COLOR": "1", "COLUMNS": "200"}
    return subprocess.run(
        [sys.executable, "-c", CHECK, "--no-cache", "--no-logo", str(CONFIG)],
        cwd=source_root,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_package_keeps_every_contract() -> None:
    result = lint_imports(PACKAGE.parent)
    assert result.returncode == 0, result.stdout + result.stderr
    assert " BROKEN" not in result.stdout
    contracts = tomllib.loads(CONFIG.read_text())["tool"]["importlinter"]["contracts"]
    assert f"{len(contracts)} kept, 0 broken" in result.stdout


@pytest.mark.parametrize(
    ("module", "line", "contract"),
    [
        ("core/dag.py", "import orchestration_engine.cli.main", "core imports only api"),
        ("core/health.py", "import kopf", "core imports only api"),
        (
            "controllers/engine/notifier.py",
            "from kubernetes_asyncio import client",
            "only kube/ talks to the API server",
        ),
        (
            "probes/http.py",
            "import orchestration_engine.controllers.services.checker",
            "adapters never import the operator or the CLI",
        ),
        (
            "kube/traffic_switch.py",
            "import orchestration_engine.actions.base",
            "kube/ imports no other adapter",
        ),
        (
            "plumbing/metrics.py",
            "import orchestration_engine.store.writer",
            "plumbing imports only api and core",
        ),
        (
            "app/runtime.py",
            "import orchestration_engine.cli.watch_live",
            "the operator never imports the CLI",
        ),
        (
            "api/quantity.py",
            "import orchestration_engine.core.dag",
            "the layers, top to bottom",
        ),
        (
            "controllers/services/checker.py",
            "import orchestration_engine.app.settings",
            "the layers, top to bottom",
        ),
        (
            "legacy_api.py",
            "import orchestration_engine.cli.backup",
            "the legacy API imports of the CLI only its report sources",
        ),
    ],
)
def test_a_wrong_import_breaks_its_contract(
    tmp_path: Path, module: str, line: str, contract: str
) -> None:
    copy = tmp_path / "orchestration_engine"
    shutil.copytree(PACKAGE, copy, ignore=shutil.ignore_patterns("__pycache__"))
    target = copy / module
    target.write_text(target.read_text() + f"\n{line}  # noqa\n")

    result = lint_imports(tmp_path)

    assert result.returncode == 1, result.stdout + result.stderr
    # Others may break with it: an import into core reaches every layer that imports core.
    broken = [row for row in result.stdout.splitlines() if " BROKEN" in row]
    assert any(row.startswith(contract) for row in broken), result.stdout
    importer = "orchestration_engine." + module.removesuffix(".py").replace("/", ".")
    assert f"{importer} -> " in result.stdout
