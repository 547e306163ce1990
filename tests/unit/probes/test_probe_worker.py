"""The probe worker as a real child process: targets go in, results come back, removal
stops them, and a worker that dies is started again with every target."""

from __future__ import annotations

import asyncio
import os
import signal

from http_support import CountingServer
from orchestration_engine.core.prober_health import FailureKind
from orchestration_engine.probes.remote import RemoteProbeScheduler
from orchestration_engine.probes.result import CheckResult
from orchestration_engine.probes.routing import RoutingScheduler
from orchestration_engine.probes.target import ProbeTarget


class Results:
    def __init__(self) -> None:
        self.by_key: dict[tuple[str, str], list[CheckResult]] = {}

    def __call__(self, key: tuple[str, str], result: CheckResult) -> None:
        self.by_key.setdefault(key, []).append(result)

    async def until(self, key: tuple[str, str], count: int, timeout: float = 10) -> None:
        async with asyncio.timeout(timeout):
            while len(self.by_key.get(key, [])) < count:
                await asyncio.sleep(0.02)


def http_target(url: str) -> ProbeTarget:
    return ProbeTarget("http", 1.0, url=url, expected_status=(200,))


async def test_checks_run_in_the_worker_and_results_come_back(server: CountingServer) -> None:
    server.answers["/sick"] = 503
    results = Results()
    async with RemoteProbeScheduler(results) as remote:
        remote.upsert(("ns", "up"), http_target(server.url("/ok")), 0.2)
        remote.upsert(("ns", "down"), http_target(server.url("/sick")), 0.2)
        await results.until(("ns", "up"), 2)
        await results.until(("ns", "down"), 2)
        assert remote.pid != os.getpid()
    up, down = results.by_key[("ns", "up")][0], results.by_key[("ns", "down")][0]
    assert up.ok
    assert up.latency_ms is not None
    assert not down.ok
    assert "503" in down.message
    # The kind crosses the pipe too: the prober's self-suspicion weighs it.
    assert up.kind is None
    assert down.kind is FailureKind.HTTP_STATUS


async def test_removal_stops_a_target_s_checks(server: CountingServer) -> None:
    results = Results()
    async with RemoteProbeScheduler(results) as remote:
        remote.upsert(("ns", "a"), http_target(server.url("/ok")), 0.1)
        await results.until(("ns", "a"), 1)
        remote.remove(("ns", "a"))
        await asyncio.sleep(0.2)
        seen = len(results.by_key[("ns", "a")])
        await asyncio.sleep(0.5)
        assert len(results.by_key[("ns", "a")]) == seen
        assert len(remote) == 0


async def test_a_dead_worker_is_restarted_with_every_target(server: CountingServer) -> None:
    results = Results()
    async with RemoteProbeScheduler(results) as remote:
        remote.upsert(("ns", "a"), http_target(server.url("/ok")), 0.1)
        await results.until(("ns", "a"), 1)
        first = remote.pid
        assert first is not None
        os.kill(first, signal.SIGKILL)
        seen = len(results.by_key[("ns", "a")])
        await results.until(("ns", "a"), seen + 2, timeout=15)
        assert remote.restarts == 1
        assert remote.pid != first


class Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple[str, str]]] = []

    def upsert(self, key: tuple[str, str], target: ProbeTarget, period_s: float) -> None:
        self.calls.append(("upsert", key))

    def remove(self, key: tuple[str, str]) -> None:
        self.calls.append(("remove", key))


def test_routing_sends_network_checks_away_and_moves_a_service_that_changes_kind() -> None:
    network, local = Recorder(), Recorder()
    routing = RoutingScheduler(network=network, local=local)
    key = ("ns", "svc")
    routing.upsert(key, ProbeTarget("tcp", 1.0, host="db", port=5432), 10)
    routing.upsert(key, ProbeTarget("workload", 1.0), 10)
    routing.remove(key)
    assert network.calls == [("upsert", key), ("remove", key)]
    assert local.calls == [("upsert", key), ("remove", key)]
