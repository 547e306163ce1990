"""HTTP health checks through one shared, bounded connection pool.

Thousands of services are checked every few seconds; a client per check would open a new
connection (and a TLS handshake) each time and leave the process with no bound on sockets.
One ``httpx.AsyncClient`` keeps connections alive between checks of the same service and caps
how many are open at once.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from urllib.parse import urlsplit

import httpx

from orchestration_engine.core.prober_health import FailureKind
from orchestration_engine.plumbing.lifecycle import Lifecycle
from orchestration_engine.probes.result import (
    CheckResult,
    connect_failure,
    failure_kind,
    timed_out,
)

# httpcore scans its whole pool for every queued request: a pool far larger than the
# checks in flight only costs CPU (measured in tests/bench).
DEFAULT_MAX_CONNECTIONS = 32
# Enough to see that the server answered; a health endpoint that streams megabytes must not be
# able to make the operator buffer them.
BODY_LIMIT_BYTES = 64 * 1024
USER_AGENT = "orchestration-engine-probe"


class HttpProber(Lifecycle):
    """GETs a URL and says whether the status was one of those expected.

    Redirects are not followed: a health endpoint that redirects (to a login page, say) is
    reporting something, and ``expected_status`` decides whether that is healthy.
    """

    def __init__(
        self,
        *,
        max_connections: int = DEFAULT_MAX_CONNECTIONS,
        keepalive_expiry_s: float = 30.0,
        verify: bool = True,
        trust_env: bool = False,
        body_limit_bytes: int = BODY_LIMIT_BYTES,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        """``trust_env`` is off so a proxy configured for the operator's own egress does not
        sit between it and the services it judges; ``transport`` is the seam for tests."""
        if max_connections < 1:
            raise ValueError("max_connections must be at least 1")
        self._body_limit = body_limit_bytes
        self._client = httpx.AsyncClient(
            limits=httpx.Limits(
                max_connections=max_connections,
                max_keepalive_connections=max_connections,
                keepalive_expiry=keepalive_expiry_s,
            ),
            follow_redirects=False,
            verify=verify,
            trust_env=trust_env,
            transport=transport,
            headers={"user-agent": USER_AGENT},
        )

    async def start(self) -> None:
        """Nothing to start: the client connects on first use."""

    async def stop(self) -> None:
        await self.close()

    async def close(self) -> None:
        await self._client.aclose()

    async def check(
        self, url: str, expected_status: Sequence[int], timeout_s: float
    ) -> CheckResult:
        """Never raises for anything the network or the server does; the reason is in the
        result's ``message``. ``latency_ms`` is the time until the response headers arrived."""
        if not expected_status:
            raise ValueError("expected_status must name at least one status code")
        latency_ms: float | None = None
        connected = _Connected()
        started = time.perf_counter()
        try:
            # httpx's timeout applies to each phase (connect, each read) separately; the outer
            # deadline makes timeout_s the bound on the whole check.
            async with asyncio.timeout(timeout_s):
                async with self._client.stream(
                    "GET",
                    url,
                    timeout=httpx.Timeout(timeout_s),
                    extensions={"trace": connected.trace},
                ) as response:
                    latency_ms = (time.perf_counter() - started) * 1000
                    await self._discard_body(response)
        except (TimeoutError, httpx.TimeoutException) as error:
            # Waiting for a free pooled connection counts too: the deadline is the caller's.
            # Whether a connection was made says whose the timeout is: none made (resolving,
            # connecting) may be the prober's own network; made, the service's slowness.
            kind = (
                FailureKind.TIMEOUT
                if connected.yes and not isinstance(error, httpx.ConnectTimeout)
                else FailureKind.CONNECT_TIMEOUT
            )
            return CheckResult.failure(timed_out(timeout_s), latency_ms, kind)
        except httpx.InvalidURL as error:
            return CheckResult.failure(f"invalid URL: {error}", kind=FailureKind.INVALID)
        except (httpx.HTTPError, OSError) as error:
            return CheckResult.failure(
                connect_failure(error, _host(url)), latency_ms, failure_kind(error)
            )
        if response.status_code not in expected_status:
            expected = ", ".join(str(status) for status in expected_status)
            return CheckResult.failure(
                f"HTTP {response.status_code} (expected {expected})",
                latency_ms,
                FailureKind.HTTP_STATUS,
            )
        return CheckResult.success(latency_ms)

    async def _discard_body(self, response: httpx.Response) -> None:
        # Raw bytes, not decoded: a small gzip body can inflate to gigabytes.
        read = 0
        async for chunk in response.aiter_raw():
            read += len(chunk)
            if read >= self._body_limit:
                # Leaving the stream early closes this connection instead of returning it to the
                # pool, which is the right thing for one with an unread body.
                break


class _Connected:
    """httpcore's trace hook: becomes true once the request has a connection (a new one
    connected, or a pooled one reused: its request headers go out)."""

    __slots__ = ("yes",)

    def __init__(self) -> None:
        self.yes = False

    async def trace(self, event: str, info: object) -> None:
        if event == "connection.connect_tcp.complete" or event.startswith(
            ("connection.start_tls", "http11.", "http2.")
        ):
            self.yes = True


def _host(url: str) -> str:
    return urlsplit(url).hostname or url
