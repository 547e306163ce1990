"""``run --log-format json``: every line the operator process writes — ours, kopf's, warnings —
is one JSON object; lines about an object name it and carry a reconcile id; per-module levels
apply; no password reaches the log."""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any

import pytest
from integration_support import OperatorProcess, wait_for
from workflow_support import create_service

pytestmark = pytest.mark.cluster

PASSWORD = "pw-92d1c4-do-not-log"


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_every_line_is_json(
    control_plane: Any, crds: None, custom: Any, namespace: str, tmp_path: Path
) -> None:
    process = OperatorProcess(
        control_plane.kubeconfig,
        tmp_path / "operator",
        "--namespace",
        namespace,
        "--log-format",
        "json",
        "--log-level-module",
        "orchestration_engine.handlers=DEBUG",
        # An unreachable store: its failure is logged, with the URL, and must not show the
        # password.
        "--database-url",
        f"postgresql://eoe:{PASSWORD}@127.0.0.1:{closed_port()}/eoe",
    )
    try:
        process.wait_ready()
        create_service(
            custom,
            namespace,
            "payments",
            {
                "healthCheck": {
                    "tcp": {"host": "127.0.0.1", "port": closed_port()},
                    "periodSeconds": 1,
                }
            },
        )
        wait_for(
            lambda: '"name": "payments"' in process.text() and "store" in process.text().lower(),
            timeout=30,
            what="a line about payments and the store's failure",
        )
    finally:
        process.stop()
    text = process.log_path.read_text(errors="replace")
    records = [json.loads(line) for line in text.splitlines() if line.strip()]
    assert records
    for record in records:
        assert {"time", "level", "logger", "message"} <= set(record), record
    about = [r for r in records if r.get("name") == "payments"]
    assert about
    assert all(r["namespace"] == namespace for r in about)
    handled = [r for r in about if r["logger"] == "orchestration_engine.handlers"]
    assert handled, "the DEBUG level of orchestration_engine.handlers applied"
    assert all(r["reconcileID"] for r in handled)
    assert not any(r["logger"].startswith("orchestration_engine.store") and r["level"] == "DEBUG"
                   for r in records), "other modules stay at INFO"  # fmt: skip
    assert PASSWORD not in text
