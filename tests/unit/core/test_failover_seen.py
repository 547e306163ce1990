"""The failover controller's memory of a service between evaluations, and a run of
evaluations through ``observe`` then ``decide``: facts in, switches out."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from orchestration_engine.api.service import Health
from orchestration_engine.core.failover import (
    FailoverFacts,
    Seen,
    Target,
    decide,
    observe,
    primary_healthy,
    target_of,
)

DELAY = 60.0


def test_target_of_reads_anything_but_standby_as_primary() -> None:
    assert target_of("standby") == "standby"
    assert target_of("primary") == "primary"
    assert target_of("") == "primary"


def test_the_first_evaluation_is_no_switch() -> None:
    seen = observe(Seen(), "standby", False, 10.0)
    assert seen == Seen("standby", None, None)


def test_traffic_moved_by_someone_else_counts_as_a_switch() -> None:
    seen = observe(Seen("primary", None, 3.0), "standby", False, 10.0)
    assert seen.last_switch_at == 10.0
    assert seen.active == "standby"
    unchanged = observe(seen, "standby", False, 20.0)
    assert unchanged.last_switch_at == 10.0


def test_the_healthy_time_starts_once_and_ends_with_a_bad_evaluation() -> None:
    started = observe(Seen("standby"), "standby", True, 5.0)
    assert started.primary_healthy_since == 5.0
    kept = observe(started, "standby", True, 50.0)
    assert kept.primary_healthy_since == 5.0
    ended = observe(kept, "standby", False, 51.0)
    assert ended.primary_healthy_since is None


def evaluate(seen: Seen, active: Target, health: Health, ready: bool, now: float) -> Target | None:
    seen_now = observe(seen, active, primary_healthy(health, active, ready), now)
    since, last = seen_now.primary_healthy_since, seen_now.last_switch_at
    # With automaticFailback, and a primary to fail back to.
    facts = FailoverFacts(health, active, True, True, ready, since, last, DELAY)
    return decide(facts, now).switch_to


def test_a_failback_waits_the_delay_after_a_switch_made_elsewhere() -> None:
    seen = observe(Seen("primary"), "standby", True, 0.0)  # a workflow failed over at 0
    assert evaluate(seen, "standby", Health.HEALTHY, True, DELAY - 1) is None
    assert evaluate(seen, "standby", Health.HEALTHY, True, DELAY) == "primary"


@settings(deadline=None)  # a shared, loaded machine: time says nothing here
@given(
    st.lists(
        st.tuples(
            st.floats(0.0, 30.0),
            st.sampled_from([Health.HEALTHY, Health.FAILED, Health.WARNING]),
            st.booleans(),
        ),
        max_size=40,
    )
)
def test_switches_are_at_least_a_delay_apart_when_failing_back(
    steps: list[tuple[float, Health, bool]],
) -> None:
    """A flapping primary: each failback comes a whole delay after the switch before it."""
    seen, active, now = Seen(), "primary", 0.0
    switched_at: float | None = None
    for gap, health, ready in steps:
        now += gap
        healthy = primary_healthy(health, active, ready)
        to = evaluate(seen, active, health, ready, now)
        seen = observe(seen, active, healthy, now)
        if to is None:
            continue
        if to == "primary":
            assert switched_at is not None
            assert now - switched_at >= DELAY
            assert seen.primary_healthy_since is not None
            assert now - seen.primary_healthy_since >= DELAY
        else:
            assert health is Health.FAILED
        # The switch, as the controller records it.
        switched_at, active = now, to
        seen = Seen(to, None, now)
