"""``orchestration-engine run`` in a child process, as users run it: for tests and benchmarks."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Sequence
from pathlib import Path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class OperatorProcess:
    """``orchestration-engine run`` in a child process, as users run it."""

    def __init__(
        self,
        kubeconfig: Path,
        workdir: Path,
        *extra: str,
        emergency_halt: bool | None = False,
        wrap: Sequence[str] = (),
    ) -> None:
        """``emergency_halt``: False (the default) turns the automatic halt off, because tests
        leave FAILED services behind in namespaces that never finish terminating (there is
        no garbage collector) and the halt would see them; None leaves it to the engine's
        spec (the halt's own tests). ``wrap``: a command the operator's is appended to and
        that ends by exec'ing it (``unshare`` and a mount, to give the operator a network
        view of its own: tests/fmea/test_prober_network.py)."""
        self.health_port = free_port()
        self.metrics_port = free_port()
        self.workdir = workdir
        workdir.mkdir(parents=True, exist_ok=True)
        self.log_path = workdir / "operator.log"
        env = {**os.environ, "KUBECONFIG": str(kubeconfig)}
        self._log = self.log_path.open("wb")
        self.process = subprocess.Popen(
            [
                *wrap,
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
                *(() if emergency_halt is None else (_halt_flag(emergency_halt),)),
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
        """The log's tail, for failure messages."""
        return self.text()[-6000:]

    def text(self) -> str:
        """The whole log, for searching: a line logged once, early, may be long out of the
        tail by the time it is looked for."""
        return self.log_path.read_text(errors="replace")

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

    @property
    def pid(self) -> int:
        return self.process.pid

    def metrics(self) -> str:
        url = f"http://127.0.0.1:{self.metrics_port}/metrics"
        with urllib.request.urlopen(url, timeout=5) as response:
            return str(response.read().decode())


def _halt_flag(enabled: bool) -> str:
    return "--emergency-halt" if enabled else "--no-emergency-halt"
