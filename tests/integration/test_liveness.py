"""The liveness probe fails when the operator's watches stall, not only when it dies.

The operator reaches the real API server through a TCP proxy on 127.0.0.1 that can freeze
every connection open at that moment (bytes stop flowing both ways, the sockets stay open:
what a stuck stream looks like) while new connections still flow. The heartbeat the canary
writes over a fresh connection is then accepted but never comes back through the frozen
watch, and ``/healthz`` turns 500 once the stall limit has passed.
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml
from integration_support import OperatorProcess, wait_for

pytestmark = pytest.mark.cluster

STALL_S = 4


class FreezingProxy:
    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self.listener.getsockname()[1])
        self._lock = threading.Lock()
        self._frozen: set[int] = set()  # ids of connections frozen
        self._open: set[int] = set()
        self._thawed = threading.Event()
        self._closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def freeze(self) -> None:
        with self._lock:
            self._frozen = set(self._open)
            self._thawed.clear()

    def thaw(self) -> None:
        with self._lock:
            self._frozen = set()
        self._thawed.set()

    def close(self) -> None:
        self._closed = True
        self.thaw()
        self.listener.close()

    def _accept(self) -> None:
        while not self._closed:
            try:
                downstream, _ = self.listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.upstream)
            ident = id(downstream)
            with self._lock:
                self._open.add(ident)
            for source, target in ((downstream, upstream), (upstream, downstream)):
                threading.Thread(
                    target=self._pump, args=(ident, source, target), daemon=True
                ).start()

    def _pump(self, ident: int, source: socket.socket, target: socket.socket) -> None:
        try:
            while True:
                data = source.recv(65536)
                while True:
                    with self._lock:
                        frozen = ident in self._frozen
                    if not frozen:
                        break
                    self._thawed.wait(0.2)
                if not data:
                    break
                target.sendall(data)
        except OSError:
            pass
        finally:
            with self._lock:
                self._open.discard(ident)
            for sock in (source, target):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)


@pytest.fixture
def proxied_kubeconfig(control_plane: Any, tmp_path: Path) -> Iterator[tuple[Path, FreezingProxy]]:
    config = yaml.safe_load(Path(control_plane.kubeconfig).read_text())
    server = urlsplit(config["clusters"][0]["cluster"]["server"])
    proxy = FreezingProxy((server.hostname or "127.0.0.1", server.port or 443))
    config["clusters"][0]["cluster"]["server"] = f"https://127.0.0.1:{proxy.port}"
    path = tmp_path / "proxied-kubeconfig"
    path.write_text(yaml.safe_dump(config))
    path.chmod(0o600)
    try:
        yield path, proxy
    finally:
        proxy.close()


def healthz(process: OperatorProcess) -> tuple[int, str]:
    url = f"http://127.0.0.1:{process.health_port}/healthz"
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode(errors="replace")


def test_stalled_watches_fail_the_liveness_probe(
    proxied_kubeconfig: tuple[Path, FreezingProxy], crds: None, namespace: str, tmp_path: Path
) -> None:
    kubeconfig, proxy = proxied_kubeconfig
    process = OperatorProcess(
        kubeconfig,
        tmp_path / "operator",
        "--namespace",
        namespace,
        "--watch-heartbeat-seconds",
        "1",
        "--watch-stall-seconds",
        str(STALL_S),
    )
    try:
        process.wait_ready()
        # Alive, and the heartbeat makes its round trip through the real watch.
        answers: list[tuple[int, str]] = []

        def came_back() -> tuple[int, str] | None:
            answers.append(healthz(process))
            status, body = answers[-1]
            return (status, body) if status == 200 and "came back in" in body else None

        try:
            status, body = wait_for(
                came_back, timeout=20, what="a heartbeat back through the watch"
            )
        except TimeoutError as error:
            raise AssertionError(
                f"{error}\nlast /healthz: {answers[-1]!r}\noperator log:\n{process.log()}"
            ) from None
        assert "came back in" in json.loads(body)["watches"]
        proxy.freeze()
        frozen = time.monotonic()
        status, body = wait_for(
            lambda: (r := healthz(process))[0] == 500 and r,
            timeout=STALL_S + 20,  # kopf caches probe results for 10 s
            what="/healthz failing",
        )
        # Not before the limit: one stalled heartbeat does not fail it at once.
        assert time.monotonic() - frozen >= STALL_S
        assert status == 500
    finally:
        proxy.thaw()
        process.stop()
