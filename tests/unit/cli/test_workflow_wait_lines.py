"""What `wait` and `apply --wait` print as a workflow moves, and the final word on it."""

from __future__ import annotations

from typing import Any

from orchestration_engine.cli.workflow_wait import changes, outcome

KEY = ("shop", "nightly")


def status(phase: str, *steps: tuple[str, str, int, str | None], **extra: Any) -> dict[str, Any]:
    return {
        "phase": phase,
        "steps": [
            {"name": n, "phase": p, "attempts": a, **({"message": m} if m else {})}
            for n, p, a, m in steps
        ],
        **extra,
    }


def test_the_first_status_says_the_phase_and_only_steps_that_started() -> None:
    new = status("Running", ("drain", "Running", 1, None), ("verify", "Pending", 0, None))
    assert changes(KEY, {}, new) == [
        "shop/nightly: Running",
        "shop/nightly: step drain Running (attempt 1)",
    ]


def test_a_queued_workflow_says_its_position_and_why() -> None:
    new = status("Queued", queuePosition=3, message="waiting for capacity")
    assert changes(KEY, {}, new) == ["shop/nightly: Queued (position 3): waiting for capacity"]


def test_only_what_moved_is_said() -> None:
    old = status("Running", ("drain", "Running", 1, None), ("verify", "Pending", 0, None))
    new = status(
        "Running", ("drain", "Succeeded", 1, "scaled to 1"), ("verify", "Pending", 0, None)
    )
    assert changes(KEY, old, new) == ["shop/nightly: step drain Succeeded: scaled to 1"]
    assert changes(KEY, new, new) == []


def test_a_retry_is_said_with_its_reason() -> None:
    old = status("Running", ("call", "Running", 1, None))
    new = status("Running", ("call", "Pending", 1, "attempt 1 failed: 500; retrying in 1s"))
    assert changes(KEY, old, new) == [
        "shop/nightly: step call Pending: attempt 1 failed: 500; retrying in 1s"
    ]


def test_a_finished_phase_is_left_to_the_outcome() -> None:
    old = status("Running", ("drain", "Running", 1, None))
    new = status("Succeeded", ("drain", "Succeeded", 1, None), message="all steps succeeded")
    assert changes(KEY, old, new) == ["shop/nightly: step drain Succeeded"]
    assert outcome(KEY, new, 1) == ["shop/nightly Succeeded (1/1 steps succeeded)"]


def test_a_failure_names_every_failing_step() -> None:
    final = status(
        "Failed",
        ("drain", "Succeeded", 1, None),
        ("migrate", "Failed", 3, "answered 500, expected [200] after 3 attempts"),
        ("verify", "Skipped", 0, None),
        message="rollback step restore failed: timed out; step migrate failed: ...",
        rollbackSteps=[{"name": "restore", "phase": "Failed", "message": "timed out"}],
    )
    assert outcome(KEY, final, 3) == [
        "shop/nightly Failed (1/3 steps succeeded): rollback step restore failed: timed out; "
        "step migrate failed: ...",
        "  failed step migrate: answered 500, expected [200] after 3 attempts",
        "  failed rollback step restore: timed out",
    ]
