"""Which function runs which step action, and which stops what an ended step started.

``end_action`` runs when a step's attempt ends without succeeding, however it ends (it
failed or timed out, the workflow's deadline passed, an emergency halt stopped it, the
workflow was deleted). Only actions that start something that outlives their call have an
ending: a ``job`` step's Job runs on without the operator. The others act in one request
(scale, patch, restart, failover: there is nothing left running to stop) or only wait
(delay, waitHealthy); an ``http`` request already sent cannot be called back.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import TypeVar

from orchestration_engine.actions.base import Action, ActionDeps, StepContext
from orchestration_engine.actions.delay import delay
from orchestration_engine.actions.failover import failback, failover
from orchestration_engine.actions.http import http
from orchestration_engine.actions.job import job, stop_job
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


ENDINGS: dict[StepAction, Action] = {
    StepAction.JOB: _taking(JobParams, stop_job),
}


async def run_action(deps: ActionDeps, ctx: StepContext, step: Step) -> str:
    return await ACTIONS[step.action](deps, ctx, step.typed_params())


async def end_action(deps: ActionDeps, ctx: StepContext, step: Step) -> str | None:
    """Stop what this attempt of ``step`` started; what was done (None: nothing to do)."""
    ending = ENDINGS.get(step.action)
    if ending is None:
        return None
    return await ending(deps, ctx, step.typed_params())
