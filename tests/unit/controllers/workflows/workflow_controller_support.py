"""A WorkflowController in unit tests: a fake API server behind it, recorded Events, a
harness that drives it, workflow bodies (running and finished) and step runners."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from orchestration_engine.actions.base import StepContext
from orchestration_engine.api.service import Health
from orchestration_engine.api.workflow import Step
from orchestration_engine.controllers.workflows.controller import WorkflowController
from orchestration_engine.core.scheduler import Limits, Resources
from orchestration_engine.kube.errors import Conflict, NotFound

T0 = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


class FakeServer:
    """Status writes as the API server stores them, with resource versions."""

    def __init__(self) -> None:
        self.objects: dict[tuple[str, str], dict[str, Any]] = {}
        self.rv = 0
        self.writes: list[tuple[str, dict[str, Any]]] = []
        self.controller: WorkflowController | None = None

    def put(self, body: dict[str, Any]) -> dict[str, Any]:
        self.rv += 1
        body["metadata"]["resourceVersion"] = str(self.rv)
        meta = body["metadata"]
        self.objects[(meta["namespace"], meta["name"])] = body
        return body

    def _merge(self, name: str, namespace: str, status: dict[str, Any]) -> dict[str, Any]:
        body = self.objects.get((namespace, name))
        if body is None:
            raise NotFound(404, f"{name} not found")
        current = dict(body.get("status") or {})
        for key, value in status.items():
            if value is None:
                current.pop(key, None)
            else:
                current[key] = value
        body = {**body, "status": current}
        self.writes.append((name, status))
        return self.put(body)

    # StatusSink
    def submit(self, plural: str, namespace: str, name: str, status: dict[str, Any]) -> None:
        stored = self._merge(name, namespace, status)
        if self.controller is not None:
            asyncio.get_running_loop().call_soon(self.controller.observe, "MODIFIED", stored)

    def forget(self, plural: str, namespace: str, name: str) -> None:
        pass

    async def read(self, namespace: str, name: str) -> dict[str, Any] | None:
        return self.objects.get((namespace, name))

    async def write_now(
        self,
        plural: str,
        namespace: str,
        name: str,
        status: dict[str, Any],
        *,
        resource_version: str | None = None,
    ) -> dict[str, Any]:
        current = self.objects.get((namespace, name))
        if (
            current is not None
            and resource_version is not None
            and resource_version != current["metadata"]["resourceVersion"]
        ):
            raise Conflict(409, f"{name} was modified")
        stored = self._merge(name, namespace, status)
        if self.controller is not None:
            asyncio.get_running_loop().call_soon(self.controller.observe, "MODIFIED", stored)
        return stored


class Events:
    def __init__(self) -> None:
        self.recorded: list[tuple[str, str, str]] = []

    def record(self, ref: Any, type_: str, reason: str, message: str) -> None:
        self.recorded.append((ref.name, type_, reason))


def body(
    name: str, steps: list[dict[str, Any]], *, created: datetime = T0, **spec: Any
) -> dict[str, Any]:
    return {
        "metadata": {
            "namespace": "ns",
            "name": name,
            "uid": f"uid-{name}",
            "generation": 1,
            "creationTimestamp": created.strftime("%Y-%m-%dT%H:%M:%SZ"),
        },
        "spec": {"steps": steps, **spec},
    }


def delay(name: str, **step: Any) -> dict[str, Any]:
    return {"name": name, "action": "delay", "params": {"seconds": 0}, **step}


class Harness:
    def __init__(
        self,
        run_step: Callable[[StepContext, Step], Awaitable[str]],
        *,
        max_concurrent: int = 10,
        capacity: Resources | None = None,
    ) -> None:
        self.server = FakeServer()
        self.events = Events()
        self.limits = Limits(max_concurrent, capacity)
        self.cleaned: list[tuple[str, str]] = []

        async def cleanup(namespace: str, uid: str) -> int:
            self.cleaned.append((namespace, uid))
            return 1

        self.controller = WorkflowController(
            statuses=self.server,
            events=self.events,
            run_step=run_step,
            limits=lambda: self.limits,
            health=lambda _ns, _name: Health.HEALTHY,
            cleanup=cleanup,
            read=self.server.read,
        )
        self.server.controller = self.controller

    def create(self, workflow: dict[str, Any]) -> None:
        stored = self.server.put(workflow)
        self.controller.observe("ADDED", stored)

    def status(self, name: str) -> dict[str, Any]:
        return self.server.objects[("ns", name)].get("status") or {}

    async def until(self, predicate: Callable[[], bool], timeout: float = 3.0) -> None:
        async with asyncio.timeout(timeout):
            while not predicate():
                await asyncio.sleep(0.01)


async def succeed(context: StepContext, step: Step) -> str:
    return f"{step.name} done"


STAMP = T0.strftime("%Y-%m-%dT%H:%M:%SZ")


def finished(name: str, phase: str = "Succeeded", **spec: Any) -> dict[str, Any]:
    workflow = body(name, [delay("a"), delay("b", dependsOn=["a"])], **spec)
    workflow["status"] = {
        "phase": phase,
        "progress": 100.0,
        "startedAt": STAMP,
        "finishedAt": STAMP,
        "message": "all steps succeeded",
        "steps": [
            {"name": n, "phase": "Succeeded", "attempts": 1, "message": "done"} for n in "ab"
        ],
        "conditions": [
            {
                "type": "Ready",
                "status": "True",
                "reason": phase,
                "message": "finished",
                "lastTransitionTime": STAMP,
            }
        ],
    }
    return workflow
