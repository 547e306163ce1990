"""The kube-apiserver killed (SIGKILL) and started again on the same port and etcd while the
operator reconciles: workflows mid-run, services being checked, one service's endpoint
changing its answer while the API server is away. The operator reconnects and converges:
the workflows Succeed, the service reaches the health its endpoint now gives, the engine's
status keeps updating (its heartbeat advances, its counts follow), no workflow action is
done twice, and the liveness endpoint does not stay failed.

A control plane of its own (not the session's): the others' tests must not see their API
server vanish. One restart with 5 s down; with FMEA_FULL=1, three with 20 s down.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fmea_disruption_support import (
    GROUP,
    VERSION,
    CountingServer,
    OperatorProcess,
    RestartableControlPlane,
    apply_crds,
    delay,
    engine,
    healthz,
    http_step,
    kube_client,
    moment,
    pick,
    quiet,
    steps,
    wait_for,
    workflow,
)

import builders

pytestmark = pytest.mark.cluster

RESTARTS = pick(1, 3)
DOWN_S = pick(5.0, 20.0)
CONVERGE_S = 30.0
SERVICES = ("steady-0", "steady-1", "steady-2", "flip")
NAMESPACE = "fmea-apiserver"


@pytest.fixture(scope="module")
def own_control_plane() -> Iterator[tuple[RestartableControlPlane, Any]]:
    with RestartableControlPlane() as plane:
        api = kube_client(plane.kubeconfig)
        try:
            apply_crds(api)
            yield plane, api
        finally:
            api.close()


class LivenessLog:
    """/healthz every 0.5 s in the background: (monotonic time, status code)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.samples: list[tuple[float, int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(0.5):
            self.samples.append((time.monotonic(), healthz(self.port, timeout=2)[0]))

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def failing_spells(self) -> list[float]:
        """How long each run of non-200 answers lasted, in seconds."""
        spells, began = [], None
        for at, code in self.samples:
            if code != 200 and began is None:
                began = at
            elif code == 200 and began is not None:
                spells.append(at - began)
                began = None
        if began is not None:
            spells.append(float("inf"))
        return spells


def converge(
    checks: dict[str, Callable[[], bool]], since: float, timeout: float
) -> dict[str, float]:
    """Seconds from ``since`` until each check first held; fails naming those that never did."""
    took: dict[str, float] = {}
    deadline = time.monotonic() + timeout
    while len(took) < len(checks):
        for name, check in checks.items():
            if name not in took and check():
                took[name] = time.monotonic() - since
        if time.monotonic() > deadline:
            missing = sorted(set(checks) - set(took))
            raise AssertionError(f"not converged {timeout:g} s after the restart: {missing}")
        time.sleep(0.25)
    return took


def http_check(url: str) -> dict[str, Any]:
    return {"http": {"url": url}, "periodSeconds": 1, "timeoutSeconds": 1}


@pytest.mark.timeout(pick(240, 600))
def test_apiserver_restart_mid_reconcile_converges_without_duplicates(
    own_control_plane: tuple[RestartableControlPlane, Any],
    server: CountingServer,
    tmp_path: Path,
) -> None:
    from kubernetes import client

    plane, api = own_control_plane
    custom = client.CustomObjectsApi(api)
    client.CoreV1Api(api).create_namespace({"metadata": {"name": NAMESPACE}})
    for name in SERVICES:
        custom.create_namespaced_custom_object(
            GROUP,
            VERSION,
            NAMESPACE,
            "orchestratedservices",
            builders.service(name, healthCheck=http_check(server.url(f"/health/{name}"))),
        )

    def health(name: str) -> str | None:
        return quiet(
            lambda: (
                custom.get_namespaced_custom_object(
                    GROUP, VERSION, NAMESPACE, "orchestratedservices", name
                ).get("status")
                or {}
            ).get("health"),
            None,
        )

    def heartbeat() -> str:
        return quiet(lambda: (engine(custom).get("status") or {}).get("heartbeatTime") or "", "")

    def phase(name: str) -> str | None:
        return quiet(
            lambda: (
                custom.get_namespaced_custom_object(
                    GROUP, VERSION, NAMESPACE, "orchestrationworkflows", name
                ).get("status")
                or {}
            ).get("phase"),
            None,
        )

    operator = OperatorProcess(
        plane.kubeconfig,
        tmp_path / "operator",
        "--namespace",
        NAMESPACE,
        "--watch-heartbeat-seconds",
        "3",
        "--watch-stall-seconds",
        "30",
        "--monitoring-interval-seconds",
        "2",
    )
    liveness: LivenessLog | None = None
    workflows: list[str] = []
    figures: list[str] = []
    try:
        operator.wait_ready(timeout=60)
        liveness = LivenessLog(operator.health_port)
        for name in SERVICES:
            wait_for(lambda n=name: health(n) == "HEALTHY", timeout=30, what=f"{name} HEALTHY")
        wait_for(heartbeat, timeout=30, what="a first heartbeat")

        for round_ in range(RESTARTS):
            names = [f"r{round_}-wf{i}" for i in range(2)]
            for name in names:
                custom.create_namespaced_custom_object(
                    GROUP,
                    VERSION,
                    NAMESPACE,
                    "orchestrationworkflows",
                    workflow(
                        name,
                        [
                            http_step("before", server.url(f"/{name}/before")),
                            # Ends while the API server is away: the next step must wait for
                            # its start to be recorded.
                            delay("across", DOWN_S / 2 + 2, dependsOn=["before"]),
                            http_step("after", server.url(f"/{name}/after"), dependsOn=["across"]),
                        ],
                    ),
                )
                workflows.append(name)
            for name in names:
                wait_for(
                    lambda n=name: (
                        steps(
                            custom.get_namespaced_custom_object(
                                GROUP, VERSION, NAMESPACE, "orchestrationworkflows", n
                            ).get("status")
                            or {}
                        )
                        .get("across", {})
                        .get("phase")
                        == "Running"
                    ),
                    timeout=30,
                    what=f"{name}'s delay running",
                )
            before = heartbeat()
            failing = server.answers.get("/health/flip", 200) == 200
            expected = "FAILED" if failing else "HEALTHY"

            plane.kill_apiserver()
            killed = time.monotonic()
            server.answers["/health/flip"] = 503 if failing else 200
            time.sleep(max(0.0, DOWN_S - (time.monotonic() - killed)))
            alive_during = operator.process.poll() is None
            ready_s = plane.start_apiserver()
            back = time.monotonic()

            took = converge(
                {
                    "heartbeat": lambda b=before: (
                        bool(heartbeat()) and moment(heartbeat()) > moment(b)
                    ),
                    "health": lambda e=expected: health("flip") == e,
                    "steady": lambda: all(health(n) == "HEALTHY" for n in SERVICES[:-1]),
                    "counts": lambda e=expected: (
                        quiet(lambda: engine(custom)["status"]["services"]["failed"], None)
                        == (1 if e == "FAILED" else 0)
                    ),
                    "workflows": lambda ns=tuple(names): all(phase(n) == "Succeeded" for n in ns),
                },
                since=back,
                timeout=90,
            )
            figures.append(
                f"restart {round_ + 1}: down {back - killed - ready_s:.1f} s + "
                f"{ready_s:.1f} s to ready; after it, heartbeat back in "
                f"{took['heartbeat']:.1f} s, flip {expected} in {took['health']:.1f} s, "
                f"engine counts in {took['counts']:.1f} s, workflows Succeeded in "
                f"{took['workflows']:.1f} s; operator alive during: {alive_during}"
            )
            print(figures[-1], flush=True)
            assert alive_during
            # Well within a status heartbeat (60 s): nothing waited for one to be corrected.
            assert max(took.values()) < CONVERGE_S, took

        # Liveness: 200 again once the API server is back (kopf caches it for 10 s).
        wait_for(lambda: healthz(operator.health_port)[0] == 200, timeout=30, what="/healthz 200")
        assert operator.process.poll() is None, operator.log()
    except Exception:
        print(operator.log())
        raise
    finally:
        if liveness is not None:
            liveness.close()
        operator.stop()

    # Every workflow action exactly once: not even a re-sent request (the process never died).
    actions = {path: hits for path, hits in server.hits.items() if not path.startswith("/health")}
    assert actions == {f"/{n}/{step}": 1 for n in workflows for step in ("before", "after")}
    assert liveness is not None
    spells = liveness.failing_spells()
    assert all(spell != float("inf") for spell in spells), spells
    print(
        f"API server restarted {RESTARTS}x ({DOWN_S:g} s down): {len(workflows)} workflows "
        f"Succeeded, {len(actions)} http actions once each; /healthz sampled "
        f"{len(liveness.samples)} times, failing spells {[round(s, 1) for s in spells]} s",
        flush=True,
    )
