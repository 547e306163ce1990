"""What every step action receives and how it reports.

An action is idempotent by construction, because a step interrupted by an operator crash is
run again as the same attempt: it sets targets rather than increments, names what it creates
deterministically, and sends HTTP calls with an idempotency key made of the workflow's uid, the
step and the attempt. The runner records the attempt in ``status`` before calling the action.

An action that leaves work running beyond its call (a ``job`` step's Job) also has an
ending (actions/registry.py ``ENDINGS``), which the runner calls whenever an attempt ends
without succeeding; API calls go through kube/transient.py, so that a transient fault is
tried again within the step's timeout instead of failing the attempt.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, Protocol

import httpx

from orchestration_engine.api.base import Model
from orchestration_engine.api.service import Health, ServiceSpec
from orchestration_engine.kube.client import ApiClient

WORKFLOW_LABEL = "orchestration.eoe.dev/workflow"
WORKFLOW_UID_LABEL = "orchestration.eoe.dev/workflow-uid"
STEP_LABEL = "orchestration.eoe.dev/step"


class StepFailed(Exception):
    """The attempt failed; the runner retries it if the step has retries left."""


@dataclass(frozen=True)
class StepContext:
    namespace: str
    workflow: str
    workflow_uid: str
    step: str
    attempt: int  # 1 for the first attempt
    started_at: datetime  # when this attempt started (kept in status: survives a restart)
    rollback: bool = False  # a rollback step (names of what it creates must not clash)

    @property
    def idempotency_key(self) -> str:
        phase = "rollback" if self.rollback else "step"
        return f"{self.workflow_uid}/{phase}/{self.step}/{self.attempt}"

    def owner_reference(self, api_version: str, kind: str) -> dict[str, Any]:
        return {
            "apiVersion": api_version,
            "kind": kind,
            "name": self.workflow,
            "uid": self.workflow_uid,
            "controller": True,
            "blockOwnerDeletion": False,
        }


class Failover(Protocol):
    async def __call__(
        self, namespace: str, service: str, to: Literal["standby", "primary"]
    ) -> str: ...


@dataclass
class ActionDeps:
    """The outside world as actions see it: one seam each, so tests can swap them."""

    api: ApiClient
    http: httpx.AsyncClient
    # The current health and spec of an OrchestratedService, from the operator's caches.
    health: Callable[[str, str], Health | None]
    service: Callable[[str, str], ServiceSpec | None]
    failover: Failover
    # How often waiting actions (job, waitHealthy) look again when no event wakes them.
    poll_seconds: float = 1.0
    # A workload's metadata.generation (namespace, kind, name) as the operator's caches last
    # saw it, None if never. Unset: there are no caches to wait for (deps built by a test).
    workload_generation: Callable[[str, str, str], int | None] | None = None


Action = Callable[[ActionDeps, StepContext, Model], Awaitable[str]]
