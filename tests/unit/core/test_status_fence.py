"""core/status_fence.py: a runner's conditional status write met a 409; what next."""

from __future__ import annotations

from orchestration_engine.core.status_fence import AfterConflict, after_conflict

RUNNING = {"phase": "Running", "steps": [{"name": "a", "phase": "Running", "attempts": 1}]}


def test_gone_when_the_object_no_longer_exists() -> None:
    assert after_conflict("u1", RUNNING, None, None) is AfterConflict.GONE


def test_gone_when_another_object_has_the_name() -> None:
    assert after_conflict("u1", RUNNING, "u2", RUNNING) is AfterConflict.GONE


def test_retry_when_status_is_what_the_runner_believes() -> None:
    # Only metadata or spec moved (a label, an edit): the same write again.
    assert after_conflict("u1", RUNNING, "u1", dict(RUNNING)) is AfterConflict.RETRY


def test_moved_when_another_writer_changed_status() -> None:
    done = {**RUNNING, "phase": "Succeeded"}
    assert after_conflict("u1", RUNNING, "u1", done) is AfterConflict.MOVED


def test_moved_when_status_vanished_under_a_running_workflow() -> None:
    assert after_conflict("u1", RUNNING, "u1", None) is AfterConflict.MOVED
