"""OrchestrationEngine wiring: its watch events go to the engine keeper, which owns its status,
and to the watch canary, which the liveness probe asks (with the loops' supervisor)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import kopf

from orchestration_engine.api.common import GROUP, VERSION
from orchestration_engine.api.engine import PLURAL
from orchestration_engine.plumbing.logs import reconciling
from orchestration_engine.plumbing.supervision import LOOPS

if TYPE_CHECKING:
    from orchestration_engine.app.components import Components


async def engine_event(event: kopf.RawEvent, memo: Components, **_: Any) -> None:
    memo.canary.observed(event["object"])
    memo.engine.observe(event.get("type"), event["object"])


async def watches_alive(memo: Components, **_: Any) -> str:
    """A liveness probe: raising makes kopf's /healthz answer 500 (core/watch_liveness.py).
    Permanent, or kopf would retry the probe handler after a backoff inside the request."""
    try:
        result: str = memo.canary.probe()
    except RuntimeError as stalled:
        raise kopf.PermanentError(str(stalled)) from None
    return result


async def loops_alive(**_: Any) -> str:
    """A liveness probe: 500 while a supervised loop keeps failing (plumbing/supervision.py), so the
    kubelet restarts a pod whose status writer, Event poster, … cannot come back."""
    try:
        return LOOPS.probe()
    except RuntimeError as failing:
        raise kopf.PermanentError(str(failing)) from None


def register(registry: kopf.OperatorRegistry) -> None:
    kopf.on.event(GROUP, VERSION, PLURAL, registry=registry)(reconciling(engine_event))
    kopf.on.probe(id="watches", registry=registry)(watches_alive)
    kopf.on.probe(id="loops", registry=registry)(loops_alive)
