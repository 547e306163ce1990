"""OrchestratedService handlers."""

from __future__ import annotations

from typing import Any

import kopf

from orchestration_engine.api.service import PLURAL, ServiceSpec
from orchestration_engine.handlers.acceptance import acceptance_status, judge, on_spec_change


async def accept_service(
    spec: kopf.Spec, status: kopf.Status, meta: kopf.Meta, patch: kopf.Patch, **_: Any
) -> None:
    problems = judge(ServiceSpec, dict(spec))
    patch.status.update(
        acceptance_status(
            dict(status), meta.get("generation"), problems, ready_message="the spec is accepted"
        )
    )


def register(registry: kopf.OperatorRegistry) -> None:
    on_spec_change(registry, PLURAL, accept_service)
