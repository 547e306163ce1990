"""core.uptime: a rolling 24 h window in fixed buckets."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from orchestration_engine.core.uptime import UptimeWindow

T0 = datetime(2026, 11, 23, 0, 0, tzinfo=UTC)


def test_none_before_any_check() -> None:
    assert UptimeWindow().percent(T0) is None


def test_percentage_of_passed_checks() -> None:
    window = UptimeWindow()
    for i in range(100):
        window.record(T0 + timedelta(seconds=10 * i), ok=i % 4 != 0)
    assert window.percent(T0 + timedelta(seconds=1000)) == 75.0


def test_old_checks_leave_the_window() -> None:
    window = UptimeWindow()
    window.record(T0, ok=False)
    window.record(T0 + timedelta(hours=23), ok=True)
    assert window.percent(T0 + timedelta(hours=23)) == 50.0
    assert window.percent(T0 + timedelta(hours=24, minutes=10)) == 100.0
    assert window.percent(T0 + timedelta(hours=48)) is None


def test_checks_older_than_the_window_are_ignored() -> None:
    window = UptimeWindow()
    window.record(T0 + timedelta(hours=30), ok=True)
    window.record(T0, ok=False)
    assert window.percent(T0 + timedelta(hours=30)) == 100.0


def test_seed_from_an_aggregate() -> None:
    window = UptimeWindow()
    window.seed(T0, checks=1000, passed=999)
    assert window.percent(T0 + timedelta(minutes=1)) == 99.9


def test_memory_is_bounded() -> None:
    window = UptimeWindow()
    for i in range(10_000):
        window.record(T0 + timedelta(seconds=30 * i), ok=True)
    assert len(window._checks) == 288
