"""`orchestration-engine watch` against the real API server: one frame (`--once`) over a known
set of objects, frames that follow changes through the watches, and a clean Ctrl-C.

No operator runs here: the tests write the objects' status themselves, as the operator would,
so every row on the screen is known in advance."""

from __future__ import annotations

import contextlib
import os
import queue
import re
import secrets
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from integration_support import GROUP, VERSION

import builders
from namespace_support import cleaned_namespace

pytestmark = pytest.mark.cluster

SERVICES = "orchestratedservices"
WORKFLOWS = "orchestrationworkflows"
ENGINES = "orchestrationengines"


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def cli_env(kubeconfig: Path) -> dict[str, str]:
    return {**os.environ, "KUBECONFIG": str(kubeconfig), "COLUMNS": "200"}


def watch_once(kubeconfig: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "orchestration_engine", "watch", "--once", *args],
        env=cli_env(kubeconfig),
        capture_output=True,
        text=True,
        timeout=60,
    )


def add_service(custom: Any, namespace: str, name: str, status: dict[str, Any]) -> None:
    custom.create_namespaced_custom_object(
        GROUP,
        VERSION,
        namespace,
        SERVICES,
        builders.service(name, serviceType="web"),
    )
    if status:
        set_status(custom, namespace, SERVICES, name, status)


def add_workflow(
    custom: Any, namespace: str, name: str, steps: list[str], status: dict[str, Any]
) -> None:
    custom.create_namespaced_custom_object(
        GROUP,
        VERSION,
        namespace,
        WORKFLOWS,
        builders.workflow(
            name, [{"name": s, "action": "delay", "params": {"seconds": 1}} for s in steps]
        ),
    )
    set_status(custom, namespace, WORKFLOWS, name, status)


def set_status(custom: Any, namespace: str, plural: str, name: str, status: dict[str, Any]) -> None:
    custom.patch_namespaced_custom_object_status(
        GROUP, VERSION, namespace, plural, name, {"status": status}
    )


def steps(*phases: tuple[str, str]) -> list[dict[str, Any]]:
    return [
        {"name": name, "phase": phase, "attempts": 0 if phase == "Pending" else 1}
        for name, phase in phases
    ]


@pytest.fixture
def halted_engine(custom: Any) -> Iterator[None]:
    """The engine `default` in a manual emergency halt; put back as it was afterwards."""
    try:
        before = custom.get_cluster_custom_object(GROUP, VERSION, ENGINES, "default")
    except Exception:
        before = None
        custom.create_cluster_custom_object(
            GROUP,
            VERSION,
            ENGINES,
            builders.engine({}),
        )
    halt = {
        "type": "EmergencyHalt",
        "status": "True",
        "reason": "Manual",
        "message": "DB maintenance",
        "lastTransitionTime": now(),
    }
    custom.patch_cluster_custom_object_status(
        GROUP,
        VERSION,
        ENGINES,
        "default",
        {"status": {"phase": "EMERGENCY_HALT", "healthScore": 62.5, "conditions": [halt]}},
    )
    try:
        yield
    finally:
        if before is None:
            custom.delete_cluster_custom_object(GROUP, VERSION, ENGINES, "default")
        else:
            current = custom.get_cluster_custom_object(GROUP, VERSION, ENGINES, "default")
            current["status"] = before.get("status") or {}
            custom.replace_cluster_custom_object_status(GROUP, VERSION, ENGINES, "default", current)


@pytest.fixture
def shop(kube_api: Any) -> Iterator[str]:
    """A namespace with a short name, so the frame (pasted into the README) reads well."""
    yield from cleaned_namespace(kube_api, f"shop-{secrets.token_hex(3)}")


@pytest.fixture
def known_objects(custom: Any, kube_api: Any, shop: str, halted_engine: None) -> str:
    """Three services, four workflows and two Events, with the status the operator would
    have written."""
    namespace = shop
    add_service(
        custom,
        namespace,
        "payments",
        {
            "health": "HEALTHY",
            "lastLatencyMs": 12.5,
            "uptimePercent": 99.95,
            "replicas": {"desired": 2, "ready": 2},
        },
    )
    add_service(
        custom,
        namespace,
        "postgres",
        {
            "health": "FAILED",
            "activeTarget": "standby",
            "lastLatencyMs": 950.0,
            "uptimePercent": 97.2,
            "replicas": {"desired": 1, "ready": 0},
            "failoverCount": 1,
        },
    )
    add_service(custom, namespace, "search", {})
    add_workflow(
        custom,
        namespace,
        "nightly-maintenance",
        ["drain", "migrate", "warm-cache", "verify"],
        {
            "phase": "Running",
            "progress": 50.0,
            "steps": steps(
                ("drain", "Succeeded"),
                ("migrate", "Succeeded"),
                ("warm-cache", "Running"),
                ("verify", "Pending"),
            ),
        },
    )
    add_workflow(
        custom,
        namespace,
        "scale-out",
        ["scale", "verify"],
        {
            "phase": "Queued",
            "queuePosition": 1,
            "message": "waiting for capacity: 1 of 1 workflows running",
        },
    )
    add_workflow(
        custom,
        namespace,
        "recovery",
        ["failover", "restart", "verify"],
        {
            "phase": "RolledBack",
            "progress": 100.0,
            "message": "step restart failed: timed out after 120s",
            "reason": "StepFailed",
            "steps": steps(("failover", "Succeeded"), ("restart", "Failed"), ("verify", "Skipped")),
        },
    )
    add_workflow(
        custom,
        namespace,
        "db-backup",
        ["dump", "upload"],
        {
            "phase": "Succeeded",
            "progress": 100.0,
            "message": "all steps succeeded",
            "steps": steps(("dump", "Succeeded"), ("upload", "Succeeded")),
        },
    )
    from kubernetes import client

    core = client.CoreV1Api(kube_api)
    for name, reason, kind, message in (
        ("postgres", "HealthChanged", "Warning", "health HEALTHY -> FAILED: 3 checks failed"),
        ("postgres", "FailedOver", "Warning", "traffic switched to the standby postgres-standby"),
    ):
        core.create_namespaced_event(
            namespace,
            {
                "metadata": {"generateName": f"{name}.", "namespace": namespace},
                "involvedObject": {
                    "apiVersion": f"{GROUP}/{VERSION}",
                    "kind": "OrchestratedService",
                    "name": name,
                    "namespace": namespace,
                },
                "reason": reason,
                "message": message,
                "type": kind,
                "source": {"component": "orchestration-engine"},
                "firstTimestamp": now(),
                "lastTimestamp": now(),
                "count": 1,
            },
        )
        time.sleep(1.1)  # distinct seconds: a stable newest-first order
    return namespace


def row(lines: list[str], name: str) -> list[str]:
    return next(line.split() for line in lines if len(line.split()) > 1 and line.split()[1] == name)


def test_once_prints_one_plain_frame_of_the_known_objects(
    known_objects: str, control_plane: Any
) -> None:
    namespace = known_objects
    result = watch_once(control_plane.kubeconfig, "--namespace", namespace)
    assert result.returncode == 0, result.stderr
    print(result.stdout)  # the README's capture comes from here
    assert "\x1b" not in result.stdout  # not a terminal: plain text
    lines = result.stdout.splitlines()
    assert lines[0] == f"orchestration-engine watch: namespace {namespace}"
    assert lines[1] == (
        "engine default: phase EMERGENCY_HALT, emergency halt YES (Manual: DB maintenance), "
        "health score 62.5"
    )

    # Services, worst first, with their latency, uptime, replicas and target.
    assert "SERVICES (3)" in lines
    assert row(lines, "postgres") == [
        namespace,
        "postgres",
        "FAILED",
        "950.0",
        "ms",
        "97.20%",
        "0/1",
        "standby",
    ]
    assert row(lines, "search")[2:] == ["UNKNOWN", "-", "-", "-", "primary"]
    assert row(lines, "payments")[2:] == ["HEALTHY", "12.5", "ms", "99.95%", "2/2", "primary"]
    order = [line.split()[1] for line in lines if line.startswith(namespace)][:3]
    assert order == ["postgres", "search", "payments"]

    # Workflows with a progress bar, the queue position, what runs or why it failed.
    assert "WORKFLOWS (4)" in lines
    assert row(lines, "nightly-maintenance")[2:6] == ["Running", "[#####-----]", "2/4", "-"]
    assert " ".join(row(lines, "nightly-maintenance")[6:]) == "running: warm-cache"
    assert row(lines, "scale-out")[2:6] == ["Queued", "[----------]", "0/2", "#1"]
    assert row(lines, "recovery")[2:5] == ["RolledBack", "[###-------]", "1/3"]
    assert "step restart failed: timed out after 120s" in " ".join(row(lines, "recovery"))
    assert row(lines, "db-backup")[2:5] == ["Succeeded", "[##########]", "2/2"]

    # Kubernetes Events about our kinds, newest first.
    events = lines[lines.index("EVENTS (newest 10, UTC)") + 2 :]
    assert [e.split()[4] for e in events] == ["FailedOver", "HealthChanged"]
    assert events[0].split()[1:4] == ["Warning", namespace, "osvc/postgres"]


def test_once_in_every_namespace_and_an_unreachable_cluster(
    known_objects: str, control_plane: Any, tmp_path: Path
) -> None:
    everywhere = watch_once(control_plane.kubeconfig)
    assert everywhere.returncode == 0, everywhere.stderr
    assert everywhere.stdout.startswith("orchestration-engine watch: all namespaces\n")
    # Columns are as wide as the longest namespace: other tests' services widen them.
    assert re.search(rf"^{known_objects}\s+postgres\s", everywhere.stdout, re.MULTILINE)

    missing = watch_once(tmp_path / "no-such-kubeconfig")
    assert missing.returncode == 1
    assert "could not read the cluster" in missing.stderr
    assert "Traceback" not in missing.stderr


class WatchProcess:
    """`watch` running as a real process, its stdout (not a terminal) read line by line."""

    def __init__(self, kubeconfig: Path, *args: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "orchestration_engine", "watch", *args],
            env=cli_env(kubeconfig),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: list[str] = []
        self._queue: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self._queue.put(line.rstrip("\n"))

    def frames(self) -> list[list[str]]:
        """Every complete frame so far (a frame ends at the blank line before the next)."""
        frames: list[list[str]] = []
        for line in self.lines:
            if line.startswith("orchestration-engine watch:"):
                frames.append([])
            if frames:
                frames[-1].append(line)
        return frames

    def wait_for_frame(self, predicate: Any, timeout: float = 20) -> list[str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with contextlib.suppress(queue.Empty):
                self.lines.append(self._queue.get(timeout=0.2))
            # The last frame may still be arriving; test those whose events header is in.
            for frame in self.frames():
                if any(line.startswith("EVENTS (") for line in frame) and predicate(frame):
                    return frame
        raise TimeoutError("no such frame; output so far:\n" + "\n".join(self.lines))

    def interrupt(self) -> tuple[int, str]:
        self.process.send_signal(signal.SIGINT)
        code = self.process.wait(timeout=20)
        assert self.process.stderr is not None
        return code, self.process.stderr.read()

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


def test_frames_follow_changes_through_the_watches(
    known_objects: str, control_plane: Any, custom: Any
) -> None:
    namespace = known_objects
    watcher = WatchProcess(control_plane.kubeconfig, "--namespace", namespace)
    try:
        first = watcher.wait_for_frame(lambda f: any(" payments " in line for line in f))
        assert row(first, "payments")[2] == "HEALTHY"

        set_status(custom, namespace, SERVICES, "payments", {"health": "DEGRADED"})
        changed = watcher.wait_for_frame(
            lambda f: any(" payments " in line and "DEGRADED" in line for line in f)
        )
        # Worst first: DEGRADED now sorts above UNKNOWN.
        order = [line.split()[1] for line in changed if line.startswith(namespace)][:3]
        assert order == ["postgres", "payments", "search"]

        set_status(
            custom,
            namespace,
            WORKFLOWS,
            "nightly-maintenance",
            {
                "steps": steps(
                    ("drain", "Succeeded"),
                    ("migrate", "Succeeded"),
                    ("warm-cache", "Succeeded"),
                    ("verify", "Running"),
                )
            },
        )
        watcher.wait_for_frame(
            lambda f: any("nightly-maintenance" in line and "3/4" in line for line in f)
        )
        custom.delete_namespaced_custom_object(GROUP, VERSION, namespace, WORKFLOWS, "db-backup")
        watcher.wait_for_frame(lambda f: "WORKFLOWS (3)" in f)
        code, stderr = watcher.interrupt()
    finally:
        watcher.kill()
    assert code == 0, stderr
    assert "Traceback" not in stderr


def test_ctrl_c_ends_watch_cleanly(crds: None, control_plane: Any) -> None:
    watcher = WatchProcess(control_plane.kubeconfig)
    try:
        watcher.wait_for_frame(lambda f: True)
        code, stderr = watcher.interrupt()
    finally:
        watcher.kill()
    assert code == 0, stderr
    assert "Traceback" not in stderr
    assert "Traceback" not in "\n".join(watcher.lines)


def test_once_reads_a_workflow_nested_as_deep_as_the_api_server_allows(
    custom: Any, namespace: str, control_plane: Any
) -> None:
    """The API server stores JSON nested 10,000 deep; Python's decoder counts each level
    against the recursion limit (1,000), so one such workflow made every listing of
    workflows fail, and with it `watch`, `report` and `status` for every namespace."""
    from orchestration_engine.plumbing.nesting import allow_api_server_nesting

    allow_api_server_nesting()  # for this process's client, which sends it
    deep: dict[str, Any] = {}
    for _ in range(2_000):
        deep = {"a": deep}
    custom.create_namespaced_custom_object(
        GROUP,
        VERSION,
        namespace,
        "orchestrationworkflows",
        builders.workflow(
            "deep", [{"name": "a", "action": "http", "params": {"url": "http://x", "body": deep}}]
        ),
    )
    result = watch_once(control_plane.kubeconfig, "--namespace", namespace)
    assert result.returncode == 0, result.stderr
    assert "deep" in result.stdout
