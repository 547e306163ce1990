"""The delay action: counted from the attempt's start, so a resumed delay waits what is left."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from orchestration_engine.actions.base import ActionDeps, StepContext
from orchestration_engine.actions.delay import delay, remaining_seconds
from orchestration_engine.api.workflow import DelayParams

T0 = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
DEPS = cast(ActionDeps, cast(Any, None))  # delay touches nothing outside


def context(started_at: datetime) -> StepContext:
    return StepContext(
        namespace="shop",
        workflow="nightly",
        workflow_uid="uid-1",
        step="pause",
        attempt=1,
        started_at=started_at,
    )


async def elapsed(coro: Any) -> tuple[Any, float]:
    loop = asyncio.get_running_loop()
    started = loop.time()
    result = await coro
    return result, loop.time() - started


def test_remaining_counts_from_the_start() -> None:
    assert remaining_seconds(T0, 30, T0) == 30
    assert remaining_seconds(T0, 30, T0 + timedelta(seconds=12)) == 18
    assert remaining_seconds(T0, 30, T0 + timedelta(hours=1)) == 0
    # A start time without a zone is taken as UTC, as the API server writes it.
    assert remaining_seconds(T0.replace(tzinfo=None), 30, T0 + timedelta(seconds=5)) == 25


async def test_fresh_delay_waits_its_length() -> None:
    message, took = await elapsed(delay(DEPS, context(datetime.now(UTC)), DelayParams(seconds=0.3)))
    assert message == "waited 0.3s"
    assert 0.25 <= took < 2.0


async def test_resumed_delay_waits_only_what_is_left() -> None:
    clock = lambda: T0 + timedelta(seconds=599.8)  # noqa: E731
    message, took = await elapsed(delay(DEPS, context(T0), DelayParams(seconds=600), clock=clock))
    assert message == "waited 600s"
    assert 0.15 <= took < 2.0


async def test_delay_already_over_returns_at_once() -> None:
    clock = lambda: T0 + timedelta(days=1)  # noqa: E731
    _, took = await elapsed(delay(DEPS, context(T0), DelayParams(seconds=60), clock=clock))
    assert took < 0.1


async def test_zero_seconds() -> None:
    message, took = await elapsed(delay(DEPS, context(datetime.now(UTC)), DelayParams(seconds=0)))
    assert message == "waited 0s"
    assert took < 0.1
