"""No secret value reaches the operator's log: the database password of an unreachable
PostgreSQL URL, and the webhook token read from a Secret, sent to a webhook that fails and
echoes the request's Authorization header back in its error body."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from integration_support import GROUP, VERSION, OperatorProcess, engine_if_any, wait_for

pytestmark = pytest.mark.cluster

PASSWORD = "pw-7f3a9c1e-do-not-log"
TOKEN = "tok-51b2d8e4-do-not-log"


class EchoingWebhook:
    """Fails every call with a body that repeats the Authorization header."""

    def __init__(self) -> None:
        self.calls = 0
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                owner.calls += 1
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                body = f"rejected {self.headers.get('Authorization')}".encode()
                self.send_response(500)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def webhook() -> Iterator[EchoingWebhook]:
    hook = EchoingWebhook()
    yield hook
    hook.close()


def patch_engine(custom: Any, spec: dict[str, Any]) -> None:
    custom.patch_cluster_custom_object(
        GROUP, VERSION, "orchestrationengines", "default", {"spec": spec}
    )


def test_no_password_or_token_in_the_log(
    control_plane: Any,
    crds: None,
    custom: Any,
    kube_api: Any,
    namespace: str,
    webhook: EchoingWebhook,
    tmp_path: Path,
) -> None:
    from kubernetes import client

    client.CoreV1Api(kube_api).create_namespaced_secret(
        namespace, {"metadata": {"name": "hook-token"}, "stringData": {"token": TOKEN}}
    )
    database = f"postgresql://eoe:{PASSWORD}@127.0.0.1:{closed_port()}/eoe"
    process = OperatorProcess(
        control_plane.kubeconfig,
        tmp_path / "operator",
        "--namespace",
        namespace,
        "--database-url",
        database,
        emergency_halt=None,
    )
    try:
        process.wait_ready()
        wait_for(lambda: engine_if_any(custom), what="the engine")
        patch_engine(
            custom,
            {
                "notification": {
                    "webhookUrl": webhook.url,
                    "tokenSecretRef": {
                        "namespace": namespace,
                        "name": "hook-token",
                        "key": "token",
                    },
                },
                "halt": True,
                "haltReason": "secrets drill",
            },
        )
        # The paths that could leak them ran: the webhook was retried, the store failed.
        wait_for(lambda: webhook.calls >= 2, timeout=30, what="the webhook retried")
        wait_for(
            lambda: "127.0.0.1" in process.text() and "store" in process.text().lower(),
            timeout=30,
            what="the store's failure logged",
        )
    finally:
        patch_engine(custom, {"notification": None, "halt": False, "haltReason": None})
        process.stop()
    log = process.log_path.read_text(errors="replace")
    assert PASSWORD not in log
    assert TOKEN not in log
