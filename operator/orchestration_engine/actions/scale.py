"""``scale``: set a workload's replicas, named directly or through an OrchestratedService.

It sets the target (never adds to the current count), so running the same attempt twice
lands in the same place, and a request tried again after a transient API fault (429, 5xx, a
dropped connection: kube/transient.py) is harmless. It does not wait for the replicas to be
ready: a ``waitHealthy`` step after it does, with its own timeout.
"""

from __future__ import annotations

from dataclasses import dataclass

from orchestration_engine.actions.base import ActionDeps, StepContext, StepFailed
from orchestration_engine.api.common import WorkloadRef
from orchestration_engine.api.workflow import RestartParams, ScaleParams
from orchestration_engine.kube import resources
from orchestration_engine.kube.transient import retrying


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
    return f"{target.subject} scaled to {params.replicas} replicas{target.suffix()}"
