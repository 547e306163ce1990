"""``patch``: a JSON merge patch of one object in the workflow's namespace.

Only the kinds in ``PATCHABLE_KINDS`` can be patched. The patch is made with the operator's
identity, not the workflow author's, so anything a step may patch is something every author
of a workflow may effectively change. That rules out Secrets (a patch could overwrite
credentials that the author may not even be allowed to read) and RBAC objects (a patch to a
Role or RoleBinding would grant the author whatever the operator can do). The list holds the
kinds a maintenance workflow plausibly tunes; widening it is a security decision.

A merge patch sets fields rather than adding to them, so applying it twice is the same as once:
a patch tried again after a transient API fault (kube/transient.py) is harmless.
"""

from __future__ import annotations

from orchestration_engine.actions.base import ActionDeps, StepContext, StepFailed
from orchestration_engine.api.workflow import PatchParams
from orchestration_engine.kube import resources
from orchestration_engine.kube.errors import Invalid
from orchestration_engine.kube.transient import retrying

PATCHABLE_KINDS: dict[tuple[str, str], resources.Resource] = {
    (r.api_version, r.kind): r
    for r in (
        resources.DEPLOYMENT,
        resources.STATEFUL_SET,
        resources.DAEMON_SET,
        resources.CONFIG_MAP,
        resources.SERVICE,
        resources.CRON_JOB,
        resources.HPA,
        resources.PDB,
        resources.ORCHESTRATED_SERVICE,
    )
}


def patchable(api_version: str, kind: str) -> resources.Resource:
    resource = PATCHABLE_KINDS.get((api_version, kind))
    if resource is None:
        allowed = ", ".join(r.label for r in PATCHABLE_KINDS.values())
        raise StepFailed(f"cannot patch {api_version} {kind}: only {allowed} can be patched")
    return resource


async def patch(deps: ActionDeps, ctx: StepContext, params: PatchParams) -> str:
    target = params.target
    resource = patchable(target.api_version, target.kind)
    try:
        patched = await retrying(
            lambda: resources.patch(deps.api, resource, ctx.namespace, target.name, params.patch),
            action="patch",
            what=f"PATCH {target.kind} {target.name}",
        )
    except Invalid as error:
        raise StepFailed(f"{target.kind} {target.name}: patch rejected: {error}") from None
    if patched is None:
        raise StepFailed(f"{target.kind} {target.name} not found in {ctx.namespace}")
    return f"{target.kind} {target.name} patched"
