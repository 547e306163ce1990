"""core.conditions: lastTransitionTime moves only when the status changes."""

from __future__ import annotations

from datetime import UTC, datetime

from orchestration_engine.core.conditions import find_condition, is_true, set_condition

T0 = datetime(2026, 1, 1, tzinfo=UTC)
T1 = datetime(2026, 1, 2, tzinfo=UTC)


def test_adds_a_new_condition() -> None:
    result = set_condition([], "Ready", True, "Accepted", "ok", generation=3, now=T0)
    assert result == [
        {
            "type": "Ready",
            "status": "True",
            "reason": "Accepted",
            "message": "ok",
            "lastTransitionTime": "2026-01-01T00:00:00Z",
            "observedGeneration": 3,
        }
    ]


def test_same_status_keeps_transition_time_but_updates_the_rest() -> None:
    first = set_condition([], "Ready", True, "Accepted", "ok", generation=1, now=T0)
    second = set_condition(first, "Ready", True, "StillFine", "better", generation=2, now=T1)
    (condition,) = second
    assert condition["lastTransitionTime"] == "2026-01-01T00:00:00Z"
    assert condition["reason"] == "StillFine"
    assert condition["observedGeneration"] == 2


def test_status_change_moves_transition_time() -> None:
    first = set_condition([], "Ready", True, "Accepted", "", generation=1, now=T0)
    second = set_condition(first, "Ready", False, "InvalidSpec", "bad", generation=1, now=T1)
    assert second[0]["lastTransitionTime"] == "2026-01-02T00:00:00Z"
    assert not is_true(second, "Ready")


def test_other_conditions_and_order_are_kept_and_input_untouched() -> None:
    conditions = set_condition([], "Ready", True, "A", "", generation=None, now=T0)
    conditions = set_condition(conditions, "Stalled", False, "A", "", generation=None, now=T0)
    before = [dict(c) for c in conditions]
    updated = set_condition(conditions, "Ready", "Unknown", "Checking", "", generation=None, now=T1)
    assert [c["type"] for c in updated] == ["Ready", "Stalled"]
    assert conditions == before
    assert find_condition(updated, "Ready")["status"] == "Unknown"  # type: ignore[index]
    assert "observedGeneration" not in updated[0]


def test_reconciling_twice_is_identical() -> None:
    once = set_condition([], "Ready", True, "Accepted", "ok", generation=1, now=T0)
    twice = set_condition(once, "Ready", True, "Accepted", "ok", generation=1, now=T1)
    assert once == twice
