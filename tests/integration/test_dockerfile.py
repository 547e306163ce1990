"""What can be checked of the image without a container engine (none runs here): the
Dockerfile's shape (multi-stage, slim base, non-root, nothing but the environment in the
final stage, the operator as entrypoint), the build context it sees, and its build stage's
commands run on this machine into a fresh environment, whose entrypoint then works."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = (ROOT / "Dockerfile").read_text()
BUILD_COMMANDS = (
    "pip wheel --no-deps --wheel-dir /wheels .",
    "python -m venv /opt/orchestration-engine",
    "/opt/orchestration-engine/bin/pip install --only-binary=:all: /wheels/*.whl",
)


def stages() -> list[list[str]]:
    found: list[list[str]] = []
    for line in DOCKERFILE.splitlines():
        if line.startswith("FROM "):
            found.append([])
        if found:
            found[-1].append(line)
    return found


def test_two_stages_on_a_slim_python_base() -> None:
    assert re.search(r"^ARG PYTHON_IMAGE=python:3\.11-slim-\w+$", DOCKERFILE, re.M)
    build, final = stages()
    assert build[0] == "FROM ${PYTHON_IMAGE} AS build"
    assert final[0] == "FROM ${PYTHON_IMAGE}"


def test_the_final_stage_has_only_the_environment_and_runs_as_a_fixed_non_root_user() -> None:
    final = "\n".join(stages()[1])
    assert re.findall(r"^COPY .*$", final, re.M) == [
        "COPY --from=build /opt/orchestration-engine /opt/orchestration-engine"
    ]
    for tool in ("apt-get", "gcc", "build-essential", "pip install"):
        assert tool not in final
    user = re.search(r"^USER (\d+):(\d+)$", final, re.M)
    assert user is not None
    assert int(user.group(1)) > 0
    assert 'ENTRYPOINT ["orchestration-engine"]' in final
    assert 'CMD ["run"]' in final


def test_the_build_context_is_the_package_alone() -> None:
    ignore = (ROOT / ".dockerignore").read_text().split()
    assert ignore[ignore.index("*") :] == [
        "*",
        "!pyproject.toml",
        "!README.md",
        "!operator/",
        "**/__pycache__",
    ]
    for command in BUILD_COMMANDS:
        assert command in DOCKERFILE


def test_the_build_stage_works_here(tmp_path: Path) -> None:
    wheels, venv = tmp_path / "wheels", tmp_path / "venv"

    def run(*command: str) -> None:
        result = subprocess.run(
            command, cwd=ROOT, capture_output=True, text=True, check=False, timeout=600
        )
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]

    env_pip = str(venv / "bin" / "pip")
    run(sys.executable, "-m", "pip", "wheel", "--no-deps", "--wheel-dir", str(wheels), ".")
    run(sys.executable, "-m", "venv", str(venv))
    built = [str(p) for p in wheels.glob("*.whl")]
    assert len(built) == 1
    with zipfile.ZipFile(built[0]) as wheel:
        names = set(wheel.namelist())
    # The store's migrations and the type marker are package data, easily left out.
    assert "orchestration_engine/py.typed" in names
    assert "orchestration_engine/store/migrations/versions/0004_scaling_samples.py" in names
    run(env_pip, "install", "--quiet", "--only-binary=:all:", *built)
    # The installed entrypoint, from outside the checkout: nothing leaks in from the tree.
    result = subprocess.run(
        [str(venv / "bin" / "orchestration-engine"), "crds"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
        env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"},
    )
    assert result.returncode == 0, result.stderr
    assert "kind: CustomResourceDefinition" in result.stdout
