"""``failover`` and ``failback``: move a service's traffic to its standby and back.

The mechanics (scaling the standby, switching the Service's selector) and the service's
status belong to the operator's failover (``deps.failover``), which automatic failover uses
too; a step only asks for it, so a manual and an automatic failover behave the same. A
switch that could not be made fails the attempt with the switch's message.
"""

from __future__ import annotations

from typing import Literal

from orchestration_engine.actions.base import ActionDeps, StepContext, StepFailed
from orchestration_engine.api.workflow import ServiceParams
from orchestration_engine.kube.traffic_switch import SwitchFailed


async def _switch(
    deps: ActionDeps, ctx: StepContext, service: str, to: Literal["standby", "primary"]
) -> str:
    try:
        return await deps.failover(ctx.namespace, service, to)
    except SwitchFailed as error:
        raise StepFailed(str(error)) from None


async def failover(deps: ActionDeps, ctx: StepContext, params: ServiceParams) -> str:
    return await _switch(deps, ctx, params.service, "standby")


async def failback(deps: ActionDeps, ctx: StepContext, params: ServiceParams) -> str:
    return await _switch(deps, ctx, params.service, "primary")
