"""The controller and its runners with in-memory stand-ins for the API server: admission,
step execution, status written before side effects, resume, deletion."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest
from workflow_controller_support import T0, Harness, body, delay, succeed

from orchestration_engine.actions.base import StepContext, StepFailed
from orchestration_engine.api.workflow import Step
from orchestration_engine.core.scheduler import Limits
from orchestration_engine.kube.errors import NotFound


async def test_a_workflow_runs_to_success_and_records_each_start_first() -> None:
    seen_before_run: list[str | None] = []
    harness: Harness

    async def run_step(context: StepContext, step: Step) -> str:
        steps = {s["name"]: s for s in harness.status("wf").get("steps", [])}
        seen_before_run.append(steps[step.name]["phase"])
        return "ok"

    harness = Harness(run_step)
    await harness.controller.start()
    try:
        harness.create(body("wf", [delay("a"), delay("b", dependsOn=["a"])]))
        await harness.until(lambda: harness.status("wf").get("phase") == "Succeeded")
    finally:
        await harness.controller.stop()
    assert seen_before_run == ["Running", "Running"]
    status = harness.status("wf")
    assert [s["attempts"] for s in status["steps"]] == [1, 1]
    assert status["progress"] == 100.0
    reasons = [r for name, _t, r in harness.events.recorded if name == "wf"]
    assert reasons == ["Running", "Succeeded"]


async def test_admission_respects_the_concurrency_limit_and_frees_slots_on_end() -> None:
    gate = asyncio.Event()

    async def run_step(context: StepContext, step: Step) -> str:
        await gate.wait()
        return "ok"

    harness = Harness(run_step, max_concurrent=1)
    await harness.controller.start()
    try:
        harness.create(body("first", [delay("a")], created=T0))
        harness.create(body("second", [delay("a")], created=T0 + timedelta(seconds=1)))
        await harness.until(lambda: harness.status("second").get("phase") == "Queued")
        assert harness.status("first")["phase"] == "Running"
        assert harness.status("second")["queuePosition"] == 1
        gate.set()
        await harness.until(lambda: harness.status("second").get("phase") == "Succeeded")
    finally:
        await harness.controller.stop()
    assert "queuePosition" not in harness.status("second")


async def test_a_failing_step_is_retried_then_the_workflow_fails() -> None:
    attempts: list[int] = []

    async def run_step(context: StepContext, step: Step) -> str:
        attempts.append(context.attempt)
        raise StepFailed("boom")

    harness = Harness(run_step)
    await harness.controller.start()
    try:
        harness.create(body("wf", [delay("a", retries=1)]))
        await harness.until(lambda: harness.status("wf").get("phase") == "Failed", timeout=5)
    finally:
        await harness.controller.stop()
    assert attempts == [1, 2]
    assert harness.status("wf")["reason"] == "StepFailed"


async def test_a_running_workflow_found_at_start_is_resumed_as_the_same_attempt() -> None:
    calls: list[tuple[str, int]] = []

    async def run_step(context: StepContext, step: Step) -> str:
        calls.append((step.name, context.attempt))
        return "ok"

    harness = Harness(run_step)
    workflow = body("wf", [delay("a"), delay("b", dependsOn=["a"])])
    workflow["status"] = {
        "phase": "Running",
        "startedAt": "2026-11-24T12:00:00Z",
        "steps": [
            {"name": "a", "phase": "Succeeded", "attempts": 1},
            {"name": "b", "phase": "Running", "attempts": 1, "startedAt": "2026-11-24T12:00:01Z"},
        ],
    }
    harness.create(workflow)
    await harness.controller.start()
    try:
        await harness.until(lambda: harness.status("wf").get("phase") == "Succeeded")
    finally:
        await harness.controller.stop()
    assert calls == [("b", 1)]


async def test_deleting_a_running_workflow_stops_it_and_cleans_up() -> None:
    started = asyncio.Event()
    cancelled = asyncio.Event()

    async def run_step(context: StepContext, step: Step) -> str:
        started.set()
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            cancelled.set()
            raise
        return "ok"

    harness = Harness(run_step)
    await harness.controller.start()
    try:
        harness.create(body("wf", [delay("a")]))
        await asyncio.wait_for(started.wait(), 3)
        gone = harness.server.objects.pop(("ns", "wf"))
        harness.controller.observe("DELETED", gone)
        await asyncio.wait_for(cancelled.wait(), 3)
        await harness.until(lambda: harness.cleaned == [("ns", "uid-wf")])
    finally:
        await harness.controller.stop()
    assert not harness.controller.runners


async def test_an_invalid_spec_is_stalled_without_running() -> None:
    harness = Harness(succeed)
    await harness.controller.start()
    try:
        harness.create(body("bad", [delay("a", dependsOn=["b"]), delay("b", dependsOn=["a"])]))
        await harness.until(lambda: harness.status("bad").get("phase") == "Pending")
    finally:
        await harness.controller.stop()
    conditions = {c["type"]: c for c in harness.status("bad")["conditions"]}
    assert conditions["Stalled"]["status"] == "True"
    assert "dependsOn forms a cycle" in conditions["Stalled"]["message"]


@pytest.mark.parametrize("halted_priority", ["NORMAL"])
async def test_a_halt_parks_running_work_and_its_end_resumes_it(halted_priority: str) -> None:
    release = asyncio.Event()
    calls: list[tuple[str, int]] = []

    async def run_step(context: StepContext, step: Step) -> str:
        calls.append((step.name, context.attempt))
        await release.wait()
        return "ok"

    harness = Harness(run_step)
    await harness.controller.start()
    try:
        harness.create(body("wf", [delay("a")], priority=halted_priority))
        await harness.until(lambda: calls == [("a", 1)])
        harness.limits = Limits(10, None, halted=True)
        harness.controller.engine_changed()
        await harness.until(lambda: harness.status("wf").get("phase") == "Halted")
        harness.limits = Limits(10, None, halted=False)
        release.set()
        harness.controller.engine_changed()
        await harness.until(lambda: harness.status("wf").get("phase") == "Succeeded")
    finally:
        await harness.controller.stop()
    # The stopped attempt is resumed as the same attempt, not counted again.
    assert calls == [("a", 1), ("a", 1)]
    assert harness.status("wf")["steps"][0]["attempts"] == 1


class Gated:
    """A step action that counts its runs and holds each until the test releases it."""

    def __init__(self) -> None:
        self.runs: list[tuple[str, str]] = []
        self.release = asyncio.Event()

    async def __call__(self, context: StepContext, step: Step) -> str:
        self.runs.append((context.workflow_uid, step.name))
        await self.release.wait()
        return "ok"


async def test_a_404_on_a_status_write_stops_the_runner_for_good() -> None:
    """The DELETED event never comes (a watch that re-listed): the 404 alone must stop it,
    and a late event of the deleted object (its own write coming back) must not revive it."""
    gated = Gated()
    harness = Harness(gated)
    await harness.controller.start()
    try:
        harness.create(body("wf", [delay("a"), delay("b", dependsOn=["a"])]))
        await harness.until(lambda: gated.runs == [("uid-wf", "a")])
        last = harness.server.objects.pop(("ns", "wf"))
        gated.release.set()
        await harness.until(lambda: harness.cleaned == [("ns", "uid-wf")])
        harness.controller.observe("MODIFIED", last)
        await asyncio.sleep(0.3)
    finally:
        await harness.controller.stop()
    assert gated.runs == [("uid-wf", "a")]
    assert not harness.controller.records


async def test_a_workflow_being_deleted_stops_and_stays_stopped() -> None:
    gated = Gated()
    harness = Harness(gated)
    await harness.controller.start()
    try:
        harness.create(body("wf", [delay("a")]))
        await harness.until(lambda: len(gated.runs) == 1)
        terminating = harness.server.objects[("ns", "wf")]
        terminating["metadata"]["deletionTimestamp"] = "2026-11-24T12:00:05Z"
        terminating["metadata"]["finalizers"] = ["example.com/hold"]
        harness.controller.observe("MODIFIED", harness.server.put(terminating))
        await harness.until(lambda: harness.cleaned == [("ns", "uid-wf")])
        harness.controller.observe("MODIFIED", harness.server.put(terminating))
        await asyncio.sleep(0.3)
    finally:
        await harness.controller.stop()
    assert gated.runs == [("uid-wf", "a")]
    assert not harness.controller.runners


async def test_a_workflow_recreated_with_the_same_name_runs_afresh_once() -> None:
    gated = Gated()
    harness = Harness(gated)
    await harness.controller.start()
    try:
        harness.create(body("wf", [delay("a")]))
        await harness.until(lambda: len(gated.runs) == 1)
        # Deleted and created again between two events: only the new object is seen.
        del harness.server.objects[("ns", "wf")]
        again = body("wf", [delay("a")])
        again["metadata"]["uid"] = "uid-wf-2"
        harness.create(again)
        await harness.until(lambda: len(gated.runs) == 2)
        gated.release.set()
        await harness.until(lambda: harness.status("wf").get("phase") == "Succeeded")
        await asyncio.sleep(0.3)
    finally:
        await harness.controller.stop()
    assert gated.runs == [("uid-wf", "a"), ("uid-wf-2", "a")]
    assert harness.cleaned == [("ns", "uid-wf")]


async def test_a_stale_runner_never_overwrites_status_another_writer_moved() -> None:
    """Its write is conditional on the version it read: the 409 makes it read again and
    decide from what the other writer recorded, here that the workflow already ended."""
    gated = Gated()
    harness = Harness(gated)
    await harness.controller.start()
    try:
        harness.create(body("wf", [delay("a"), delay("b", dependsOn=["a"])]))
        await harness.until(lambda: len(gated.runs) == 1)
        current = harness.server.objects[("ns", "wf")]
        moved = {**current["status"], "phase": "Failed", "message": "ended elsewhere"}
        harness.server.put({**current, "status": moved})  # no event: the runner does not know
        gated.release.set()
        await harness.until(lambda: "wf" not in {k[1] for k in harness.controller.runners})
        await asyncio.sleep(0.3)
    finally:
        await harness.controller.stop()
    assert gated.runs == [("uid-wf", "a")]
    assert harness.status("wf")["phase"] == "Failed"
    assert harness.status("wf")["message"] == "ended elsewhere"


async def test_a_metadata_change_only_makes_the_runner_write_again() -> None:
    gated = Gated()
    harness = Harness(gated)
    await harness.controller.start()
    try:
        harness.create(body("wf", [delay("a"), delay("b", dependsOn=["a"])]))
        await harness.until(lambda: len(gated.runs) == 1)
        current = harness.server.objects[("ns", "wf")]
        labelled = {**current, "metadata": {**current["metadata"], "labels": {"team": "x"}}}
        harness.server.put(labelled)  # a new resourceVersion, the same status
        gated.release.set()
        await harness.until(lambda: harness.status("wf").get("phase") == "Succeeded")
    finally:
        await harness.controller.stop()
    assert gated.runs == [("uid-wf", "a"), ("uid-wf", "b")]


async def test_a_404_of_an_object_still_there_is_retried_not_taken_for_deletion() -> None:
    """A 404 of the path (a proxy, a server still installing its paths), not of the object:
    a read finds the workflow there as itself, so the write is retried and the run goes on."""
    gated = Gated()
    harness = Harness(gated)
    real = harness.server.write_now
    missing = 1

    async def flaky(*args: Any, **kwargs: Any) -> dict[str, Any]:
        nonlocal missing
        if missing and len(gated.runs) == 1 and gated.release.is_set():
            missing -= 1
            raise NotFound(404, "the server could not find the requested resource")
        return await real(*args, **kwargs)

    harness.server.write_now = flaky  # type: ignore[method-assign]
    await harness.controller.start()
    try:
        harness.create(body("wf", [delay("a"), delay("b", dependsOn=["a"])]))
        await harness.until(lambda: len(gated.runs) == 1)
        gated.release.set()
        await harness.until(lambda: harness.status("wf").get("phase") == "Succeeded")
    finally:
        await harness.controller.stop()
    assert missing == 0
    assert gated.runs == [("uid-wf", "a"), ("uid-wf", "b")]
    assert harness.cleaned == []


async def test_a_write_that_landed_but_lost_its_answer_is_not_taken_for_another_writer(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The write reaches the server, its answer does not (a timeout): the resend, fenced by
    the version read before, meets a 409 of the runner's own making. Reading the object shows
    it holds this very write, so the runner goes on; it is not "moved by another writer"."""
    gated = Gated()
    harness = Harness(gated)
    real = harness.server.write_now
    lost = 1

    async def answer_lost(*args: Any, **kwargs: Any) -> dict[str, Any]:
        nonlocal lost
        stored = await real(*args, **kwargs)
        if lost and gated.release.is_set():
            lost -= 1
            raise TimeoutError("no answer")
        return stored

    harness.server.write_now = answer_lost  # type: ignore[method-assign]
    await harness.controller.start()
    try:
        harness.create(body("wf", [delay("a"), delay("b", dependsOn=["a"])]))
        await harness.until(lambda: len(gated.runs) == 1)
        gated.release.set()
        await harness.until(lambda: harness.status("wf").get("phase") == "Succeeded")
    finally:
        await harness.controller.stop()
    assert lost == 0
    assert gated.runs == [("uid-wf", "a"), ("uid-wf", "b")]
    assert "changed by another writer" not in caplog.text
