"""HTTP servers on 127.0.0.1 that tests point the operator at: a counting server for workflow
``http`` steps and health checks (the ``server`` fixture, tests/conftest.py), a health endpoint
whose answer the test sets (``endpoint``), a primary that stops and starts on its port
(``primary``), a receiver for the emergency halt's webhook, and ``serving`` for a unit
test's own aiohttp application."""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections import Counter
from collections.abc import AsyncIterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class QuietHandler(BaseHTTPRequestHandler):
    """A request handler that logs nothing: the test's output stays the test's."""

    def log_message(self, *_: Any) -> None:
        pass

    def read_body(self) -> bytes:
        """The request's body (read, so that the connection can go on)."""
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""


class OkHandler(QuietHandler):
    """Answers every GET with 200 ``ok``."""

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")


class LocalServer:
    """A ThreadingHTTPServer on 127.0.0.1 (a free port unless given) that serves in a daemon
    thread from the start; close() stops it."""

    def __init__(
        self, handler: type[BaseHTTPRequestHandler], port: int = 0, *, daemon_threads: bool = False
    ) -> None:
        self.server = ThreadingHTTPServer(("127.0.0.1", port), handler)
        self.server.daemon_threads = daemon_threads
        self.port: int = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class CountingServer(LocalServer):
    """Counts requests by path; answers each path with the status set for it (200 default)."""

    def __init__(self) -> None:
        self.hits: Counter[str] = Counter()
        self.order: list[str] = []
        self.keys: list[str | None] = []
        self.answers: dict[str, int] = {}
        lock = threading.Lock()
        owner = self

        class Handler(QuietHandler):
            def _answer(self) -> None:
                self.read_body()
                with lock:
                    owner.hits[self.path] += 1
                    owner.order.append(self.path)
                    owner.keys.append(self.headers.get("Idempotency-Key"))
                code = owner.answers.get(self.path, 200)
                self.send_response(code)
                self.send_header("Content-Length", "0")
                self.end_headers()

            do_GET = do_POST = do_PUT = _answer

        super().__init__(Handler)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"


class Endpoint(LocalServer):
    """A health endpoint whose answer the test controls."""

    def __init__(self) -> None:
        self.status = 200
        self.delay = 0.0
        self.hits = 0
        endpoint = self

        class Handler(QuietHandler):
            def do_GET(self) -> None:
                endpoint.hits += 1
                time.sleep(endpoint.delay)
                self.send_response(endpoint.status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

        super().__init__(Handler)
        self.url = f"http://127.0.0.1:{self.port}/healthz"


class Primary:
    """The primary's health endpoint: stop() and start() keep its port."""

    def __init__(self) -> None:
        self.http: LocalServer | None = None
        self.port = 0
        self.start()

    def start(self) -> None:
        self.http = LocalServer(OkHandler, self.port)
        self.port = self.http.port

    def stop(self) -> None:
        if self.http is not None:
            self.http.close()
            self.http = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/healthz"


class AlertWebhook(LocalServer):
    """Receives the emergency halt's webhook: (Authorization header, JSON body) of each POST."""

    def __init__(self) -> None:
        self.received: list[tuple[str | None, dict[str, Any]]] = []
        owner = self

        class Handler(QuietHandler):
            def do_POST(self) -> None:
                body = self.read_body()
                owner.received.append((self.headers.get("Authorization"), json.loads(body)))
                self.send_response(204)
                self.end_headers()

        super().__init__(Handler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"


@contextlib.asynccontextmanager
async def serving(app: Any, **runner_options: Any) -> AsyncIterator[str]:
    """An aiohttp application on 127.0.0.1 (a free port) for the block; yields its base URL."""
    from aiohttp import web

    runner = web.AppRunner(app, **runner_options)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()
