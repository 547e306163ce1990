"""``delay``: wait a number of seconds, counted from the attempt's start.

Counting from ``ctx.started_at`` (kept in status) rather than from the call means a delay
interrupted by an operator restart waits only what is left, not the whole time again.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from orchestration_engine.actions.base import ActionDeps, StepContext
from orchestration_engine.api.workflow import DelayParams

Clock = Callable[[], datetime]


def _utc_now() -> datetime:
    return datetime.now(UTC)


def remaining_seconds(started_at: datetime, seconds: float, now: datetime) -> float:
    if started_at.tzinfo is None:
        started_at = started_at.replace(tzinfo=UTC)
    until = started_at + timedelta(seconds=seconds)
    return max(0.0, (until - now).total_seconds())


async def delay(
    deps: ActionDeps, ctx: StepContext, params: DelayParams, *, clock: Clock = _utc_now
) -> str:
    left = remaining_seconds(ctx.started_at, params.seconds, clock())
    if left > 0:
        await asyncio.sleep(left)
    return f"waited {params.seconds:g}s"
