"""The failover and failback steps: the operator's switch asked for, its failure the step's."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal, cast

import pytest

from orchestration_engine.actions.base import ActionDeps, StepContext, StepFailed
from orchestration_engine.actions.failover import failback, failover
from orchestration_engine.api.workflow import ServiceParams
from orchestration_engine.kube.traffic_switch import SwitchFailed

# namespace, workflow, its uid, step, attempt, started at
CTX = StepContext("shop", "nightly", "uid-1", "switch", 1, datetime(2026, 11, 24, tzinfo=UTC))


class Switch:
    """Stands for the operator's failover: records each call, fails when told to."""

    def __init__(self, failure: SwitchFailed | None = None) -> None:
        self.failure = failure
        self.calls: list[tuple[str, str, str]] = []

    async def __call__(
        self, namespace: str, service: str, to: Literal["standby", "primary"]
    ) -> str:
        self.calls.append((namespace, service, to))
        if self.failure is not None:
            raise self.failure
        return f"traffic of {service} switched to {to}"

    def deps(self) -> ActionDeps:
        return ActionDeps(
            api=cast(Any, None),
            http=cast(Any, None),
            health=lambda namespace, name: None,
            service=lambda namespace, name: None,
            failover=self,
        )


async def test_each_step_asks_for_its_direction() -> None:
    switch = Switch()
    params = ServiceParams(service="payments")
    assert await failover(switch.deps(), CTX, params) == "traffic of payments switched to standby"
    assert await failback(switch.deps(), CTX, params) == "traffic of payments switched to primary"
    assert switch.calls == [("shop", "payments", "standby"), ("shop", "payments", "primary")]


@pytest.mark.parametrize("step", [failover, failback])
async def test_a_switch_that_failed_fails_the_attempt_with_its_message(step: Any) -> None:
    switch = Switch(SwitchFailed("ServiceNotFound", "Service payments not found in shop"))
    with pytest.raises(StepFailed, match=r"^Service payments not found in shop$") as failed:
        await step(switch.deps(), CTX, ServiceParams(service="payments"))
    assert not isinstance(failed.value, SwitchFailed)
