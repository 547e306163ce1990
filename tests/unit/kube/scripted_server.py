"""A plain HTTP/1.1 server on 127.0.0.1 that plays an API server's faults, request by request.

Each request takes the next fault from ``script`` (then ``ok``): ``drop`` closes the
connection without a byte (the client sees aiohttp's ``ServerDisconnectedError``, as when a
load balancer closes a kept-alive connection), ``reset`` aborts it (RST), ``silent`` never
answers, ``429``/``503`` answer so (``429`` with ``Retry-After``), ``ok`` answers 200/201 with
a JSON object, and ``done-drop`` does what ``ok`` does, then closes instead of answering (the
answer lost). A POST of a name already created answers 409 AlreadyExists, as the API server.
Real sockets, so the client's own error handling is what is tested.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
from collections import Counter
from typing import Any


class ScriptedServer:
    def __init__(self, script: list[str] | None = None, *, retry_after: str = "1") -> None:
        self.script: list[str] = list(script or [])
        self.retry_after = retry_after
        self.requests: list[tuple[str, str, str]] = []  # (method, path, fault) of each
        self.served: Counter[tuple[str, str]] = Counter()  # done (2xx), by (method, path)
        self.created: list[str] = []  # names of the objects POSTed, in order
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.Task[None]] = set()
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = int(self._server.sockets[0].getsockname()[1])

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._connections):
            task.cancel()
        await asyncio.gather(*self._connections, return_exceptions=True)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                method, path, _ = lines[0].split(" ", 2)
                headers = {
                    k.strip().lower(): v.strip()
                    for k, _, v in (line.partition(":") for line in lines[1:] if line)
                }
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                fault = self.script.pop(0) if self.script else "ok"
                self.requests.append((method, path.split("?")[0], fault))
                if fault == "drop":
                    writer.close()
                    return
                if fault == "done-drop":
                    self._answer(method, "ok", body)
                    self.served[(method, path.split("?")[0])] += 1
                    writer.close()
                    return
                if fault == "reset":
                    sock = writer.get_extra_info("socket")
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\0\0\0\0\0\0\0")
                    writer.transport.abort()
                    return
                if fault == "silent":
                    await asyncio.Event().wait()
                status, extra, answer = self._answer(method, fault, body)
                if 200 <= status < 300:
                    self.served[(method, path.split("?")[0])] += 1
                payload = json.dumps(answer).encode()
                writer.write(
                    f"HTTP/1.1 {status} X\r\nContent-Type: application/json\r\n{extra}"
                    f"Content-Length: {len(payload)}\r\n\r\n".encode()
                    + payload
                )
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
            pass
        except asyncio.CancelledError:
            pass  # closed by the test: the connection ends with the server
        finally:
            self._connections.discard(task)
            with contextlib.suppress(Exception):
                writer.close()

    def _answer(self, method: str, fault: str, body: bytes) -> tuple[int, str, dict[str, Any]]:
        if fault == "429":
            status: dict[str, Any] = {"kind": "Status", "code": 429, "reason": "TooManyRequests"}
            return 429, f"Retry-After: {self.retry_after}\r\n", status
        if fault == "503":
            return 503, "", {"kind": "Status", "code": 503, "reason": "ServiceUnavailable"}
        sent = json.loads(body) if body else {}
        if method == "POST":
            name = (sent.get("metadata") or {}).get("name")
            if name in self.created:
                return 409, "", {"kind": "Status", "code": 409, "reason": "AlreadyExists"}
            if name:
                self.created.append(name)
        obj = {"metadata": {"name": "x", "resourceVersion": "1"}, **sent}
        return (201 if method == "POST" else 200), "", obj
