"""OrchestrationEngine handlers (the cluster-scoped singleton ``default``)."""

from __future__ import annotations

from typing import Any

import kopf

from orchestration_engine.api.engine import PLURAL, SINGLETON_NAME, EngineSpec
from orchestration_engine.handlers.acceptance import acceptance_status, judge, on_spec_change


async def accept_engine(
    spec: kopf.Spec, status: kopf.Status, meta: kopf.Meta, patch: kopf.Patch, **_: Any
) -> None:
    extra = (
        []
        if meta.get("name") == SINGLETON_NAME
        else [f"only the engine named {SINGLETON_NAME!r} is used"]
    )
    problems = judge(EngineSpec, dict(spec), extra)
    patch.status.update(
        acceptance_status(
            dict(status),
            meta.get("generation"),
            problems,
            ready_message="the engine's spec is accepted",
        )
    )


def register(registry: kopf.OperatorRegistry) -> None:
    on_spec_change(registry, PLURAL, accept_engine)
