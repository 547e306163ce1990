"""``http``: one HTTP request whose answer must have an expected status.

Every request carries an ``Idempotency-Key`` made of the workflow's uid, the step and the
attempt, so a server that honours the header can tell a re-run of the same attempt (after an
operator crash, or a halt) from a new one. The response body is never read whole: a few
hundred bytes are enough to say why a call failed.

Within an attempt, a request that met a transient fault (the connection failed or broke, or
the server answered 429, 502, 503 or 504, none of them expected) is sent again, with the
same headers and so the same key, after the server's ``Retry-After`` or a capped backoff
(core/retry.py): up to ``TRIES`` times in all and while the step's time allows, so a blip
passes and an endpoint that is down (or a wrong URL) still fails the attempt in seconds,
with the last fault as its message. Longer outages are what a step's ``retries`` are for.

How long one request may take follows the step too: the time the attempt has left (its
``timeoutSeconds``), not the client's default, so a slow answer within the step's timeout
is waited for and one past it ends with the step.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import httpx

from orchestration_engine.actions.base import ActionDeps, StepContext, StepFailed
from orchestration_engine.api.workflow import HttpParams
from orchestration_engine.core.retry import next_wait, parse_retry_after
from orchestration_engine.kube import transient
from orchestration_engine.plumbing import metrics

IDEMPOTENCY_KEY = "Idempotency-Key"
EXCERPT_CHARS = 200
# Answers that say "not now" rather than "no": the same request may pass a moment later.
RETRIED_STATUSES = frozenset({429, 502, 503, 504})
# Sends of one request within an attempt, the first included.
TRIES = 4
# A request's own timeout ends this much after the step's, so that the step's timeout
# (and its message) is what ends a request that takes the whole time.
TIMEOUT_MARGIN_SECONDS = 1.0


def request_headers(ctx: StepContext, params: HttpParams) -> dict[str, str]:
    headers = dict(params.headers)
    # A key the user chose wins: they may be replaying a request the server already knows.
    if not any(name.lower() == IDEMPOTENCY_KEY.lower() for name in headers):
        headers[IDEMPOTENCY_KEY] = ctx.idempotency_key
    return headers


def _body(params: HttpParams) -> dict[str, Any]:
    if params.body is None:
        return {}
    if isinstance(params.body, str):
        return {"content": params.body}
    return {"json": params.body}


def shown_url(url: str) -> str:
    """The URL for a message, without any user:password in it (messages land in status)."""
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL:
        return url
    if not parsed.userinfo:
        return url
    return str(parsed.copy_with(username=None, password=None))


async def _excerpt(response: httpx.Response) -> str:
    """The start of the body, reading no more than it needs."""
    taken = bytearray()
    async for chunk in response.aiter_bytes():
        taken.extend(chunk)
        if len(taken) >= EXCERPT_CHARS * 4:  # enough for the characters, in any UTF-8
            break
    text = taken.decode(response.encoding or "utf-8", errors="replace")
    text = " ".join(text.split())
    return text if len(text) <= EXCERPT_CHARS else text[: EXCERPT_CHARS - 1] + "…"


def _reason(error: httpx.HTTPError | httpx.InvalidURL) -> str:
    # Timeouts and some connection errors carry no message of their own.
    return str(error) or type(error).__name__


def request_timeout(time_left: float | None) -> httpx.Timeout | None:
    """The time the step has left, for every phase of the request (connect, write, read,
    waiting for a pooled connection); None (the client's default) outside a step."""
    if time_left is None:
        return None
    return httpx.Timeout(time_left + TIMEOUT_MARGIN_SECONDS)


class _Retry(Exception):
    """One try met a transient fault; ``reason`` says which."""

    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


async def _try(deps: ActionDeps, params: HttpParams, headers: dict[str, str], what: str) -> str:
    """One request: the step's message if it answered as expected; ``_Retry`` on a
    transient fault; StepFailed otherwise."""
    method = params.method.value
    try:
        async with deps.http.stream(
            method,
            params.url,
            headers=headers,
            timeout=request_timeout(transient.time_left()),
            **_body(params),
        ) as response:
            status = response.status_code
            if status in params.expected_status:
                return f"{what} answered {status}"
            excerpt = await _excerpt(response)
            retry_after = parse_retry_after(response.headers.get("Retry-After"), _utc_now())
    except httpx.TimeoutException as error:  # the step's time is spent: nothing to retry
        raise StepFailed(f"{what} failed: {_reason(error)}") from None
    except (httpx.NetworkError, httpx.RemoteProtocolError) as error:  # refused, reset, closed
        raise _Retry(f"{what} failed: {_reason(error)}") from None
    except (httpx.HTTPError, httpx.InvalidURL) as error:
        raise StepFailed(f"{what} failed: {_reason(error)}") from None
    detail = f": {excerpt}" if excerpt else ""
    answer = f"{what} answered {status}, expected {params.expected_status}{detail}"
    if status in RETRIED_STATUSES:
        raise _Retry(answer, retry_after)
    raise StepFailed(answer)


def _utc_now() -> datetime:
    return datetime.now(UTC)


async def http(deps: ActionDeps, ctx: StepContext, params: HttpParams) -> str:
    what = f"{params.method.value} {shown_url(params.url)}"
    headers = request_headers(ctx, params)  # made once: every try carries the same key
    tries = 0
    while True:
        try:
            return await _try(deps, params, headers, what)
        except _Retry as fault:
            tries += 1
            left = transient.time_left()
            # Outside a step (no time bound) there is no time to retry in.
            wait = None
            if left is not None and tries < TRIES:
                wait = next_wait(tries, fault.retry_after, left)
            if wait is None:
                again = f" (sent {tries} times)" if tries > 1 else ""
                raise StepFailed(fault.reason + again) from None
            metrics.STEP_TRANSIENT_RETRIES.labels("http").inc()
            await asyncio.sleep(wait)
