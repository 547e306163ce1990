"""``http``: one HTTP request whose answer must have an expected status.

Every request carries an ``Idempotency-Key`` made of the workflow's uid, the step and the
attempt, so a server that honours the header can tell a re-run of the same attempt (after an
operator crash) from a new one. The response body is never read whole: a few hundred bytes
are enough to say why a call failed.
"""

from __future__ import annotations

from typing import Any

import httpx

from orchestration_engine.actions.base import ActionDeps, StepContext, StepFailed
from orchestration_engine.api.workflow import HttpParams

IDEMPOTENCY_KEY = "Idempotency-Key"
EXCERPT_CHARS = 200


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


async def http(deps: ActionDeps, ctx: StepContext, params: HttpParams) -> str:
    method = params.method.value
    what = f"{method} {shown_url(params.url)}"
    try:
        async with deps.http.stream(
            method, params.url, headers=request_headers(ctx, params), **_body(params)
        ) as response:
            status = response.status_code
            if status in params.expected_status:
                return f"{what} answered {status}"
            excerpt = await _excerpt(response)
    except (httpx.HTTPError, httpx.InvalidURL) as error:
        raise StepFailed(f"{what} failed: {_reason(error)}") from None
    detail = f": {excerpt}" if excerpt else ""
    raise StepFailed(f"{what} answered {status}, expected {params.expected_status}{detail}")
