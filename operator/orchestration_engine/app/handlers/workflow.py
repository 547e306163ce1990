"""OrchestrationWorkflow handlers: every event goes to the controller (execution/).

No kopf create/update handlers: they would make kopf write its progress annotations on every
workflow, and each such write is one more API round trip between a workflow's creation and
its start. The controller judges the spec itself, from the same events.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import kopf

from orchestration_engine.api.common import GROUP, VERSION
from orchestration_engine.api.workflow import PLURAL
from orchestration_engine.core.workflow_run import TERMINAL_PHASES
from orchestration_engine.plumbing.logs import reconciling

if TYPE_CHECKING:
    from orchestration_engine.app.components import Components

FINISHED = frozenset(p.value for p in TERMINAL_PHASES)


async def workflow_event(event: kopf.RawEvent, memo: Components, **_: Any) -> None:
    memo.sightings.observe(PLURAL, event)
    event_type = event.get("type")
    memo.workflows.observe(event_type, event["object"])
    memo.controller.observe(event_type, event["object"])
    if (event["object"].get("status") or {}).get("phase") in FINISHED:
        memo.collector.wake()  # its retention may now delete it, or an older one


def register(registry: kopf.OperatorRegistry) -> None:
    kopf.on.event(GROUP, VERSION, PLURAL, registry=registry)(reconciling(workflow_event))
