"""Leader election (``run --leader-elect``) against the real API server, with operators as
real processes: only the leader acts, a standby takes over when the leader dies or steps
down, and a leader whose lease is taken stops acting.

Short timings keep the file quick; the same code runs with 15/10/2 s in production
(tests/bench/bench_takeover.py measures those).
"""

from __future__ import annotations

import os
import re
import signal
import time
import urllib.request
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from integration_support import OperatorProcess, wait_for
from workflow_support import create, phase, wait_phase, workflow

from http_support import CountingServer

LEASE_NAME = "orchestration-engine-leader"
LEASE_S, RENEW_S, RETRY_S = 4.0, 3.0, 0.5
FAST = (
    "--lease-duration-seconds",
    str(LEASE_S),
    "--renew-deadline-seconds",
    str(RENEW_S),
    "--retry-period-seconds",
    str(RETRY_S),
)
# Slack for the standby's poll of the Lease on a busy machine, past expiry plus one retry.
TAKEOVER_MARGIN_S = 3.0

Start = Callable[..., OperatorProcess]


@pytest.fixture
def start(
    control_plane: Any,
    crds: None,
    namespace: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Start]:
    """Starts candidates watching the test's namespace, with the Lease in it too."""
    monkeypatch.setenv("POD_NAMESPACE", namespace)
    started: list[OperatorProcess] = []

    def start_one(name: str, *timings: str) -> OperatorProcess:
        process = OperatorProcess(
            control_plane.kubeconfig,
            tmp_path / name,
            "--namespace",
            namespace,
            "--leader-elect",
            *(timings or FAST),
        )
        started.append(process)
        return process

    yield start_one
    for process in started:
        process.stop()


def read_lease(kube_api: Any, namespace: str) -> Any:
    from kubernetes import client

    try:
        return client.CoordinationV1Api(kube_api).read_namespaced_lease(LEASE_NAME, namespace)
    except client.ApiException as error:
        if error.status == 404:
            return None
        raise


def holder(kube_api: Any, namespace: str) -> str:
    lease = read_lease(kube_api, namespace)
    return (lease.spec.holder_identity or "") if lease is not None else ""


def pid_of(identity: str) -> int | None:
    """Identities are ``host_pid_suffix``."""
    parts = identity.rsplit("_", 2)
    return int(parts[1]) if len(parts) == 3 and parts[1].isdigit() else None


def leader_among(kube_api: Any, namespace: str, *candidates: OperatorProcess) -> OperatorProcess:
    by_pid = {c.pid: c for c in candidates}
    found = wait_for(
        lambda: by_pid.get(pid_of(holder(kube_api, namespace)) or -1),
        timeout=30,
        what="one of the candidates to hold the lease",
    )
    return found  # type: ignore[no-any-return]


def leader_metric(process: OperatorProcess) -> float | None:
    match = re.search(r"^eoe_leader (\S+)$", process.metrics(), re.MULTILINE)
    return float(match.group(1)) if match else None


def healthz(process: OperatorProcess) -> int:
    url = f"http://127.0.0.1:{process.health_port}/healthz"
    with urllib.request.urlopen(url, timeout=5) as response:
        return int(response.status)


def post_step(server: CountingServer, path: str) -> list[dict[str, Any]]:
    return [
        {"name": "call", "action": "http", "params": {"url": server.url(path), "method": "POST"}}
    ]


def test_one_acts_and_a_standby_takes_over_when_the_leader_is_killed(
    start: Start, kube_api: Any, custom: Any, namespace: str, server: CountingServer
) -> None:
    first, second = start("a"), start("b")
    first.wait_ready()
    second.wait_ready()
    leader = leader_among(kube_api, namespace, first, second)
    standby = second if leader is first else first
    wait_for(lambda: leader_metric(leader) == 1.0, what="eoe_leader 1 on the leader")
    assert leader_metric(standby) == 0.0
    assert healthz(standby) == 200  # the standby's own endpoint: its liveness probe passes

    create(custom, namespace, workflow("before", post_step(server, "/before")))
    wait_phase(custom, namespace, "before", "Succeeded")
    assert server.hits["/before"] == 1, "the standby acted too"
    assert healthz(leader) == 200

    os.killpg(leader.pid, signal.SIGKILL)
    killed = time.monotonic()
    create(custom, namespace, workflow("after", post_step(server, "/after")))
    # The takeover's bound is the lease's: the standby only polls the Lease, which a busy
    # machine does not slow much. How soon it then acts is kopf's start-up, measured by the
    # takeover benchmark (tests/bench), not bounded here.
    wait_for(
        lambda: pid_of(holder(kube_api, namespace)) == standby.pid,
        timeout=LEASE_S + RETRY_S + TAKEOVER_MARGIN_S + 10,
        interval=0.05,
        what="the standby to take the lease",
    )
    elapsed = time.monotonic() - killed
    assert elapsed < LEASE_S + RETRY_S + TAKEOVER_MARGIN_S, standby.log()
    wait_for(
        lambda: phase(custom, namespace, "after") in {"Running", "Succeeded"},
        timeout=30,
        what="the standby to admit a workflow",
    )
    wait_phase(custom, namespace, "after", "Succeeded")
    assert server.hits["/after"] == 1
    assert leader_metric(standby) == 1.0


def test_a_leader_stopped_by_sigterm_hands_the_lease_over_at_once(
    start: Start, kube_api: Any, namespace: str
) -> None:
    # A 20 s lease: a takeover well inside it can only come from the release.
    slow = ("--lease-duration-seconds", "20", "--renew-deadline-seconds", "15")
    slow += ("--retry-period-seconds", str(RETRY_S))
    first, second = start("a", *slow), start("b", *slow)
    first.wait_ready()
    second.wait_ready()
    leader = leader_among(kube_api, namespace, first, second)
    standby = second if leader is first else first
    wait_for(lambda: "standing by" in standby.text(), what="the standby to look at the lease")

    leader.process.send_signal(signal.SIGTERM)
    stopped = time.monotonic()
    released_seen: list[float] = []

    def standby_holds() -> bool:
        identity = holder(kube_api, namespace)
        if not identity and not released_seen:
            released_seen.append(time.monotonic())
        return pid_of(identity) == standby.pid

    wait_for(standby_holds, timeout=15, interval=0.05, what="the standby to take the lease")
    took_over = time.monotonic()
    assert took_over - stopped < 10, leader.log()  # its own shutdown, then one retry period
    if released_seen:
        assert took_over - released_seen[0] < RETRY_S + 2.0
    assert leader.process.wait(timeout=20) == 0
    assert "released lease" in leader.text()


def test_a_leader_whose_lease_is_taken_stops_acting(
    start: Start, kube_api: Any, custom: Any, namespace: str, server: CountingServer
) -> None:
    from kubernetes import client

    leader = start("a")
    leader.wait_ready()
    leader_among(kube_api, namespace, leader)

    # Another holder, freshly renewed, for a minute: as if the leader had been cut off and
    # someone else had taken over.
    leases = client.CoordinationV1Api(kube_api)
    lease = read_lease(kube_api, namespace)
    body = kube_api.sanitize_for_serialization(lease)  # resourceVersion: a conditional write
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    body["spec"].update(
        {"holderIdentity": "intruder", "renewTime": now, "leaseDurationSeconds": 60}
    )
    leases.replace_namespaced_lease(LEASE_NAME, namespace, body)
    taken = time.monotonic()

    code = leader.process.wait(timeout=RENEW_S + 5)
    elapsed = time.monotonic() - taken
    assert code == 1
    assert elapsed < RENEW_S, "noticed only at the renew deadline, not on its next renewal"
    assert "lost leadership of lease" in leader.text()
    assert holder(kube_api, namespace) == "intruder"

    create(custom, namespace, workflow("orphan", post_step(server, "/orphan")))
    time.sleep(2)
    assert phase(custom, namespace, "orphan") is None
    assert server.hits["/orphan"] == 0
