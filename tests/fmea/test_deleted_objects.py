"""A deleted object's work stops, and nothing runs twice (docs/fmea.md, "Deleted objects").

Against the real API server, with a real HTTP server on 127.0.0.1 that holds each request
until released and sees the operator hang up:

- a workflow deleted while its ``http`` step is in flight: the call is made once, the runner
  stops (the operator hangs up the held call) and never starts again; a new workflow with
  the deleted one's name then runs afresh, once;
- deletions the operator never hears of, for real: the API server is stopped, the objects
  are deleted in etcd and etcd is compacted, and the API server started again, so the
  operator's watches cannot resume and re-list, and no DELETED event is ever sent. The
  operator's own LIST finds them gone: the deleted workflow's runner stops (its held call
  is hung up, never repeated), the deleted service is no longer probed.
"""

from __future__ import annotations

import base64
import json
import select
import socket
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fmea_disruption_support import (
    GROUP,
    VERSION,
    OperatorProcess,
    RestartableControlPlane,
    apply_crds,
    delay,
    http_step,
    kube_client,
    metric_sum,
    pick,
    quiet,
    wait_for,
    workflow,
)

import builders
from http_support import LocalServer, QuietHandler

pytestmark = pytest.mark.cluster

WORKFLOWS = "orchestrationworkflows"
SERVICES = "orchestratedservices"
STOPPED_WITHIN_S = 20.0
# Workflows (each with a call held) and services deleted behind the watch. Below the engine's
# default of 10 concurrent workflows, with the sibling.
DELETED_BEHIND = pick(1, 8)


class HoldingServer(LocalServer):
    """Counts requests by path; holds each request to a held path until ``release()``, and
    counts the ones whose client hung up while held."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        self.hung_up: Counter[str] = Counter()
        self.held: str | None = "/hold"  # the paths held: those starting with this
        self._released = threading.Event()
        lock = threading.Lock()
        owner = self

        class Handler(QuietHandler):
            def _answer(self) -> None:
                self.read_body()
                with lock:
                    owner.calls[self.path] += 1
                held = owner.held is not None and self.path.startswith(owner.held)
                if held and not owner._wait(self.connection):
                    with lock:
                        owner.hung_up[self.path] += 1
                    return
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            do_GET = do_POST = _answer

        super().__init__(Handler, daemon_threads=True)

    def _wait(self, connection: socket.socket) -> bool:
        """True once released; False when the client closed the connection first."""
        while not self._released.is_set():
            readable, _, _ = select.select([connection], [], [], 0.1)
            if readable and connection.recv(1, socket.MSG_PEEK) == b"":
                return False
        return True

    def total(self, counts: Counter[str], prefix: str) -> int:
        return sum(n for path, n in list(counts.items()) if path.startswith(prefix))

    def release(self) -> None:
        self._released.set()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def close(self) -> None:
        self.release()
        super().close()


@pytest.fixture
def holder() -> Iterator[HoldingServer]:
    server = HoldingServer()
    yield server
    server.close()


def exists(custom: Any, namespace: str, name: str) -> bool:
    from kubernetes.client import ApiException

    try:
        custom.get_namespaced_custom_object(GROUP, VERSION, namespace, WORKFLOWS, name)
    except ApiException as error:
        if error.status == 404:
            return False
        raise
    return True


def phase(custom: Any, namespace: str, name: str) -> str | None:
    body = custom.get_namespaced_custom_object(GROUP, VERSION, namespace, WORKFLOWS, name)
    return (body.get("status") or {}).get("phase")


@pytest.mark.parametrize("propagation", ["Background", "Foreground"])
def test_a_workflow_deleted_mid_call_makes_it_once_and_a_new_one_runs_afresh(
    operator: OperatorProcess,
    custom: Any,
    namespace: str,
    holder: HoldingServer,
    propagation: str,
) -> None:
    """Foreground: the object stays, terminating, until its dependents are gone (here for
    ever: no garbage collector runs), as it does under any finalizer; it counts as deleted."""
    held = workflow("held", [http_step("call", holder.url("/hold"), timeoutSeconds=120)])
    custom.create_namespaced_custom_object(GROUP, VERSION, namespace, WORKFLOWS, held)
    wait_for(lambda: holder.calls["/hold"] == 1, what="the http step's call", timeout=30)

    custom.delete_namespaced_custom_object(
        GROUP, VERSION, namespace, WORKFLOWS, "held", propagation_policy=propagation
    )
    wait_for(
        lambda: holder.hung_up["/hold"] == 1,
        what="the deleted workflow's runner to stop (its call hung up)",
        timeout=STOPPED_WITHIN_S,
    )
    if propagation == "Foreground":  # what the garbage collector would do at last
        custom.patch_namespaced_custom_object(
            GROUP,
            VERSION,
            namespace,
            WORKFLOWS,
            "held",
            [{"op": "remove", "path": "/metadata/finalizers"}],
            _content_type="application/json-patch+json",
        )
    wait_for(lambda: not exists(custom, namespace, "held"), what="the deleted workflow gone")

    # The same name again, with a step that answers at once: it runs afresh, once.
    holder.held = None
    again = workflow("held", [http_step("call", holder.url("/hold"))])
    custom.create_namespaced_custom_object(GROUP, VERSION, namespace, WORKFLOWS, again)
    wait_for(lambda: phase(custom, namespace, "held") == "Succeeded", what="the new workflow")
    # A later workflow's end bounds what the old one could still have done.
    marker = workflow("marker", [http_step("mark", holder.url("/marker"))])
    custom.create_namespaced_custom_object(GROUP, VERSION, namespace, WORKFLOWS, marker)
    wait_for(lambda: phase(custom, namespace, "marker") == "Succeeded", what="the marker")
    assert holder.calls["/hold"] == 2, holder.calls  # the deleted one's once, the new one's once
    assert holder.hung_up["/hold"] == 1


# --- deletions never reported ---------------------------------------------------------------


def etcd_url(plane: RestartableControlPlane) -> str:
    flag = next(f for f in plane.apiserver_flags if f.startswith("--etcd-servers="))
    return flag.split("=", 1)[1]


def etcd(plane: RestartableControlPlane, call: str, body: dict[str, Any]) -> dict[str, Any]:
    request = urllib.request.Request(
        f"{etcd_url(plane)}/v3/{call}",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        answer: dict[str, Any] = json.loads(response.read())
        return answer


def delete_behind_the_watch(plane: RestartableControlPlane, keys: list[str]) -> None:
    """Delete in etcd while the API server is down, then compact: no watch can resume past
    the deletions, so the API server never sends their DELETED events."""
    plane.kill_apiserver()
    revision = 0
    for key in keys:
        encoded = base64.b64encode(key.encode()).decode()
        answer = etcd(plane, "kv/deleterange", {"key": encoded})
        assert answer.get("deleted") == "1", (key, answer)
        revision = int(answer["header"]["revision"])
    etcd(plane, "kv/compaction", {"revision": str(revision), "physical": True})
    plane.start_apiserver()


@pytest.fixture(scope="module")
def own_control_plane() -> Iterator[tuple[RestartableControlPlane, Any]]:
    with RestartableControlPlane() as plane:
        api = kube_client(plane.kubeconfig)
        try:
            apply_crds(api)
            yield plane, api
        finally:
            api.close()


@pytest.mark.timeout(240)
def test_deletions_the_watch_never_reports_stop_the_runner_and_the_probes(
    own_control_plane: tuple[RestartableControlPlane, Any],
    holder: HoldingServer,
    tmp_path: Path,
) -> None:
    from kubernetes import client

    plane, api = own_control_plane
    custom = client.CustomObjectsApi(api)
    namespace = "fmea-missed-deletions"
    client.CoreV1Api(api).create_namespace({"metadata": {"name": namespace}})
    gone = [f"gone-{i}" for i in range(DELETED_BEHIND)]
    for name in [*gone, "kept"]:
        service = builders.service(
            name,
            healthCheck={
                "http": {"url": holder.url(f"/health/{name}")},
                "periodSeconds": 1,
                "timeoutSeconds": 1,
            },
        )
        custom.create_namespaced_custom_object(GROUP, VERSION, namespace, SERVICES, service)
    held = [f"held-{i}" for i in range(DELETED_BEHIND)]
    for name in held:
        call = http_step("call", holder.url(f"/hold/{name}"), timeoutSeconds=180)
        custom.create_namespaced_custom_object(
            GROUP, VERSION, namespace, WORKFLOWS, workflow(name, [call])
        )
    # A sibling that stays: kopf's re-list of workflows then reports it (and so a listing).
    sibling = workflow("sibling", [delay("wait", 600)])
    custom.create_namespaced_custom_object(GROUP, VERSION, namespace, WORKFLOWS, sibling)

    def calls(prefix: str) -> int:
        return holder.total(holder.calls, prefix)

    operator = OperatorProcess(plane.kubeconfig, tmp_path / "operator")
    try:
        operator.wait_ready(timeout=60)
        wait_for(
            lambda: calls("/hold/") == DELETED_BEHIND, what="the http steps' calls", timeout=60
        )
        wait_for(
            lambda: all(holder.calls[f"/health/{name}"] >= 2 for name in gone),
            what="probes of the services",
        )

        delete_behind_the_watch(
            plane,
            [f"/registry/{GROUP}/{WORKFLOWS}/{namespace}/{name}" for name in held]
            + [f"/registry/{GROUP}/{SERVICES}/{namespace}/{name}" for name in gone],
        )

        def relisted() -> float:
            return quiet(lambda: metric_sum(operator.metrics(), "eoe_relist_deletions_total"), 0.0)

        back = time.monotonic()
        # Under the http client's own 30 s timeout, which would also hang up.
        wait_for(
            lambda: holder.total(holder.hung_up, "/hold/") == DELETED_BEHIND,
            what="the runners of the workflows deleted behind the watch to stop",
            timeout=25,
        )
        print(f"runners stopped {time.monotonic() - back:.1f} s after the API server was back")
        wait_for(
            lambda: relisted() >= 2 * DELETED_BEHIND,
            what="every deletion found by the LIST",
            timeout=90,
        )

        def counted() -> tuple[int, int]:
            status = quiet(
                lambda: (
                    custom.get_cluster_custom_object(
                        GROUP, VERSION, "orchestrationengines", "default"
                    ).get("status")
                    or {}
                ),
                {},
            )
            services = (status.get("services") or {}).get("total", -1)
            return services, (status.get("workflows") or {}).get("total", -1)

        # No longer counted (the emergency halt's thresholds are judged on these counts).
        try:
            wait_for(lambda: counted() == (1, 1), what="the engine to count only what is left")
        except TimeoutError as error:
            raise AssertionError(f"{error}; counts (services, workflows): {counted()}") from None
        probes_then = calls("/health/gone-")
        kept_then = holder.calls["/health/kept"]
        # Bound by what the operator does meanwhile: five more checks of the kept service.
        wait_for(
            lambda: holder.calls["/health/kept"] >= kept_then + 5,
            what="the kept service's checks to go on",
            timeout=60,
        )
        assert calls("/health/gone-") <= probes_then + DELETED_BEHIND, holder.calls
        assert calls("/hold/") == DELETED_BEHIND, holder.calls  # none made again
        assert "never reported by the watch" in operator.text()
    finally:
        operator.stop()


# --- one writer at a time -------------------------------------------------------------------


async def test_a_status_write_of_step_progress_is_fenced_by_the_version_read(
    async_api: Any, custom: Any, namespace: str
) -> None:
    """What the runner relies on, asked of the real API server: a status write carrying the
    resourceVersion that was read gets a 409 once anyone moved the object (here a label),
    and the object of a new uid under the same name is never written by the old writer."""
    from orchestration_engine.kube.errors import Conflict
    from orchestration_engine.kube.status import StatusWriter

    writer = StatusWriter(async_api)
    body = workflow("fenced", [delay("wait", 600)], suspend=True)
    made = custom.create_namespaced_custom_object(GROUP, VERSION, namespace, WORKFLOWS, body)
    read_at = made["metadata"]["resourceVersion"]
    stored = await writer.write_now(
        WORKFLOWS, namespace, "fenced", {"message": "first"}, resource_version=read_at
    )
    moved = custom.patch_namespaced_custom_object(
        GROUP, VERSION, namespace, WORKFLOWS, "fenced", {"metadata": {"labels": {"a": "b"}}}
    )
    assert moved["metadata"]["resourceVersion"] != stored["metadata"]["resourceVersion"]
    with pytest.raises(Conflict):
        await writer.write_now(
            WORKFLOWS,
            namespace,
            "fenced",
            {"message": "stale"},
            resource_version=stored["metadata"]["resourceVersion"],
        )
    custom.delete_namespaced_custom_object(GROUP, VERSION, namespace, WORKFLOWS, "fenced")
    custom.create_namespaced_custom_object(GROUP, VERSION, namespace, WORKFLOWS, body)
    with pytest.raises(Conflict):  # the old one's version never fits the new object
        await writer.write_now(
            WORKFLOWS,
            namespace,
            "fenced",
            {"message": "old writer"},
            resource_version=moved["metadata"]["resourceVersion"],
        )
    now = custom.get_namespaced_custom_object(GROUP, VERSION, namespace, WORKFLOWS, "fenced")
    assert (now.get("status") or {}).get("message") != "old writer"
