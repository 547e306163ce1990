"""retrying(): the same call again after each transient fault, honouring Retry-After, for no
longer than the enclosing within() allows; anything else passes straight through."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest

from orchestration_engine.kube.errors import Invalid, NotFound, TransportError, Unavailable
from orchestration_engine.kube.transient import StillFailing, retrying, time_left, within


class Flaky:
    """Raises these errors in turn, then answers "ok"; records when each call came."""

    def __init__(self, *errors: BaseException) -> None:
        self.errors = list(errors)
        self.calls: list[float] = []

    async def __call__(self) -> str:
        self.calls.append(asyncio.get_running_loop().time())
        if self.errors:
            raise self.errors.pop(0)
        return "ok"


@pytest.mark.parametrize(
    "error",
    [
        Unavailable(503, "503 Service Unavailable"),
        Unavailable(429, "429 Too Many Requests"),
        aiohttp.ServerDisconnectedError(),
        aiohttp.ClientOSError(104, "Connection reset by peer"),
        ConnectionRefusedError("refused"),
        TimeoutError(),
        # What the operator's own transport raises for a request with no answer at all: an
        # Unavailable whose own __init__ never ran (no Retry-After without an answer).
        TransportError("Server disconnected"),
    ],
    ids=repr,
)
async def test_429_5xx_and_dropped_connections_are_tried_again(error: BaseException) -> None:
    call = Flaky(error, error)
    with within(10):
        assert await retrying(call, action="scale", what="PATCH x") == "ok"
    assert len(call.calls) == 3


async def test_retry_after_is_honoured() -> None:
    call = Flaky(Unavailable(429, "429 Too Many Requests", retry_after=0.5))
    with within(10):
        await retrying(call, action="scale", what="PATCH x")
    assert call.calls[1] - call.calls[0] >= 0.5


async def test_errors_about_the_request_itself_are_not_retried() -> None:
    for error in (Invalid(422, "bad"), NotFound(404, "gone"), ValueError("bug")):
        call = Flaky(error)
        with pytest.raises(type(error)):
            await retrying(call, action="patch", what="PATCH x")
        assert len(call.calls) == 1


async def test_it_gives_up_when_the_next_wait_would_end_past_the_time_left() -> None:
    call = Flaky(*[Unavailable(503, "503 etcd slow")] * 100)
    loop = asyncio.get_running_loop()
    started = loop.time()
    with within(1.0), pytest.raises(StillFailing) as failed:
        await retrying(call, action="job", what="GET Job migrate")
    assert loop.time() - started <= 1.0
    assert failed.value.status == 503
    assert "GET Job migrate: 503 etcd slow" in str(failed.value)
    assert f"tried {len(call.calls)} times" in str(failed.value)


async def test_a_retry_after_longer_than_the_time_left_gives_up_at_once() -> None:
    call = Flaky(Unavailable(429, "429", retry_after=30))
    with within(2.0), pytest.raises(StillFailing):
        await retrying(call, action="job", what="GET Job migrate")
    assert len(call.calls) == 1


async def test_an_inner_within_cannot_outlast_the_outer_one() -> None:
    assert time_left() is None
    with within(1.0):
        with within(60.0):
            left = time_left()
            assert left is not None
            assert left <= 1.0
        with within(0.5):
            left = time_left()
            assert left is not None
            assert left <= 0.5
    assert time_left() is None


async def test_retries_already_given_up_are_not_retried_again_outside() -> None:
    inner = Flaky(*[Unavailable(503, "503")] * 100)

    async def nested() -> str:
        with within(0.3):
            return await retrying(inner, action="job", what="inner")

    outer = Flaky()
    calls = 0

    async def both() -> str:
        nonlocal calls
        calls += 1
        await outer()
        return await nested()

    with within(5.0), pytest.raises(StillFailing):
        await retrying(both, action="job", what="outer")
    assert calls == 1
