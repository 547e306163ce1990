"""The waitHealthy action with stand-ins for the operator's health and spec caches."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any, cast

import pytest

from orchestration_engine.actions.base import ActionDeps, StepContext, StepFailed
from orchestration_engine.actions.wait_healthy import wait_healthy
from orchestration_engine.api.service import Health, ServiceSpec
from orchestration_engine.api.workflow import WaitHealthyParams

CTX = StepContext(
    namespace="shop",
    workflow="nightly",
    workflow_uid="uid-1",
    step="verify",
    attempt=1,
    started_at=datetime(2026, 11, 24, 12, 0, tzinfo=UTC),
)


class Fleet:
    """Services by name with their health; what ``deps.service`` and ``deps.health`` see."""

    def __init__(self, **health: Health) -> None:
        self.health = dict(health)
        self.lookups = 0

    def deps(self) -> ActionDeps:
        def service(namespace: str, name: str) -> ServiceSpec | None:
            assert namespace == "shop"
            return ServiceSpec() if name in self.health else None

        def health(namespace: str, name: str) -> Health | None:
            assert namespace == "shop"
            self.lookups += 1
            return self.health.get(name)

        return ActionDeps(
            api=cast(Any, None),
            http=cast(Any, None),
            health=health,
            service=service,
            failover=cast(Any, None),
            poll_seconds=0.01,
        )


def params(*names: str) -> WaitHealthyParams:
    return WaitHealthyParams(services=list(names))


async def test_all_healthy_at_once() -> None:
    fleet = Fleet(payments=Health.HEALTHY, db=Health.HEALTHY)
    assert await wait_healthy(fleet.deps(), CTX, params("payments", "db")) == "payments, db HEALTHY"


async def test_waits_until_the_last_one_is_healthy() -> None:
    fleet = Fleet(payments=Health.HEALTHY, db=Health.DEGRADED)
    waiting = asyncio.create_task(wait_healthy(fleet.deps(), CTX, params("payments", "db")))
    await asyncio.sleep(0.1)
    assert not waiting.done()
    # WARNING is not HEALTHY either.
    fleet.health["db"] = Health.WARNING
    await asyncio.sleep(0.05)
    assert not waiting.done()
    fleet.health["db"] = Health.HEALTHY
    assert await asyncio.wait_for(waiting, 1.0) == "payments, db HEALTHY"


async def test_unknown_health_keeps_waiting_until_the_timeout() -> None:
    fleet = Fleet(payments=Health.UNKNOWN)
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.1):
            await wait_healthy(fleet.deps(), CTX, params("payments"))
    assert fleet.lookups > 1


async def test_missing_service_fails_at_once_naming_it() -> None:
    fleet = Fleet(payments=Health.FAILED)
    with pytest.raises(StepFailed, match=r"^OrchestratedService db not found in shop$"):
        await wait_healthy(fleet.deps(), CTX, params("payments", "db"))
    with pytest.raises(StepFailed, match=r"^OrchestratedServices db, cache not found in shop$"):
        await wait_healthy(fleet.deps(), CTX, params("db", "payments", "cache"))


async def test_service_deleted_while_waiting_fails() -> None:
    fleet = Fleet(payments=Health.FAILED)
    waiting = asyncio.create_task(wait_healthy(fleet.deps(), CTX, params("payments")))
    await asyncio.sleep(0.05)
    del fleet.health["payments"]
    with pytest.raises(StepFailed, match="payments not found"):
        await asyncio.wait_for(waiting, 1.0)
