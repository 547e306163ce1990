"""``scale``: set a workload's replicas, named directly or through an OrchestratedService.

It sets the target (never adds to the current count), so running the same attempt twice
lands in the same place, and a request tried again after a transient API fault (429, 5xx, a
dropped connection: kube/transient.py) is harmless. It does not wait for the replicas to be
ready: a ``waitHealthy`` step after it does, with its own timeout.

It does wait, a few milliseconds, until the operator's own view of the workload (its watch
cache) has the change. Health is judged from that view, and the next step starts as soon as
this one's end is written: one round trip, which may beat the workload's watch event. A
``waitHealthy`` step reading the health before that event still saw the old count (1 of 1
ready: HEALTHY) and passed at once, before any new pod ran.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from orchestration_engine.actions.base import ActionDeps, StepContext, StepFailed
from orchestration_engine.api.common import WorkloadRef
from orchestration_engine.api.workflow import RestartParams, ScaleParams
from orchestration_engine.kube import resources
from orchestration_engine.kube.transient import retrying

# How often the operator's cache is looked at while waiting for it to see the change.
SEEN_POLL_SECONDS = 0.02


@dataclass(frozen=True)
class Target:
    ref: WorkloadRef
    service: str | None  # the OrchestratedService it was named through, if any

    @property
    def workload(self) -> str:
        return f"{self.ref.kind.value} {self.ref.name}"

    @property
    def subject(self) -> str:
        """What a message is about: the service the user named, else the workload."""
        return self.service or self.workload

    def suffix(self) -> str:
        return f" ({self.workload})" if self.service else ""


def resolve_target(
    deps: ActionDeps, ctx: StepContext, params: ScaleParams | RestartParams
) -> Target:
    if params.workload_ref is not None:
        return Target(params.workload_ref, None)
    assert params.service is not None  # the params model requires exactly one of the two
    spec = deps.service(ctx.namespace, params.service)
    if spec is None:
        raise StepFailed(f"OrchestratedService {params.service} not found in {ctx.namespace}")
    if spec.workload_ref is None:
        raise StepFailed(f"OrchestratedService {params.service} has no workloadRef")
    return Target(spec.workload_ref, params.service)


async def scale(deps: ActionDeps, ctx: StepContext, params: ScaleParams) -> str:
    target = resolve_target(deps, ctx, params)
    patched = await retrying(
        lambda: resources.patch(
            deps.api,
            resources.workload(target.ref),
            ctx.namespace,
            target.ref.name,
            {"spec": {"replicas": params.replicas}},
        ),
        action="scale",
        what=f"PATCH {target.workload}",
    )
    if patched is None:
        raise StepFailed(f"{target.workload} not found in {ctx.namespace}")
    await seen_by_operator(deps, ctx, target.ref, patched)
    return f"{target.subject} scaled to {params.replicas} replicas{target.suffix()}"


async def seen_by_operator(
    deps: ActionDeps, ctx: StepContext, ref: WorkloadRef, patched: dict[str, Any]
) -> None:
    """Until the operator's cache holds ``patched``'s generation of the workload, or a newer
    one. The step's timeout bounds the wait; a workload the cache does not hold (never seen,
    or deleted since) is not waited for: nothing would ever bring it."""
    if deps.workload_generation is None:
        return
    generation = (patched.get("metadata") or {}).get("generation")
    if not isinstance(generation, int):
        return
    while True:
        seen = deps.workload_generation(ctx.namespace, ref.kind.value, ref.name)
        if seen is None or seen >= generation:
            return
        await asyncio.sleep(SEEN_POLL_SECONDS)
