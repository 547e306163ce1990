"""The one path every request of the operator's own API client takes (kubernetes_asyncio's
``RESTClientObject.request``), so that what client-go gives every Kubernetes client is said
once, not at each call:

- a bounded time per request: the library's default is aiohttp's five minutes, and a status
  write on a kept-alive connection that went silent waited all of it. A request gets
  ``request_timeout_s`` in all and ``read_idle_s`` without a byte from the server; callers
  that pass their own ``_request_timeout`` (long lists, watches) keep it;
- client-side rate limits: a token bucket of ``qps`` with ``burst``, as client-go's;
- retries of what is safe to send again (core/api_retry.py: reads on any transient failure,
  any request the server never saw or answered with ``Retry-After``), after the server's
  ``Retry-After`` or a capped, jittered backoff;
- one error class for "no answer": aiohttp's and the OS's errors and timeouts become
  ``TransportError``, an ``Unavailable`` that is also an ``ApiException``, so that every
  caller handles it with the API's own errors (kube/errors.py).

kopf's watches and its own patches go through kopf's client, configured in
``runtime.kopf_settings``.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from kubernetes_asyncio import client
from kubernetes_asyncio.client.exceptions import ApiException

from orchestration_engine.core.api_retry import (
    Bucket,
    Failure,
    RetryPolicy,
    parse_retry_after,
    retry_delay,
    take,
)
from orchestration_engine.kube.errors import TransportError
from orchestration_engine.plumbing import metrics

log = logging.getLogger(__name__)

Send = Callable[..., Awaitable[Any]]


@dataclass(frozen=True, slots=True)
class TransportSettings:
    # client-go's defaults (5 QPS, burst 10) are famously low for a controller; these are
    # kube-scheduler's. 0 turns the limit off.
    qps: float = 50.0
    burst: int = 100
    request_timeout_s: float = 30.0
    # Without a byte from the server for this long, a request has failed: how a kept-alive
    # connection that went silent is noticed (client-go pings HTTP/2 after 30 s idle).
    read_idle_s: float = 10.0
    connect_timeout_s: float = 10.0
    retry: RetryPolicy = field(default_factory=RetryPolicy)

    def timeout(self) -> aiohttp.ClientTimeout:
        total = self.request_timeout_s
        return aiohttp.ClientTimeout(
            total=total,
            sock_connect=min(self.connect_timeout_s, total),
            sock_read=min(self.read_idle_s, total),
        )


def classify(error: BaseException) -> Failure | None:
    """What a transport error says about whether the server saw the request; None for an
    error that no retry would help (a malformed URL)."""
    if isinstance(error, aiohttp.InvalidURL):
        return None
    if isinstance(error, aiohttp.ClientConnectorError | aiohttp.ConnectionTimeoutError):
        return Failure.NOT_SENT
    if isinstance(error, TimeoutError):  # aiohttp's read timeouts are TimeoutErrors too
        return Failure.TIMEOUT
    if isinstance(error, aiohttp.ClientError | OSError):
        return Failure.LOST
    return None


def _where(method: str, url: str) -> str:
    return f"{method} {urlsplit(url).path}"  # never the query: it may carry selectors only


class Transport:
    """Wraps one ``RESTClientObject.request``; ``install`` puts it in place."""

    def __init__(
        self,
        send: Send,
        settings: TransportSettings,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        draw: Callable[[], float] = random.random,
    ) -> None:
        self._send = send
        self.settings = settings
        self._clock = clock
        self._sleep = sleep
        self._draw = draw
        self._bucket = Bucket(tokens=float(max(settings.burst, 1)), at=clock())

    async def _throttle(self) -> None:
        wait, self._bucket = take(
            self._bucket, self._clock(), self.settings.qps, self.settings.burst
        )
        if wait > 0:
            metrics.API_THROTTLED_SECONDS.inc(wait)
            await self._sleep(wait)

    async def request(
        self,
        method: str,
        url: str,
        query_params: Any = None,
        headers: dict[str, str] | None = None,
        body: Any = None,
        post_params: Any = None,
        _preload_content: bool = True,
        _request_timeout: Any = None,
    ) -> Any:
        method = method.upper()
        timeout = _request_timeout or self.settings.timeout()
        started = self._clock()
        attempt = 0
        while True:
            await self._throttle()
            try:
                return await self._send(
                    method,
                    url,
                    query_params=query_params,
                    headers=dict(headers) if headers is not None else None,  # it is modified
                    body=body,
                    post_params=post_params,
                    _preload_content=_preload_content,
                    _request_timeout=timeout,
                )
            except ApiException as error:
                failure, status = Failure.STATUS, int(error.status or 0)
                answered: Any = error.headers or {}
                retry_after = parse_retry_after(answered.get("Retry-After"))
                raised: BaseException = error
                reason = str(status)
            except (aiohttp.ClientError, OSError, TimeoutError) as error:
                kind = classify(error)
                if kind is None:
                    raise
                failure, status, retry_after = kind, None, None
                detail = str(error) or type(error).__name__
                raised = TransportError(f"{_where(method, url)}: {kind.value}: {detail}")
                raised.__cause__ = error
                reason = kind.value
            attempt += 1
            delay = retry_delay(
                method=method,
                failure=failure,
                status=status,
                retry_after=retry_after,
                attempt=attempt,
                elapsed_s=self._clock() - started,
                policy=self.settings.retry,
                draw=self._draw(),
            )
            if delay is None:
                if isinstance(raised, TransportError):
                    metrics.API_TRANSPORT_ERRORS.labels(reason).inc()
                raise raised
            metrics.API_RETRIES.labels(reason).inc()
            log.debug(
                "%s failed (%s), retry %d in %.2f s", _where(method, url), reason, attempt, delay
            )
            await self._sleep(delay)


def install(api: client.ApiClient, settings: TransportSettings) -> Transport:
    """Route every request of ``api`` through a ``Transport``; returns it."""
    rest = api.rest_client
    transport = Transport(rest.request, settings)
    # An instance attribute: the client's GET, PATCH, … call ``self.request``.
    rest.request = transport.request  # type: ignore[method-assign]
    return transport
