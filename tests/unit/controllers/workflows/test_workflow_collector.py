"""The collector: deletes what core/workflow_retention.py decides, by uid, and retries."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from workflow_controller_support import T0, Harness, body, delay, finished, succeed

from orchestration_engine.controllers.workflows.collector import (
    PERIOD_SECONDS,
    UNKNOWN_RETENTION_SECONDS,
    WorkflowCollector,
)
from orchestration_engine.core.workflow_retention import Retention
from orchestration_engine.kube.errors import Unavailable


def stamped(name: str, seconds: int, phase: str = "Succeeded", **spec: Any) -> dict[str, Any]:
    workflow = finished(name, phase, **spec)
    workflow["status"]["finishedAt"] = (T0 + timedelta(seconds=seconds)).strftime(
        "%Y-%m-%dT%H:%M:%SZ"
    )
    return workflow


class Deleter:
    def __init__(self, harness: Harness) -> None:
        self.harness = harness
        self.calls: list[tuple[str, str, str]] = []
        self.fail = 0

    async def __call__(self, namespace: str, name: str, uid: str) -> bool:
        self.calls.append((namespace, name, uid))
        if self.fail:
            self.fail -= 1
            raise Unavailable(503, "etcd is slow")
        stored = self.harness.server.objects.get((namespace, name))
        if stored is None or stored["metadata"]["uid"] != uid:
            return False
        del self.harness.server.objects[(namespace, name)]
        self.harness.controller.observe("DELETED", stored)
        return True


def collector(harness: Harness, deleter: Deleter, retention: Retention | None, now: Any) -> Any:
    return WorkflowCollector(
        records=lambda: harness.controller.records.values(),
        retention=lambda: retention,
        delete=deleter,
        now=lambda: now,
        min_interval=0,
    )


async def test_history_limits_delete_the_oldest_by_uid_once() -> None:
    harness = Harness(succeed)
    for i in range(5):
        harness.create(stamped(f"ok{i}", i))
    harness.create(stamped("bad", 0, "Failed"))
    deleter = Deleter(harness)
    c = collector(harness, deleter, Retention(None, 2, 1), T0 + timedelta(hours=1))
    assert await c.collect_once() == PERIOD_SECONDS
    assert sorted(deleter.calls) == [("ns", f"ok{i}", f"uid-ok{i}") for i in range(3)]
    assert sorted(k[1] for k in harness.controller.records) == ["bad", "ok3", "ok4"]
    await c.collect_once()
    assert len(deleter.calls) == 3
    await harness.until(lambda: sorted(harness.cleaned) == [("ns", f"uid-ok{i}") for i in range(3)])


async def test_a_ttl_deletes_when_due_and_says_when_to_look_again() -> None:
    harness = Harness(succeed)
    harness.create(stamped("short", 0, ttlSecondsAfterFinished=10))
    harness.create(stamped("long", 0, ttlSecondsAfterFinished=40))
    deleter = Deleter(harness)
    c = collector(harness, deleter, Retention(None, None, None), T0 + timedelta(seconds=20))
    assert await c.collect_once() == 20.25
    assert [n for _, n, _ in deleter.calls] == ["short"]


async def test_a_replaced_object_of_the_same_name_is_not_deleted() -> None:
    harness = Harness(succeed)
    harness.create(stamped("wf", 0, ttlSecondsAfterFinished=0))
    deleter = Deleter(harness)
    # Deleted and created again behind the controller's back: the name has a new uid.
    fresh = body("wf", [delay("a")])
    fresh["metadata"]["uid"] = "uid-new"
    harness.server.put(fresh)
    c = collector(harness, deleter, Retention(), T0 + timedelta(seconds=1))
    await c.collect_once()
    assert deleter.calls == [("ns", "wf", "uid-wf")]
    assert harness.server.objects[("ns", "wf")]["metadata"]["uid"] == "uid-new"


async def test_a_failed_delete_is_retried_with_backoff() -> None:
    harness = Harness(succeed)
    harness.create(stamped("wf", 0, ttlSecondsAfterFinished=0))
    deleter = Deleter(harness)
    deleter.fail = 2
    c = collector(harness, deleter, Retention(), T0 + timedelta(seconds=1))
    assert await c.collect_once() == 1.0
    assert await c.collect_once() == 2.0
    assert await c.collect_once() == PERIOD_SECONDS
    assert ("ns", "wf") not in harness.controller.records


async def test_a_dependency_of_a_waiting_workflow_is_kept() -> None:
    harness = Harness(succeed)
    harness.create(stamped("first", 0, ttlSecondsAfterFinished=0))
    harness.create(body("second", [delay("a")], dependsOn=["first"], suspend=True))
    deleter = Deleter(harness)
    c = collector(harness, deleter, Retention(), T0 + timedelta(seconds=1))
    await c.collect_once()
    assert deleter.calls == []


async def test_the_loop_wakes_on_demand_and_survives_errors() -> None:
    harness = Harness(succeed)
    deleter = Deleter(harness)
    broken = {"raise": True}

    def retention() -> Retention:
        if broken.pop("raise", False):
            raise RuntimeError("engine spec unreadable")
        return Retention(0, None, None)

    c = WorkflowCollector(
        records=lambda: harness.controller.records.values(),
        retention=retention,
        delete=deleter,
        now=lambda: T0 + timedelta(hours=1),
        min_interval=0,
    )
    await c.start()
    try:
        await harness.until(lambda: c.passes >= 1)
        harness.create(stamped("wf", 0))
        c.wake()
        await harness.until(lambda: ("ns", "wf") not in harness.controller.records, timeout=5)
    finally:
        await c.stop()


async def test_nothing_is_deleted_while_the_engines_retention_is_unknown() -> None:
    harness = Harness(succeed)
    harness.create(stamped("wf", 0, ttlSecondsAfterFinished=0))
    deleter = Deleter(harness)
    c = collector(harness, deleter, None, T0 + timedelta(hours=1))
    assert await c.collect_once() == UNKNOWN_RETENTION_SECONDS
    assert deleter.calls == []
