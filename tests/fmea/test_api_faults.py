"""Transient API faults on real sockets between the operator and the real API server: every
loop survives, state converges, each side effect happens once (docs/fmea.md, "API faults").

The operator reaches the API server through the TCP fault proxy (envtest/fault_proxy.py),
and each test plays one class of fault while a service is created and a workflow runs
(``http`` → ``delay`` → ``http``, the ``http`` steps counted by a server on 127.0.0.1):
connections reset, connections closed gracefully (aiohttp's ``ServerDisconnectedError``),
every chunk delayed, every open connection silent while new ones work, 429 with
``Retry-After``, 503. The API server's own restart is test_apiserver_restarted.py.

Asserted, for each class: the service created during the fault is HEALTHY and a service
whose check fails after the fault is written FAILED and then HEALTHY again (status writes
flow); both workflows (one during, one after) Succeeded with every ``http`` request received
once and one ``Running`` and one ``Succeeded`` Event each (the Event poster runs, and never
posts twice); no loop had to be restarted; ``/healthz`` answered 200 throughout. For the
silent connections: the service created then is written HEALTHY within 60 s (it took 71 s
before, when only kopf's 70 s inactivity timeout noticed a silent watch).
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fmea_inputs_support import (
    GROUP,
    VERSION,
    CountingServer,
    OperatorProcess,
    delay,
    metric_total,
    pick,
    wait_for,
    workflow,
)

import builders
from envtest.fault_proxy import FaultProxy

pytestmark = pytest.mark.cluster

SERVICES = "orchestratedservices"
WORKFLOWS = "orchestrationworkflows"
REPEATS = pick(3, 10)  # resets / closes, one a second
DELAYED_S = pick(5, 20)
ANSWERED = pick(20, 100)  # 429s / 503s
# Below the 60 s status heartbeat: a transition lost rather than retried shows as a failure.
CONVERGE_S = 45
# The bound for a silent connection: noticed "well under a minute", as client-go.
SILENT_NOTICED_S = 60


@dataclass
class Env:
    proxy: FaultProxy
    operator: OperatorProcess
    server: CountingServer
    namespace: str
    custom: Any
    core: Any
    healthz: Counter[int]


@pytest.fixture(scope="module")
def env(
    control_plane: Any, kube_api: Any, crds: None, module_namespace: str, tmp_path_factory: Any
) -> Iterator[Env]:
    from kubernetes import client

    workdir = Path(tmp_path_factory.mktemp("api-faults"))
    proxy = FaultProxy(Path(control_plane.kubeconfig))
    server = CountingServer()
    operator = OperatorProcess(
        proxy.write_kubeconfig(workdir / "proxied-kubeconfig"),
        workdir / "operator",
        "--namespace",
        module_namespace,
    )
    custom = client.CustomObjectsApi(kube_api)
    healthz: Counter[int] = Counter()
    stop = threading.Event()

    def sample() -> None:
        import urllib.error
        import urllib.request

        url = f"http://127.0.0.1:{operator.health_port}/healthz"
        while not stop.wait(0.5):
            try:
                with urllib.request.urlopen(url, timeout=5) as answer:
                    healthz[answer.status] += 1
            except urllib.error.HTTPError as error:
                healthz[error.code] += 1
            except OSError:
                healthz[0] += 1

    sampler = threading.Thread(target=sample, daemon=True)
    try:
        operator.wait_ready(timeout=60)
        sampler.start()
        create_service(custom, module_namespace, "steady", server.url("/health/steady"))
        yield Env(
            proxy, operator, server, module_namespace, custom, client.CoreV1Api(kube_api), healthz
        )
    finally:
        stop.set()
        operator.stop()
        proxy.shutdown()
        server.close()


def create_service(custom: Any, namespace: str, name: str, url: str) -> None:
    custom.create_namespaced_custom_object(
        GROUP,
        VERSION,
        namespace,
        SERVICES,
        builders.service(name, healthCheck={"http": {"url": url}, "periodSeconds": 1}),
    )


def health(env: Env, name: str) -> str | None:
    obj = env.custom.get_namespaced_custom_object(GROUP, VERSION, env.namespace, SERVICES, name)
    return (obj.get("status") or {}).get("health")


def phase(env: Env, name: str) -> str | None:
    obj = env.custom.get_namespaced_custom_object(GROUP, VERSION, env.namespace, WORKFLOWS, name)
    return (obj.get("status") or {}).get("phase")


def start_workflow(env: Env, name: str) -> None:
    def http(step: str, **fields: Any) -> dict[str, Any]:
        url = env.server.url(f"/wf/{name}/{step}")
        return {"name": step, "action": "http", "params": {"url": url, "method": "POST"}, **fields}

    body = workflow(name, [http("first"), delay("pause", 1, dependsOn=["first"])])
    body["spec"]["steps"].append(http("last", dependsOn=["pause"]))
    env.custom.create_namespaced_custom_object(GROUP, VERSION, env.namespace, WORKFLOWS, body)


def reasons(env: Env, name: str) -> Counter[str]:
    found = env.core.list_namespaced_event(
        env.namespace, field_selector=f"involvedObject.name={name}"
    )
    return Counter(e.reason for e in found.items)


def exercise(env: Env, fault: str, start: Callable[[], None], hold: Callable[[], None]) -> None:
    """The fault starts; a service and a workflow are created; ``hold`` plays the fault out
    and ends it. Then one more workflow, and the steady service fails and recovers."""
    wait_for(lambda: health(env, "steady") == "HEALTHY", timeout=CONVERGE_S, what="steady")
    restarts_before = metric_total(env.operator.metrics(), "eoe_loop_restarts_total")
    during, after, service = f"wf-{fault}", f"wf-{fault}-after", f"svc-{fault}"
    start()
    started = time.monotonic()
    create_service(env.custom, env.namespace, service, env.server.url(f"/health/{service}"))
    start_workflow(env, during)
    hold()
    start_workflow(env, after)
    env.server.answers["/health/steady"] = 500
    wait_for(lambda: health(env, "steady") == "FAILED", timeout=CONVERGE_S, what="steady FAILED")
    env.server.answers.pop("/health/steady")
    wait_for(lambda: health(env, "steady") == "HEALTHY", timeout=CONVERGE_S, what="steady back")
    wait_for(lambda: health(env, service) == "HEALTHY", timeout=CONVERGE_S, what=service)
    for name in (during, after):
        wait_for(lambda n=name: phase(env, n) == "Succeeded", timeout=CONVERGE_S, what=name)
        for step in ("first", "last"):
            assert env.server.hits[f"/wf/{name}/{step}"] == 1, (name, step)
        seen = wait_for(
            lambda n=name: (c := reasons(env, n))["Running"] and c["Succeeded"] and c,
            timeout=CONVERGE_S,
            what=f"{name}'s Events",
        )
        assert (seen["Running"], seen["Succeeded"]) == (1, 1), (name, seen)
    text = env.operator.metrics()
    assert metric_total(text, "eoe_loop_restarts_total") == restarts_before, env.operator.log()
    assert env.operator.process.poll() is None
    assert set(env.healthz) == {200}, env.healthz
    print(
        f"\n{fault}: converged {time.monotonic() - started:.1f} s after it began; "
        f"retries {metric_total(text, 'eoe_api_request_retries_total'):g}, "
        f"transport errors {metric_total(text, 'eoe_api_transport_errors_total'):g}, "
        f"status write errors {metric_total(text, 'eoe_status_write_errors_total'):g}; "
        f"proxy: {env.proxy.connections} connections, resets {env.proxy.resets}, "
        f"closes {env.proxy.closes}, answered {dict(env.proxy.answered)}"
    )


def operator_write(method: str, path: str) -> bool:
    """The operator's own writes: status patches and Events (kopf's watches are cut by the
    connection faults themselves)."""
    return method in ("PATCH", "POST") and (path.endswith("/status") or path.endswith("/events"))


def cutting(env: Env, action: Callable[[], int], *, reset: bool) -> Callable[[], None]:
    """Every open connection closed (or reset) once a second, and every write of the
    operator's cut as it arrives meanwhile, so requests in flight meet the fault too."""

    def hold() -> None:
        env.proxy.cut(reset=reset, match=operator_write)
        for _ in range(REPEATS):
            action()
            time.sleep(1)  # the fault's own rhythm: one a second
        env.proxy.stop_answering()

    return hold


def test_connections_reset(env: Env) -> None:
    exercise(env, "reset", env.proxy.reset, cutting(env, env.proxy.reset, reset=True))


def test_connections_closed_gracefully(env: Env) -> None:
    exercise(env, "close", env.proxy.close, cutting(env, env.proxy.close, reset=False))


def test_every_chunk_delayed(env: Env) -> None:
    def hold() -> None:
        time.sleep(DELAYED_S)  # the fault lasts this long
        env.proxy.delay(0)

    exercise(env, "delay", lambda: env.proxy.delay(0.5), hold)


def test_open_connections_go_silent(env: Env) -> None:
    """Every open connection silent, new ones working: noticed well under a minute."""
    began: list[float] = []

    def start() -> None:
        assert env.proxy.blackhole() > 0
        began.append(time.monotonic())

    def hold() -> None:
        wait_for(
            lambda: health(env, "svc-silent") == "HEALTHY",
            timeout=SILENT_NOTICED_S,
            what="the service created while the connections were silent, HEALTHY",
        )
        print(f"\nsilent: the new service was HEALTHY after {time.monotonic() - began[0]:.1f} s")
        env.proxy.heal()

    exercise(env, "silent", start, hold)


@pytest.mark.parametrize(("status", "retry_after"), [(429, 1.0), (503, None)])
def test_throttled_and_unavailable(env: Env, status: int, retry_after: float | None) -> None:
    def start() -> None:
        env.proxy.answer(status, retry_after=retry_after, count=ANSWERED)

    def hold() -> None:
        wait_for(lambda: not env.proxy.answering, timeout=120, what=f"{ANSWERED} x {status}")

    exercise(env, str(status), start, hold)
