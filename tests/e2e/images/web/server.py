"""The end-to-end tier's test workload: a standard-library HTTP server whose health the tests
(and the demo) switch off and on, so readiness probes and the operator's HTTP checks see a
real failure and a real recovery.

    GET  /          200 JSON {"name": $NAME or the hostname, "pod": hostname, "role": $ROLE}
    GET  /healthz   200 "ok"; 503 while broken
    POST /break     from now on / and /healthz answer 503
    POST /heal      back to normal
    GET  /slow?ms=N answers after N milliseconds (at most 60 s)

Listens on $PORT (default 8080). SIGTERM stops it at once, so pods terminate promptly.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import FrameType
from urllib.parse import parse_qs, urlsplit

MAX_SLOW_MS = 60_000


class State:
    """Whether the server plays broken; shared by all request threads."""

    def __init__(self) -> None:
        self._broken = threading.Event()

    @property
    def broken(self) -> bool:
        return self._broken.is_set()

    def set_broken(self, broken: bool) -> None:
        if broken:
            self._broken.set()
        else:
            self._broken.clear()


STATE = State()


class Handler(BaseHTTPRequestHandler):
    server_version = "orchestration-engine-e2e-web/1"

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _text(self, status: int, text: str) -> None:
        self._send(status, text.encode(), "text/plain; charset=utf-8")

    def _json(self, status: int, value: object) -> None:
        self._send(status, json.dumps(value).encode(), "application/json")

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        if url.path == "/healthz":
            if STATE.broken:
                self._text(503, "broken")
            else:
                self._text(200, "ok")
        elif url.path == "/":
            if STATE.broken:
                self._json(503, {"error": "broken"})
                return
            hostname = socket.gethostname()
            self._json(
                200,
                {
                    "name": os.environ.get("NAME") or hostname,
                    "pod": hostname,
                    "role": os.environ.get("ROLE", ""),
                },
            )
        elif url.path == "/slow":
            try:
                ms = int(parse_qs(url.query).get("ms", ["0"])[0])
            except ValueError:
                self._text(400, "ms must be an integer")
                return
            time.sleep(min(max(ms, 0), MAX_SLOW_MS) / 1000)
            self._text(200, "ok")
        else:
            self._text(404, "not found")

    def do_POST(self) -> None:
        path = urlsplit(self.path).path
        if path in ("/break", "/heal"):
            STATE.set_broken(path == "/break")
            self._text(200, "broken" if STATE.broken else "ok")
        else:
            self._text(404, "not found")

    def log_message(self, format: str, *args: object) -> None:
        # One line per request on stderr, as kubectl logs shows it; probes included, since a
        # test reading the log wants to see them.
        sys.stderr.write(f"{self.address_string()} {format % args}\n")


def main() -> None:
    port = int(os.environ.get("PORT", "8080"))
    server = ThreadingHTTPServer(("", port), Handler)
    server.daemon_threads = True

    def stop(signum: int, frame: FrameType | None) -> None:
        # As PID 1 in a container, SIGTERM has no default action: without this handler the
        # pod would wait out its whole grace period.
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    print(f"listening on :{port}", file=sys.stderr, flush=True)
    try:
        server.serve_forever()
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
