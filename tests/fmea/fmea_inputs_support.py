"""Shared pieces of the bad-input and conflict failure-mode tests (test_malformed_manifests.py,
test_conflicts.py): the size knob, the fixtures the integration tests use, small servers on
127.0.0.1, and a proxy in front of the API server that answers 409 to the operator's writes
(its upstream and kubeconfig handling shared with the TCP fault proxy, envtest/fault_proxy.py).

Reused rather than rewritten: the operator as a child process (envtest/operator_process.py),
the CRDs' installation and ``wait_for`` (integration/integration_support.py), workflow bodies
and the counting HTTP server (integration/workflow_support.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

_TESTS = Path(__file__).resolve().parents[1]
for _path in (_TESTS, _TESTS / "integration"):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

from integration_support import (  # noqa: E402
    GROUP,
    VERSION,
    OperatorProcess,
    condition,
    wait_for,
)
from workflow_support import delay, workflow  # noqa: E402

from envtest.fault_proxy import ApiUpstream  # noqa: E402
from http_support import CountingServer  # noqa: E402

__all__ = [
    "FULL",
    "GROUP",
    "KINDS",
    "OUTCOME_TIMEOUT_S",
    "PLURALS",
    "VERSION",
    "ConflictProxy",
    "CountingServer",
    "Fleet",
    "OperatorProcess",
    "TcpListener",
    "condition",
    "delay",
    "metric_total",
    "pick",
    "wait_for",
    "workflow",
]

# FMEA_FULL=1 (``make fmea``): the sizes the issue asks for; unset: a shortened variant that
# runs inside ``make test``.
FULL = os.environ.get("FMEA_FULL", "").strip() == "1"


def pick(short: int, full: int) -> int:
    """The size for this run: ``full`` with FMEA_FULL=1, else ``short``."""
    return full if FULL else short


# --- servers on 127.0.0.1 ------------------------------------------------------------------


class TcpListener:
    """Accepts and closes connections: what a TCP health check wants to find."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = int(self.sock.getsockname()[1])
        self.accepted = 0
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted += 1
            conn.close()

    def close(self) -> None:
        self.sock.close()


def metric_total(text: str, name: str) -> float:
    """The sum of a counter's samples over all its labels, from a /metrics page."""
    from prometheus_client.parser import text_string_to_metric_families

    total = 0.0
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name:
                total += sample.value
    return total


# --- a proxy that injects conflicts -------------------------------------------------------

# Headers that describe one hop (RFC 9110 §7.6.1) or an encoding the proxy re-does.
_HOP = {
    "connection",
    "keep-alive",
    "proxy-connection",
    "transfer-encoding",
    "te",
    "trailer",
    "upgrade",
    "host",
    "content-length",
    "content-encoding",
    "accept-encoding",
}


def conflict_status(path: str) -> dict[str, Any]:
    """The body the API server sends with a 409 on an update of a modified object."""
    parts = path.rstrip("/").split("/")
    name = parts[-2] if parts[-1] == "status" else parts[-1]
    plural = parts[-3] if parts[-1] == "status" else parts[-2]
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": (
            f'Operation cannot be fulfilled on {plural}.{GROUP} "{name}": the object has '
            "been modified; please apply your changes to the latest version and try again"
        ),
        "reason": "Conflict",
        "details": {"name": name, "group": GROUP, "kind": plural},
        "code": 409,
    }


class ConflictProxy:
    """An HTTP proxy on 127.0.0.1 in front of the (HTTPS) API server.

    The operator is given a kubeconfig pointing here (plain HTTP on loopback, its token passed
    through). Once ``arm()``ed, of the writes (PATCH, PUT) that ``classify(method, path)``
    puts in a class, every ``every``-th of each class is answered ``409 Conflict`` as the API
    server answers it, until that class's budget is spent; everything else, watches included,
    is passed through and streamed back.
    """

    def __init__(
        self,
        kubeconfig: Path,
        *,
        budgets: dict[str, int],
        classify: Callable[[str, str], str | None],
        every: int = 2,
    ) -> None:
        self._api = ApiUpstream.from_kubeconfig(kubeconfig)
        self.upstream = self._api.server
        self._ssl = self._api.ssl_context
        self.budgets = dict(budgets)
        self.every = every
        self._classify = classify
        self._armed = False
        self._lock = threading.Lock()
        self.seen: Counter[str] = Counter()  # matching writes while armed, by class
        # (class, method, path) of each refused write
        self.injected: list[tuple[str, str, str]] = []
        self.exhausted_at: float | None = None  # monotonic time the last budget ran out
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._handlers: set[asyncio.Task[Any]] = set()
        self._started = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="conflict-proxy", daemon=True)
        self._thread.start()
        self._started.wait(10)
        if self._error is not None:
            raise RuntimeError("the conflict proxy did not start") from self._error

    # -- control ------------------------------------------------------------------------------

    def arm(self) -> None:
        with self._lock:
            self._armed = True

    def count(self, kind: str | None = None) -> int:
        """Writes refused so far (of one class, or all)."""
        with self._lock:
            return sum(1 for k, _, _ in self.injected if kind is None or k == kind)

    @property
    def exhausted(self) -> bool:
        return self.count() >= sum(self.budgets.values())

    def write_kubeconfig(self, path: Path) -> Path:
        """A copy of the kubeconfig that points at the proxy (no TLS on loopback)."""
        return self._api.write_kubeconfig(path, self.port)

    def close(self) -> None:
        if not self._loop.is_running():
            return
        future = asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop)
        with contextlib.suppress(Exception):
            future.result(timeout=15)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)

    # -- the server ---------------------------------------------------------------------------

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._loop.run_until_complete(self._start())
        except BaseException as error:
            self._error = error
            self._started.set()
            return
        self._started.set()
        self._loop.run_forever()
        self._loop.close()

    async def _start(self) -> None:
        import aiohttp
        from aiohttp import web

        self._session = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=None, sock_connect=10),
            connector=aiohttp.TCPConnector(ssl=self._ssl, limit=0),
            auto_decompress=False,
        )
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        server = site._server  # the asyncio server: the only place the bound port is known
        assert server is not None
        self.port = int(server.sockets[0].getsockname()[1])  # type: ignore[union-attr]

    async def _shutdown(self) -> None:
        # Watches stream until cancelled: end them, then the server and the client.
        for task in list(self._handlers):
            task.cancel()
        await asyncio.gather(*self._handlers, return_exceptions=True)
        await self._runner.cleanup()
        await self._session.close()

    def _refuse(self, method: str, path: str) -> bool:
        if method not in ("PATCH", "PUT"):
            return False
        kind = self._classify(method, path)
        if kind is None:
            return False
        with self._lock:
            done = sum(1 for k, _, _ in self.injected if k == kind)
            if not self._armed or done >= self.budgets.get(kind, 0):
                return False
            self.seen[kind] += 1
            if self.seen[kind] % self.every:
                return False
            self.injected.append((kind, method, path))
            if len(self.injected) >= sum(self.budgets.values()):
                self.exhausted_at = time.monotonic()
            return True

    async def _handle(self, request: Any) -> Any:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        try:
            return await self._forward(request)
        finally:
            self._handlers.discard(task)

    async def _forward(self, request: Any) -> Any:
        import aiohttp
        from aiohttp import web
        from yarl import URL

        body = await request.read()
        if self._refuse(request.method, request.path):
            return web.json_response(conflict_status(request.path), status=409)
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP}
        url = URL(self.upstream + request.raw_path, encoded=True)
        try:
            upstream = await self._session.request(
                request.method, url, headers=headers, data=body or None, allow_redirects=False
            )
        except (aiohttp.ClientError, OSError) as error:
            return web.Response(status=502, text=f"upstream: {error}")
        try:
            response = web.StreamResponse(
                status=upstream.status,
                headers={k: v for k, v in upstream.headers.items() if k.lower() not in _HOP},
            )
            await response.prepare(request)
            async for chunk in upstream.content.iter_any():
                await response.write(chunk)
            await response.write_eof()
            return response
        except (ConnectionResetError, aiohttp.ClientError, OSError):
            return response
        finally:
            upstream.release()


# --- the good objects the bad input is applied beside (test_malformed_manifests.py,
# test_absurd_input.py) ---------------------------------------------------------------------

PLURALS = {
    "service": "orchestratedservices",
    "workflow": "orchestrationworkflows",
    "engine": "orchestrationengines",
}
KINDS = {
    "service": "OrchestratedService",
    "workflow": "OrchestrationWorkflow",
    "engine": "OrchestrationEngine",
}
OUTCOME_TIMEOUT_S = 30


class Fleet:
    """The good objects, the servers they talk to, and readers."""

    def __init__(self, custom: Any, kube_api: Any, namespace: str, operator: Any) -> None:
        self.custom = custom
        self.kube_api = kube_api
        self.namespace = namespace
        self.operator = operator
        self.listener = TcpListener()
        self.http = CountingServer()
        self.good_workflows: list[str] = []
        self.good_services = {
            "good-tcp": {"tcp": {"host": "127.0.0.1", "port": self.listener.port}},
            "good-http": {"http": {"url": self.http.url("/healthz")}},
        }
        self.healthy_since: dict[str, str] = {}

    def close(self) -> None:
        self.listener.close()
        self.http.close()

    def get(self, kind: str, name: str) -> dict[str, Any]:
        if kind == "engine":
            return self.custom.get_cluster_custom_object(  # type: ignore[no-any-return]
                GROUP, VERSION, PLURALS[kind], name
            )
        return self.custom.get_namespaced_custom_object(  # type: ignore[no-any-return]
            GROUP, VERSION, self.namespace, PLURALS[kind], name
        )

    def create(self, kind: str, name: str, spec: dict[str, Any], *, strict: bool = False) -> Any:
        body = {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": KINDS[kind],
            "metadata": {"name": name},
            "spec": spec,
        }
        extra = {"field_validation": "Strict"} if strict else {}
        if kind == "engine":
            return self.custom.create_cluster_custom_object(
                GROUP, VERSION, PLURALS[kind], body, **extra
            )
        return self.custom.create_namespaced_custom_object(
            GROUP, VERSION, self.namespace, PLURALS[kind], body, **extra
        )

    def start_good_services(self) -> None:
        for name, check in self.good_services.items():
            self.create(
                "service", name, {"healthCheck": {**check, "periodSeconds": 1}, "priority": "HIGH"}
            )
        for name in self.good_services:
            wait_for(
                lambda n=name: (
                    (self.get("service", n).get("status") or {}).get("health") == "HEALTHY"
                ),
                timeout=OUTCOME_TIMEOUT_S,
                what=f"{name} HEALTHY",
            )
            healthy = condition(self.get("service", name), "Healthy")
            self.healthy_since[name] = healthy["lastTransitionTime"]

    def add_good_workflow(self, name: str) -> None:
        """A good workflow beside a bad row: two delays and an http step, one after another."""
        self.create(
            "workflow",
            name,
            {
                "steps": [
                    delay("wait", 0.1),
                    {
                        "name": "call",
                        "action": "http",
                        "params": {"url": self.http.url(f"/good/{name}"), "method": "POST"},
                        "dependsOn": ["wait"],
                    },
                    delay("settle", 0.1, dependsOn=["call"]),
                ]
            },
        )
        self.good_workflows.append(name)

    def assert_good_workflows_succeeded(self) -> None:
        """Every good workflow Succeeded with each step run once and its http step called
        once."""
        for name in self.good_workflows:
            status = wait_for(
                lambda n=name: (
                    (s := self.get("workflow", n).get("status") or {}).get("phase")
                    in {"Succeeded", "Failed", "RolledBack", "Cancelled"}
                    and s
                ),
                timeout=60,
                what=f"workflow {name} finished",
            )
            assert status["phase"] == "Succeeded", (name, status)
            assert [s["attempts"] for s in status["steps"]] == [1, 1, 1], (name, status["steps"])
            assert self.http.hits[f"/good/{name}"] == 1, name

    def assert_good_service_unchanged(self, name: str) -> dict[str, Any]:
        """The good service ``name`` is HEALTHY, never left it (its condition has not moved
        since the baseline) and has no Warning Event; the object read, for more checks."""
        from kubernetes import client

        obj = self.get("service", name)
        assert obj["status"]["health"] == "HEALTHY", obj["status"]
        healthy = condition(obj, "Healthy")
        assert healthy["lastTransitionTime"] == self.healthy_since[name], healthy
        events = client.CoreV1Api(self.kube_api).list_namespaced_event(
            self.namespace, field_selector=f"involvedObject.name={name}"
        )
        assert [e.reason for e in events.items if e.type == "Warning"] == []
        return obj

    def assert_operator_clean(self) -> None:
        """The operator is still up, with no traceback in its log."""
        assert self.operator.process.poll() is None, self.operator.log()
        log = self.operator.log_path.read_text(errors="replace")
        assert "Traceback" not in log, log[log.index("Traceback") - 2000 :][:6000]
