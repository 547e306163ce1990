"""``failover`` and ``failback``: move a service's traffic to its standby and back.

The mechanics (scaling the standby, switching the Service's selector) and the service's
status belong to the operator's failover (``deps.failover``), which automatic failover uses
too; a step only asks for it, so a manual and an automatic failover behave the same.
"""

from __future__ import annotations

from orchestration_engine.actions.base import ActionDeps, StepContext
from orchestration_engine.api.workflow import ServiceParams


async def failover(deps: ActionDeps, ctx: StepContext, params: ServiceParams) -> str:
    return await deps.failover(ctx.namespace, params.service, "standby")


async def failback(deps: ActionDeps, ctx: StepContext, params: ServiceParams) -> str:
    return await deps.failover(ctx.namespace, params.service, "primary")
