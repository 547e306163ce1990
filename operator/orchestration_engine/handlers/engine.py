"""OrchestrationEngine wiring: its watch events go to the engine keeper, which owns its status."""

from __future__ import annotations

from typing import Any

import kopf

from orchestration_engine.api.common import GROUP, VERSION
from orchestration_engine.api.engine import PLURAL


async def engine_event(event: kopf.RawEvent, memo: kopf.Memo, **_: Any) -> None:
    memo.engine.observe(event.get("type"), event["object"])


def register(registry: kopf.OperatorRegistry) -> None:
    kopf.on.event(GROUP, VERSION, PLURAL, registry=registry)(engine_event)
