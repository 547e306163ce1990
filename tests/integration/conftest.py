"""Fixtures for integration tests: the CRDs installed, and the operator as a real process."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
CRDS_DIR = ROOT / "crds"
EXAMPLES_DIR = ROOT / "examples"
GROUP = "orchestration.eoe.dev"
VERSION = "v1alpha1"


def apply_crds(kube_api: Any) -> None:
    from kubernetes import client

    extensions = client.ApiextensionsV1Api(kube_api)
    names = []
    for path in sorted(CRDS_DIR.glob("*.yaml")):
        body = yaml.safe_load(path.read_text())
        names.append(body["metadata"]["name"])
        try:
            existing = extensions.read_custom_resource_definition(body["metadata"]["name"])
            body["metadata"]["resourceVersion"] = existing.metadata.resource_version
            extensions.replace_custom_resource_definition(body["metadata"]["name"], body)
        except client.ApiException as error:
            if error.status != 404:
                raise
            extensions.create_custom_resource_definition(body)
    deadline = time.monotonic() + 30
    for name in names:
        while True:
            crd = extensions.read_custom_resource_definition(name)
            conditions = {c.type: c.status for c in (crd.status.conditions or [])}
            if conditions.get("Established") == "True":
                break
            if time.monotonic() > deadline:
                raise TimeoutError(f"CRD {name} not Established: {conditions}")
            time.sleep(0.1)


@pytest.fixture(scope="session")
def crds(kube_api: Any) -> None:
    apply_crds(kube_api)


@pytest.fixture
def custom(kube_api: Any, crds: None) -> Any:
    from kubernetes import client

    return client.CustomObjectsApi(kube_api)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class OperatorProcess:
    """``orchestration-engine run`` in a child process, as users run it."""

    def __init__(self, kubeconfig: Path, workdir: Path, *extra: str) -> None:
        self.health_port = free_port()
        self.metrics_port = free_port()
        self.log_path = workdir / "operator.log"
        env = {**os.environ, "KUBECONFIG": str(kubeconfig)}
        self._log = self.log_path.open("wb")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "orchestration_engine",
                "run",
                "--health-port",
                str(self.health_port),
                "--metrics-port",
                str(self.metrics_port),
                "--database-url",
                f"sqlite:///{workdir / 'orchestration.db'}",
                *extra,
            ],
            cwd=workdir,
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def wait_ready(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        url = f"http://127.0.0.1:{self.health_port}/healthz"
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"operator exited with {self.process.returncode}:\n{self.log()}")
            with contextlib.suppress(OSError), urllib.request.urlopen(url, timeout=1) as response:
                if response.status == 200:
                    return
            time.sleep(0.2)
        raise TimeoutError(f"operator not live after {timeout} s:\n{self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-6000:]

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()
        return self.process.returncode


@pytest.fixture
def operator(control_plane: Any, crds: None, tmp_path: Path) -> Iterator[OperatorProcess]:
    process = OperatorProcess(control_plane.kubeconfig, tmp_path)
    try:
        process.wait_ready()
        yield process
    finally:
        process.stop()


@pytest.fixture(scope="module")
def module_operator(
    control_plane: Any, crds: None, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[OperatorProcess]:
    """One operator for a whole test module: cheaper when its tests share no state."""
    process = OperatorProcess(control_plane.kubeconfig, tmp_path_factory.mktemp("operator"))
    try:
        process.wait_ready()
        yield process
    finally:
        process.stop()


def wait_for(
    predicate: Any, timeout: float = 20, interval: float = 0.1, what: str = "condition"
) -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout} s waiting for {what}; last value: {last!r}")
