"""Which function runs which step action."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import TypeVar

from orchestration_engine.actions.base import Action, ActionDeps, StepContext
from orchestration_engine.actions.delay import delay
from orchestration_engine.actions.failover import failback, failover
from orchestration_engine.actions.http import http
from orchestration_engine.actions.job import job
from orchestration_engine.actions.patch import patch
from orchestration_engine.actions.restart import restart
from orchestration_engine.actions.scale import scale
from orchestration_engine.actions.wait_healthy import wait_healthy
from orchestration_engine.api.base import Model
from orchestration_engine.api.workflow import (
    DelayParams,
    HttpParams,
    JobParams,
    PatchParams,
    RestartParams,
    ScaleParams,
    ServiceParams,
    Step,
    StepAction,
    WaitHealthyParams,
)

P = TypeVar("P", bound=Model)


def _taking(
    params_type: type[P], action: Callable[[ActionDeps, StepContext, P], Awaitable[str]]
) -> Action:
    """``action`` as an ``Action``: each takes its own params model, checked here once."""

    @functools.wraps(action)
    async def run(deps: ActionDeps, ctx: StepContext, params: Model) -> str:
        if not isinstance(params, params_type):
            raise TypeError(f"{action.__name__} takes {params_type.__name__}, not {params!r}")
        return await action(deps, ctx, params)

    return run


ACTIONS: dict[StepAction, Action] = {
    StepAction.SCALE: _taking(ScaleParams, scale),
    StepAction.RESTART: _taking(RestartParams, restart),
    StepAction.FAILOVER: _taking(ServiceParams, failover),
    StepAction.FAILBACK: _taking(ServiceParams, failback),
    StepAction.WAIT_HEALTHY: _taking(WaitHealthyParams, wait_healthy),
    StepAction.HTTP: _taking(HttpParams, http),
    StepAction.JOB: _taking(JobParams, job),
    StepAction.PATCH: _taking(PatchParams, patch),
    StepAction.DELAY: _taking(DelayParams, delay),
}


async def run_action(deps: ActionDeps, ctx: StepContext, step: Step) -> str:
    return await ACTIONS[step.action](deps, ctx, step.typed_params())
