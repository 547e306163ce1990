"""The images themselves, run in a real Docker engine: the operator image as users build it
from the Dockerfile (read-only, without network, as a fixed non-root user) and the end-to-end
test workload, whose health switches off and on. The images come from the same script as
`make e2e-images`, which rebuilds nothing that exists and is unchanged."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

IMAGES = Path(__file__).resolve().parent / "images"
ENGINE = IMAGES / "docker-engine.sh"
OPERATOR = os.environ.get("IMAGE") or "orchestration-engine:dev"
WEB = "orchestration-engine-e2e/web:1"
PAUSE = "orchestration-engine-e2e/pause:1"
NON_ROOT = "65532:65532"

# A cold build (the local Python base, then the operator image) takes about 1.5 minutes here;
# the suite's default per-test timeout would cut it off.
pytestmark = pytest.mark.timeout(900)


def docker(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["docker", *args], capture_output=True, text=True, timeout=timeout, check=False
    )


@pytest.fixture(scope="module")
def engine() -> Iterator[None]:
    """The running engine if one answers; else one started here and stopped after the module."""
    before = os.environ.get("DOCKER_HOST")
    started = docker("info", timeout=15).returncode != 0
    if started:
        out = subprocess.run(
            [str(ENGINE), "start"], capture_output=True, text=True, check=True, timeout=120
        ).stdout
        for line in out.splitlines():
            if line.startswith("export DOCKER_HOST="):
                os.environ["DOCKER_HOST"] = line.removeprefix("export DOCKER_HOST=")
    try:
        # Built by `make e2e-images` before the suite, outside the cluster's namespace: in it
        # there is no network, and a rebuild (bytecode written into operator/ by other tests
        # changes the build context) could not reach the package registry.
        missing = [
            ref
            for ref in (
                OPERATOR,
                "orchestration-engine-e2e/web:1",
                "orchestration-engine-e2e/pause:1",
            )
            if docker("image", "inspect", ref, timeout=30).returncode != 0
        ]
        if missing:
            subprocess.run(
                ["python3", str(IMAGES / "build_images.py"), "e2e", "--image", OPERATOR],
                check=True,
                timeout=840,
            )
        yield
    finally:
        if started:
            subprocess.run([str(ENGINE), "stop"], check=False, timeout=60)
            if before is None:
                os.environ.pop("DOCKER_HOST", None)
            else:
                os.environ["DOCKER_HOST"] = before


def run_operator(*args: str) -> subprocess.CompletedProcess[str]:
    return docker("run", "--rm", "--read-only", "--network=none", OPERATOR, *args)


@pytest.mark.usefixtures("engine")
def test_the_operator_image_runs_read_only_without_network() -> None:
    helped = run_operator("--help")
    assert helped.returncode == 0, helped.stderr
    assert "run" in helped.stdout
    crds = run_operator("crds")
    assert crds.returncode == 0, crds.stderr
    # The CRDs as YAML documents: each names its kind's group.
    assert "kind: CustomResourceDefinition" in crds.stdout
    assert crds.stdout.count("kind: CustomResourceDefinition") >= 2


@pytest.mark.usefixtures("engine")
@pytest.mark.parametrize("ref", [OPERATOR, WEB])
def test_the_images_run_as_a_fixed_non_root_user(ref: str) -> None:
    user = docker("image", "inspect", "--format", "{{.Config.User}}", ref)
    assert user.returncode == 0, user.stderr
    assert user.stdout.strip() == NON_ROOT
    whoami = docker("run", "--rm", "--network=none", "--entrypoint", "id", ref, "-u")
    assert whoami.stdout.strip() == NON_ROOT.split(":")[0], whoami.stderr


@pytest.mark.usefixtures("engine")
def test_the_pause_image_holds_one_static_binary_and_stops_on_sigterm() -> None:
    # Nothing but the binary: no shell, no libraries; it must still start and obey SIGTERM.
    started = docker("run", "-d", "--network=none", PAUSE)
    assert started.returncode == 0, started.stderr
    cid = started.stdout.strip()
    try:
        begun = time.monotonic()
        stopped = docker("stop", "--time", "10", cid)
        assert stopped.returncode == 0, stopped.stderr
        # Well under docker stop's 10 s grace: the signal, not the timeout, ended it.
        assert time.monotonic() - begun < 5
        code = docker("inspect", "--format", "{{.State.ExitCode}}", cid)
        assert code.stdout.strip() == "0"
    finally:
        docker("rm", "-f", cid)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def request(url: str, method: str = "GET") -> tuple[int, str]:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, method=method), timeout=5) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


@pytest.mark.usefixtures("engine")
def test_the_web_image_breaks_heals_and_stops_promptly() -> None:
    # The engine has no bridge network (dockerd runs with --bridge=none): the server listens on
    # a free port of the host's network.
    port = free_port()
    started = docker(
        "run", "-d", "--network=host", "--read-only", "--hostname", "web-0",
        "-e", f"PORT={port}", "-e", "ROLE=primary", "-e", "NAME=checkout", WEB,
    )  # fmt: skip
    assert started.returncode == 0, started.stderr
    cid = started.stdout.strip()
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                status, body = request(f"{base}/healthz")
                break
            except OSError:
                assert time.monotonic() < deadline, docker("logs", cid).stderr
                time.sleep(0.2)
        assert (status, body) == (200, "ok")
        status, body = request(f"{base}/")
        assert status == 200
        assert json.loads(body) == {"name": "checkout", "pod": "web-0", "role": "primary"}
        assert request(f"{base}/break", "POST")[0] == 200
        assert request(f"{base}/healthz")[0] == 503
        assert request(f"{base}/")[0] == 503
        assert request(f"{base}/heal", "POST")[0] == 200
        assert request(f"{base}/healthz") == (200, "ok")
        begun = time.monotonic()
        assert docker("stop", "--time", "10", cid).returncode == 0
        assert time.monotonic() - begun < 5
    finally:
        docker("rm", "-f", cid)


@pytest.mark.usefixtures("engine")
def test_the_web_image_runs_python_for_jobs() -> None:
    done = docker("run", "--rm", "--network=none", WEB, "python", "-c", "print(6 * 7)")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "42"
