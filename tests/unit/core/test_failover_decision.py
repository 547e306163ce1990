"""core/failover.py: failover at once, failback only when asked and after the delay, retries."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from orchestration_engine.api.service import Health
from orchestration_engine.core.failover import (
    RETRY_FIRST_S,
    RETRY_MAX_S,
    FailoverFacts,
    decide,
    next_retry,
    primary_healthy,
)

ON_PRIMARY = FailoverFacts(
    health=Health.HEALTHY,
    active="primary",
    automatic_failback=True,
    can_fail_back=True,
    primary_ready=True,
    primary_healthy_since=None,
    last_switch_at=None,
    failback_delay_s=300,
)
ON_STANDBY = replace(ON_PRIMARY, active="standby", primary_healthy_since=0.0, last_switch_at=0.0)


@pytest.mark.parametrize("health", [h for h in Health if h is not Health.FAILED])
def test_only_failed_fails_over(health: Health) -> None:
    assert decide(replace(ON_PRIMARY, health=health), 10.0).switch_to is None


def test_failed_fails_over_at_once_even_right_after_a_failback() -> None:
    facts = replace(ON_PRIMARY, health=Health.FAILED, last_switch_at=9.9)
    assert decide(facts, 10.0).switch_to == "standby"


def test_failed_on_the_standby_does_not_switch_again() -> None:
    assert decide(replace(ON_STANDBY, health=Health.FAILED), 1_000.0).switch_to is None


def test_failback_waits_for_the_delay() -> None:
    early = decide(replace(ON_STANDBY, primary_healthy_since=100.0), 200.0)
    assert early.switch_to is None
    assert early.wake_at == 400.0
    assert decide(replace(ON_STANDBY, primary_healthy_since=100.0), 400.0).switch_to == "primary"


def test_the_delay_also_counts_from_the_failover() -> None:
    facts = replace(ON_STANDBY, primary_healthy_since=0.0, last_switch_at=250.0)
    assert decide(facts, 400.0).wake_at == 550.0
    assert decide(facts, 550.0).switch_to == "primary"


@pytest.mark.parametrize(
    "change",
    [
        {"automatic_failback": False},
        {"can_fail_back": False},
        {"primary_ready": False},
        {"health": Health.WARNING},
        {"primary_healthy_since": None},
    ],
)
def test_no_failback_unless_everything_holds(change: dict[str, object]) -> None:
    verdict = decide(replace(ON_STANDBY, **change), 10_000.0)  # type: ignore[arg-type]
    assert verdict.switch_to is None
    assert verdict.wake_at is None


def test_a_backoff_holds_everything_until_it_passes() -> None:
    facts = replace(ON_PRIMARY, health=Health.FAILED, retry_at=50.0)
    assert decide(facts, 20.0).switch_to is None
    assert decide(facts, 20.0).wake_at == 50.0
    assert decide(facts, 50.0).switch_to == "standby"


def test_primary_healthy() -> None:
    assert primary_healthy(Health.HEALTHY, "primary", primary_ready=False)
    assert primary_healthy(Health.HEALTHY, "standby", primary_ready=True)
    assert not primary_healthy(Health.HEALTHY, "standby", primary_ready=False)
    assert not primary_healthy(Health.DEGRADED, "standby", primary_ready=True)


def test_retries_double_up_to_the_cap() -> None:
    assert next_retry(0.0, 1) == RETRY_FIRST_S
    assert next_retry(0.0, 2) == 2 * RETRY_FIRST_S
    assert next_retry(0.0, 50) == RETRY_MAX_S


@given(
    health=st.sampled_from(list(Health)),
    active=st.sampled_from(["primary", "standby"]),
    automatic=st.booleans(),
    can=st.booleans(),
    ready=st.booleans(),
    since=st.one_of(st.none(), st.floats(0, 1e6)),
    last=st.one_of(st.none(), st.floats(0, 1e6)),
    delay=st.floats(0, 1e5),
    retry=st.one_of(st.none(), st.floats(0, 1e6)),
    now=st.floats(0, 2e6),
)
def test_never_switches_to_where_traffic_already_goes(
    health: Health,
    active: str,
    automatic: bool,
    can: bool,
    ready: bool,
    since: float | None,
    last: float | None,
    delay: float,
    retry: float | None,
    now: float,
) -> None:
    facts = FailoverFacts(health, active, automatic, can, ready, since, last, delay, retry)  # type: ignore[arg-type]
    verdict = decide(facts, now)
    assert verdict.switch_to != active
    if verdict.switch_to == "primary":
        assert automatic
        assert can
        assert since is not None
        assert now >= since + delay
    if verdict.switch_to == "standby":
        assert health is Health.FAILED
