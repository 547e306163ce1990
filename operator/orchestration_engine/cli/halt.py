"""The manual emergency halt, as the CLI sets and releases it: the engine's ``spec.halt``."""

from __future__ import annotations

from orchestration_engine.api.common import API_VERSION
from orchestration_engine.api.engine import KIND, PLURAL, SINGLETON_NAME
from orchestration_engine.kube.client import make_api_client
from orchestration_engine.kube.objects import CustomObjects


async def set_halt(halt: bool, reason: str | None) -> str:
    api = await make_api_client()
    try:
        objects = CustomObjects(api)
        spec = {"halt": halt, "haltReason": reason}
        if await objects.get(PLURAL, "", SINGLETON_NAME) is None:
            body = {"apiVersion": API_VERSION, "kind": KIND, "metadata": {"name": SINGLETON_NAME}}
            await objects.create(
                PLURAL, "", {**body, "spec": {k: v for k, v in spec.items() if v is not None}}
            )
        else:
            await objects.patch_spec(PLURAL, "", SINGLETON_NAME, spec)
    finally:
        await api.close()
    if halt:
        return f"emergency halt requested: {reason}"
    return "emergency halt released"
