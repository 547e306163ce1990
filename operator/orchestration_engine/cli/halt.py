"""The manual emergency halt, as the CLI sets and releases it: the engine's ``spec.halt``."""

from __future__ import annotations

from orchestration_engine.kube.client import make_api_client
from orchestration_engine.kube.engine_object import EngineObject


async def set_halt(halt: bool, reason: str | None) -> str:
    api = await make_api_client()
    try:
        await EngineObject(api).set_spec({"halt": halt, "haltReason": reason})
    finally:
        await api.close()
    if halt:
        return f"emergency halt requested: {reason}"
    return "emergency halt released"
