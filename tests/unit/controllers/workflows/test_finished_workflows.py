"""What the controller keeps of a finished workflow: a compact record, whatever the events."""

from __future__ import annotations

import copy

from workflow_controller_support import T0, Harness, body, delay, finished, succeed

from orchestration_engine.api.workflow import WorkflowPhase
from orchestration_engine.controllers.workflows.record import WorkflowRecord


def assert_compact(record: WorkflowRecord, phase: WorkflowPhase) -> None:
    assert record.finished
    assert record.spec is None
    assert record.written is None
    assert record.status.phase == phase
    assert record.status.finished_at == T0
    assert record.status.steps == []
    assert record.status.conditions == []
    assert record.status.message is None


def test_a_finished_workflow_from_a_listing_is_kept_compact() -> None:
    harness = Harness(succeed)
    harness.create(finished("done", ttlSecondsAfterFinished=30))
    record = harness.controller.records[("ns", "done")]
    assert_compact(record, WorkflowPhase.SUCCEEDED)
    assert record.ttl_seconds_after_finished == 30
    # Its next events (kopf's own listing at start, a label edit) keep it compact.
    harness.controller.observe("MODIFIED", harness.server.put(finished("done")))
    assert_compact(harness.controller.records[("ns", "done")], WorkflowPhase.SUCCEEDED)


async def test_a_workflow_that_finishes_here_is_compacted_and_still_counts() -> None:
    harness = Harness(succeed)
    await harness.controller.start()
    try:
        harness.create(body("wf", [delay("a")]))
        await harness.until(lambda: harness.status("wf").get("phase") == "Succeeded")
        await harness.until(lambda: harness.controller.records[("ns", "wf")].finished)
    finally:
        await harness.controller.stop()
    record = harness.controller.records[("ns", "wf")]
    assert record.spec is None
    assert record.status.steps == []
    assert record.status.finished_at is not None
    # The halt's window still counts it (its phase and finish time are kept).
    assert harness.controller.facts(record.status.finished_at).finished_recent == 1


async def test_a_dependent_still_sees_a_compact_dependency_succeeded() -> None:
    harness = Harness(succeed)
    harness.create(finished("first"))
    await harness.controller.start()
    try:
        harness.create(body("second", [delay("a")], dependsOn=["first"]))
        await harness.until(lambda: harness.status("second").get("phase") == "Succeeded")
    finally:
        await harness.controller.stop()


async def test_a_dependent_of_a_compact_failed_one_is_cancelled() -> None:
    harness = Harness(succeed)
    harness.create(finished("first", phase="Failed"))
    await harness.controller.start()
    try:
        harness.create(body("second", [delay("a")], dependsOn=["first"]))
        await harness.until(lambda: harness.status("second").get("phase") == "Cancelled")
    finally:
        await harness.controller.stop()


def test_a_changed_ttl_of_a_finished_workflow_is_seen() -> None:
    harness = Harness(succeed)
    harness.create(finished("done"))
    edited = copy.deepcopy(finished("done", ttlSecondsAfterFinished=5))
    edited["metadata"]["generation"] = 2
    harness.controller.observe("MODIFIED", harness.server.put(edited))
    record = harness.controller.records[("ns", "done")]
    assert record.ttl_seconds_after_finished == 5
    assert_compact(record, WorkflowPhase.SUCCEEDED)


async def test_a_status_put_back_to_pending_by_hand_runs_the_workflow_again() -> None:
    harness = Harness(succeed)
    harness.create(finished("done"))
    await harness.controller.start()
    try:
        # The start's first pass done (it found nothing to do), so only the reset can wake it.
        await harness.until(lambda: not harness.controller._wakeup.is_set())
        reset = finished("done")
        reset["status"] = {"phase": "Pending"}
        harness.controller.observe("MODIFIED", harness.server.put(reset))
        await harness.until(lambda: harness.status("done").get("progress") == 100.0)
        await harness.until(lambda: harness.status("done").get("phase") == "Succeeded")
    finally:
        await harness.controller.stop()
    assert harness.status("done")["steps"][0]["attempts"] == 1
