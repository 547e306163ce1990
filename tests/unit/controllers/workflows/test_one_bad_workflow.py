"""One workflow the operator cannot handle stays that workflow's problem (issue 17, section 3).

Found from outside: a ``deadlineSeconds`` of 2^63 - 1 made the runner raise on every pass,
and the controller started it again at once, 31,067 times in 30 s; a ``cpu`` of
``9e9999999999`` made the scheduling pass raise, so no workflow anywhere was admitted. The
schema now refuses both; these tests make the evaluation of one workflow raise through the
controller's own seams and check that the others are scheduled and run, and that the bad one
is shown (Stalled or a message, a Warning Event) and retried with backoff, not in a loop.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from workflow_controller_support import Harness, body, delay, succeed

from orchestration_engine.api.service import Health
from orchestration_engine.controllers.workflows import record as record_module
from orchestration_engine.plumbing import metrics


def object_errors(where: str) -> float:
    return metrics.OBJECT_ERRORS.labels("OrchestrationWorkflow", where)._value.get()


async def test_a_workflow_with_an_unusable_quantity_is_stalled_and_the_rest_run() -> None:
    """The reported case: the model refuses the quantity, naming it, and the pass goes on."""
    harness = Harness(succeed)
    await harness.controller.start()
    try:
        harness.create(body("bad", [delay("a")], resources={"cpu": "9e9999999999"}))
        harness.create(body("good", [delay("a")]))
        await harness.until(lambda: harness.status("good").get("phase") == "Succeeded")
        bad = harness.status("bad")
        stalled = next(c for c in bad["conditions"] if c["type"] == "Stalled")
        assert stalled["status"] == "True"
        assert stalled["reason"] == "InvalidSpec"
        assert "spec.resources.cpu" in stalled["message"]
        assert "9e9999999999" in stalled["message"]
        assert ("bad", "Warning", "InvalidSpec") in harness.events.recorded
    finally:
        await harness.controller.stop()


async def test_a_workflow_the_scheduler_cannot_read_does_not_stop_the_pass(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Whatever raises while one workflow is read for scheduling: it is Stalled with the
    error, and every other workflow is still admitted."""
    real = record_module.resources_of

    def resources_of(spec: Any) -> Any:
        if spec.display_name == "poison":
            raise ArithmeticError("cannot add this amount")
        return real(spec)

    monkeypatch.setattr(record_module, "resources_of", resources_of)
    harness = Harness(succeed)
    before = object_errors("schedule")
    await harness.controller.start()
    try:
        harness.create(body("bad", [delay("a")], displayName="poison"))
        for index in range(3):
            harness.create(body(f"good-{index}", [delay("a")]))
        await harness.until(
            lambda: all(harness.status(f"good-{i}").get("phase") == "Succeeded" for i in range(3))
        )
        bad = harness.status("bad")
        assert bad["phase"] == "Pending"
        stalled = next(c for c in bad["conditions"] if c["type"] == "Stalled")
        assert stalled["reason"] == "InvalidSpec"
        assert "ArithmeticError: cannot add this amount" in stalled["message"]
        assert ("bad", "Warning", "InvalidSpec") in harness.events.recorded
        assert object_errors("schedule") > before
    finally:
        await harness.controller.stop()


async def test_a_runner_that_raises_is_retried_with_backoff_not_in_a_loop() -> None:
    """A runner that raises on its first decision: the workflow keeps its phase, says why,
    posts a Warning Event, and is started again after the backoff, while the other
    workflows run to success."""
    calls: list[str] = []

    def health(namespace: str, name: str) -> Health | None:
        calls.append(name)
        if name == "poison":
            raise OverflowError("date value out of range")
        return Health.HEALTHY

    harness = Harness(succeed)
    harness.controller.health = health
    before = object_errors("runner")
    await harness.controller.start()
    try:
        harness.create(body("bad", [delay("a")], successCriteria={"servicesHealthy": ["poison"]}))
        harness.create(body("good", [delay("a")], successCriteria={"servicesHealthy": ["ok"]}))
        await harness.until(lambda: harness.status("good").get("phase") == "Succeeded")
        await harness.until(lambda: "retrying in" in (harness.status("bad").get("message") or ""))
        # Over the first backoff the runner was started once more at most.
        await asyncio.sleep(1.5)  # the first backoff is 1 s
        assert 1 <= calls.count("poison") <= 3, calls.count("poison")
        bad = harness.status("bad")
        # It raised before its admission was stored: it keeps the phase it had.
        assert bad["phase"] == "Pending"
        assert "OverflowError: date value out of range" in bad["message"]
        ready = next(c for c in bad["conditions"] if c["type"] == "Ready")
        assert "OverflowError" in ready["message"]
        failures = [e for e in harness.events.recorded if e == ("bad", "Warning", "RunnerFailed")]
        assert 1 <= len(failures) <= 3
        assert object_errors("runner") - before == len(failures)
    finally:
        await harness.controller.stop()
