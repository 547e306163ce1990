"""A TCP proxy between a client (the operator) and the real kube-apiserver, driven by a test.

The client is given a kubeconfig pointing here (plain HTTP on 127.0.0.1, its token passed
through); each connection it opens gets a TLS connection of its own to the API server, and
bytes are pumped both ways. The test then plays the network's and the server's faults on
real sockets:

- ``reset()``: every open connection is aborted with a TCP RST, both sides;
- ``close()``: every open connection is closed gracefully (FIN), as a load balancer does
  with a kept-alive connection (the client sees aiohttp's ``ServerDisconnectedError``);
- ``delay(seconds)``: every chunk, both ways, is held this long first (0 ends it);
- ``blackhole()``: every connection open now goes silent, no byte either way and no reset,
  while new connections work: a NAT or load balancer that forgot them. ``heal()`` resets the
  silent ones (what such a device eventually does) and ends the blackhole;
- ``answer(status, retry_after=…)``: requests are answered here with that status and the API
  server's ``Status`` body (429 with ``Retry-After``, 503), not forwarded, until ``count``
  have been answered or ``stop_answering()``; ``match(method, path)`` picks which;
- ``cut(count, reset=…)``: the next ``count`` requests (all, until ``stop_answering()``, when
  None) are not forwarded; their connection is closed (or reset) as the request arrives: a
  kept-alive connection closed just as a request goes out, what a client sees as
  ``ServerDisconnectedError``.

Requests are framed on the way in (HTTP/1.1, ``Content-Length`` bodies, as aiohttp sends
them), so a local answer never cuts into a response: an HTTP/1.1 client sends its next
request on a connection only after the previous answer. The API server's own restart is
``RestartableControlPlane`` (tests/fmea/fmea_disruption_support.py); while the server is down,
the proxy closes each new connection at once (not exercised by a test yet).

Standard library plus PyYAML, like the rest of tests/envtest.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import socket
import ssl
import struct
import threading
from collections import Counter
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

Match = Callable[[str, str], bool]
CHUNK = 65536


@dataclass
class ApiUpstream:
    """Where a kubeconfig's API server is and how to trust it, and a copy of the kubeconfig
    that points at a local proxy instead (no TLS on loopback)."""

    config: dict[str, Any]
    server: str
    ssl_context: ssl.SSLContext

    @classmethod
    def from_kubeconfig(cls, kubeconfig: Path) -> ApiUpstream:
        config = yaml.safe_load(kubeconfig.read_text())
        cluster = config["clusters"][0]["cluster"]
        if "certificate-authority-data" in cluster:
            ca = base64.b64decode(cluster["certificate-authority-data"]).decode()
            context = ssl.create_default_context(cadata=ca)
        elif "certificate-authority" in cluster:
            context = ssl.create_default_context(cafile=cluster["certificate-authority"])
        else:
            context = ssl.create_default_context()
        return cls(config, str(cluster["server"]).rstrip("/"), context)

    @property
    def host_port(self) -> tuple[str, int]:
        parts = urlsplit(self.server)
        return parts.hostname or "127.0.0.1", parts.port or 443

    def write_kubeconfig(self, path: Path, port: int) -> Path:
        config = json.loads(json.dumps(self.config))
        cluster = config["clusters"][0]["cluster"]
        cluster["server"] = f"http://127.0.0.1:{port}"
        cluster.pop("certificate-authority-data", None)
        cluster.pop("certificate-authority", None)
        path.write_text(yaml.safe_dump(config))
        path.chmod(0o600)
        return path


def api_status(code: int) -> dict[str, Any]:
    """The body the API server sends with a 429 or 503."""
    reason = {429: "TooManyRequests", 503: "ServiceUnavailable"}.get(code, "InternalError")
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": f"injected by the fault proxy: {code}",
        "reason": reason,
        "details": {"retryAfterSeconds": 1} if code == 429 else {},
        "code": code,
    }


@dataclass
class _Answering:
    status: int  # 0: no answer, the connection is cut (closed, or reset when ``reset``)
    retry_after: str | None
    count: int | None  # None: until stopped
    match: Match
    reset: bool = False


@dataclass(eq=False)
class _Link:
    """One client connection and its upstream connection."""

    client: tuple[asyncio.StreamReader, asyncio.StreamWriter]
    upstream: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
    silent: bool = False
    tasks: list[asyncio.Task[None]] = field(default_factory=list)


def _abort(writer: asyncio.StreamWriter) -> None:
    """Close with a RST: SO_LINGER 0, then abort."""
    sock = writer.get_extra_info("socket")
    with contextlib.suppress(OSError, AttributeError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


class FaultProxy:
    def __init__(self, kubeconfig: Path) -> None:
        self.upstream = ApiUpstream.from_kubeconfig(kubeconfig)
        self.port = 0
        self.connections = 0  # accepted so far
        self.requests: Counter[str] = Counter()  # by method, forwarded or answered
        self.answered: Counter[int] = Counter()  # local answers, by status (0: cut)
        self.resets = 0
        self.closes = 0
        self._links: set[_Link] = set()
        self._delay = 0.0
        self._answering: _Answering | None = None
        self._lock = threading.Lock()
        self._loop = asyncio.new_event_loop()
        self._server: asyncio.Server | None = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="fault-proxy", daemon=True)
        self._thread.start()
        if not self._ready.wait(10) or self._server is None:
            raise RuntimeError("the fault proxy did not start")

    # -- for the test ---------------------------------------------------------------------

    def write_kubeconfig(self, path: Path) -> Path:
        return self.upstream.write_kubeconfig(path, self.port)

    @property
    def open_connections(self) -> int:
        return len(self._links)

    def reset(self) -> int:
        """RST every open connection; how many there were."""
        return self._call(self._reset_all())

    def close(self) -> int:
        """Close every open connection gracefully; how many there were."""
        return self._call(self._close_all())

    def delay(self, seconds: float) -> None:
        self._delay = seconds

    def blackhole(self) -> int:
        """Silence every open connection; new ones work. How many went silent."""
        return self._call(self._silence_all())

    def heal(self) -> int:
        """Reset the silent connections; how many there were."""
        return self._call(self._reset_all(silent_only=True))

    def answer(
        self,
        status: int,
        *,
        retry_after: float | None = None,
        count: int | None = None,
        match: Match = lambda _method, _path: True,
    ) -> None:
        with self._lock:
            self._answering = _Answering(
                status,
                None if retry_after is None else f"{retry_after:g}",
                count,
                match,
            )

    def cut(
        self,
        count: int | None = None,
        *,
        reset: bool = False,
        match: Match = lambda _method, _path: True,
    ) -> None:
        with self._lock:
            self._answering = _Answering(0, None, count, match, reset)

    def stop_answering(self) -> None:
        with self._lock:
            self._answering = None

    @property
    def answering(self) -> bool:
        with self._lock:
            return self._answering is not None

    def shutdown(self) -> None:
        if not self._loop.is_running():
            return
        with contextlib.suppress(Exception):
            self._call(self._shutdown(), timeout=15)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)

    # -- the proxy ------------------------------------------------------------------------

    def _call(self, coroutine: Coroutine[Any, Any, Any], timeout: float = 10) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)

        async def start() -> None:
            self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
            self.port = int(self._server.sockets[0].getsockname()[1])

        try:
            self._loop.run_until_complete(start())
        finally:
            self._ready.set()
        self._loop.run_forever()
        self._loop.close()

    async def _shutdown(self) -> None:
        if self._server is not None:
            self._server.close()
        await self._reset_all()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        link = _Link(client=(reader, writer))
        self._links.add(link)
        try:
            host, port = self.upstream.host_port
            try:
                link.upstream = await asyncio.wait_for(
                    asyncio.open_connection(
                        host, port, ssl=self.upstream.ssl_context, server_hostname=host
                    ),
                    10,
                )
            except (OSError, TimeoutError):
                # The API server is down (restarting): the client sees its connection closed.
                return
            link.tasks = [
                asyncio.create_task(self._requests(link)),
                asyncio.create_task(self._responses(link)),
            ]
            # Either side ending ends the link: the client gave up (a silent link too), or
            # the server closed.
            await asyncio.wait(link.tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            self._links.discard(link)
            self._end(link, abort=link.silent)
            await asyncio.gather(*link.tasks, return_exceptions=True)

    def _end(self, link: _Link, *, abort: bool) -> None:
        for task in link.tasks:
            if task is not asyncio.current_task():
                task.cancel()
        for _, writer in (link.client, link.upstream) if link.upstream else (link.client,):
            with contextlib.suppress(Exception):
                if abort:
                    _abort(writer)
                else:
                    writer.close()

    async def _hold_silent(self, link: _Link) -> None:
        """Read and drop what the client sends until it gives up; answer nothing."""
        reader = link.client[0]
        while await reader.read(CHUNK):
            pass

    async def _requests(self, link: _Link) -> None:
        """Client to server, one request at a time, each forwarded or answered here."""
        reader, client = link.client
        assert link.upstream is not None
        upstream = link.upstream[1]
        try:
            while True:
                if link.silent:
                    await self._hold_silent(link)
                    return
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                method, target, _ = lines[0].split(" ", 2)
                length = 0
                for line in lines[1:]:
                    name, _, value = line.partition(":")
                    if name.strip().lower() == "content-length":
                        length = int(value.strip())
                body = await reader.readexactly(length) if length else b""
                if link.silent:
                    await self._hold_silent(link)
                    return
                self.requests[method] += 1
                answer = self._take_answer(method, urlsplit(target).path)
                if answer is not None and answer.status == 0:
                    self._end(link, abort=answer.reset)
                    return
                if answer is not None:
                    status, retry_after = answer.status, answer.retry_after
                    payload = json.dumps(api_status(status)).encode()
                    extra = f"Retry-After: {retry_after}\r\n" if retry_after else ""
                    client.write(
                        f"HTTP/1.1 {status} Injected\r\nContent-Type: application/json\r\n"
                        f"{extra}Content-Length: {len(payload)}\r\n\r\n".encode()
                        + payload
                    )
                    await client.drain()
                    continue
                if self._delay > 0:
                    await asyncio.sleep(self._delay)
                upstream.write(head + body)
                await upstream.drain()
        except (asyncio.IncompleteReadError, ConnectionError, OSError, ValueError):
            return
        finally:
            # The client is gone (or sent something not HTTP): so is the server's side.
            if not link.silent:
                with contextlib.suppress(Exception):
                    upstream.close()

    def _take_answer(self, method: str, path: str) -> _Answering | None:
        with self._lock:
            rule = self._answering
            if rule is None or not rule.match(method, path):
                return None
            if rule.count is not None:
                rule.count -= 1
                if rule.count <= 0:
                    self._answering = None
            self.answered[rule.status] += 1
            return rule

    async def _responses(self, link: _Link) -> None:
        """Server to client, byte for byte."""
        assert link.upstream is not None
        reader = link.upstream[0]
        client = link.client[1]
        try:
            while True:
                chunk = await reader.read(CHUNK)
                if link.silent:
                    await asyncio.Event().wait()  # nothing more, until reset or the end
                if not chunk:
                    break
                if self._delay > 0:
                    await asyncio.sleep(self._delay)
                client.write(chunk)
                await client.drain()
        except (ConnectionError, OSError, ssl.SSLError):
            pass
        finally:
            if not link.silent:
                with contextlib.suppress(Exception):
                    client.close()

    async def _reset_all(self, *, silent_only: bool = False) -> int:
        links = [link for link in self._links if link.silent or not silent_only]
        for link in links:
            self._end(link, abort=True)
            self._links.discard(link)
        self.resets += len(links)
        return len(links)

    async def _close_all(self) -> int:
        links = list(self._links)
        for link in links:
            self._end(link, abort=False)
            self._links.discard(link)
        self.closes += len(links)
        return len(links)

    async def _silence_all(self) -> int:
        links = [link for link in self._links if not link.silent]
        for link in links:
            link.silent = True
        return len(links)
