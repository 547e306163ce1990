"""``restart``: a rolling restart, as ``kubectl rollout restart`` does it.

The pod template gets the ``kubectl.kubernetes.io/restartedAt`` annotation; the workload's
controller rolls its pods because the template changed. The value is the attempt's start
time, not "now", so running the same attempt again after an operator crash writes the same
value and starts no second rollout, while a retry (a new attempt) does restart again.
"""

from __future__ import annotations

from datetime import UTC, datetime

from orchestration_engine.actions.base import ActionDeps, StepContext, StepFailed
from orchestration_engine.actions.scale import resolve_target
from orchestration_engine.api.workflow import RestartParams
from orchestration_engine.kube import resources
from orchestration_engine.kube.transient import retrying

RESTARTED_AT = "kubectl.kubernetes.io/restartedAt"


def restarted_at(started_at: datetime) -> str:
    """RFC 3339 in UTC to the second, as kubectl writes it.

    Whole seconds also keep the value stable when the start time comes back from status,
    where sub-second precision is not guaranteed to survive.
    """
    if started_at.tzinfo is None:
        started_at = started_at.replace(tzinfo=UTC)
    return started_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


async def restart(deps: ActionDeps, ctx: StepContext, params: RestartParams) -> str:
    target = resolve_target(deps, ctx, params)
    stamp = restarted_at(ctx.started_at)
    patch = {"spec": {"template": {"metadata": {"annotations": {RESTARTED_AT: stamp}}}}}
    # The same value on every try: a patch tried again after a transient fault restarts once.
    patched = await retrying(
        lambda: resources.patch(
            deps.api, resources.workload(target.ref), ctx.namespace, target.ref.name, patch
        ),
        action="restart",
        what=f"PATCH {target.workload}",
    )
    if patched is None:
        raise StepFailed(f"{target.workload} not found in {ctx.namespace}")
    return f"{target.subject} restarted{target.suffix()}, restartedAt {stamp}"
