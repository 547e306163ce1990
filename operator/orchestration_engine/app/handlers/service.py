"""OrchestratedService wiring: every watch event goes to the service monitor.

Event handlers (not kopf's create/update handlers) because the monitor is level-triggered
and owns the status: kopf then writes no annotations or status of its own on these objects.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import kopf

from orchestration_engine.api.common import GROUP, VERSION
from orchestration_engine.api.service import PLURAL
from orchestration_engine.plumbing.logs import reconciling

if TYPE_CHECKING:
    from orchestration_engine.app.components import Components


async def service_event(event: kopf.RawEvent, memo: Components, **_: Any) -> None:
    memo.sightings.observe(PLURAL, event)
    memo.discovered.observe(event.get("type") == "DELETED", event["object"])
    memo.monitor.observe(event.get("type"), event["object"])


def register(registry: kopf.OperatorRegistry) -> None:
    kopf.on.event(GROUP, VERSION, PLURAL, registry=registry)(reconciling(service_event))
