"""``waitHealthy``: done when every named OrchestratedService is HEALTHY.

Health comes from the operator's own monitor (``deps.health``), so this step sees exactly
what ``status.health`` says. It polls rather than subscribing: the poll costs a dict lookup
per service, and the step's timeout bounds how long it waits.
"""

from __future__ import annotations

import asyncio

from orchestration_engine.actions.base import ActionDeps, StepContext, StepFailed
from orchestration_engine.api.service import Health
from orchestration_engine.api.workflow import WaitHealthyParams


def _missing(deps: ActionDeps, namespace: str, names: list[str]) -> list[str]:
    return [name for name in names if deps.service(namespace, name) is None]


def _not_healthy(deps: ActionDeps, namespace: str, names: list[str]) -> list[str]:
    return [name for name in names if deps.health(namespace, name) is not Health.HEALTHY]


async def wait_healthy(deps: ActionDeps, ctx: StepContext, params: WaitHealthyParams) -> str:
    while True:
        # Checked on every round: a service deleted while we wait can never become healthy.
        missing = _missing(deps, ctx.namespace, params.services)
        if missing:
            noun = "OrchestratedService" if len(missing) == 1 else "OrchestratedServices"
            raise StepFailed(f"{noun} {', '.join(missing)} not found in {ctx.namespace}")
        if not _not_healthy(deps, ctx.namespace, params.services):
            return f"{', '.join(params.services)} HEALTHY"
        await asyncio.sleep(deps.poll_seconds)
