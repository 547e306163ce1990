"""The prober's suspicion of itself (core/prober_health.py): state in, state out."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from orchestration_engine.core.prober_health import (
    ALWAYS_SUSPECT,
    FailureKind,
    FleetChecks,
    ProberPolicy,
    ProberState,
    evaluate,
    is_suspect,
    suspects,
)

POLICY = ProberPolicy(min_services=5, raise_percent=80, clear_percent=50, clear_after_s=30)
ANSWERED = frozenset(
    {FailureKind.HTTP_STATUS, FailureKind.TLS, FailureKind.TIMEOUT, FailureKind.RESET}
)


def fleet(checked: int, reference_ok: bool | None = True, **kinds: int) -> FleetChecks:
    failures = tuple((FailureKind[name], n) for name, n in kinds.items())
    return FleetChecks(checked, failures, reference_ok)


@st.composite
def fleets(draw: st.DrawFn) -> FleetChecks:
    checked = draw(st.integers(0, 200))
    remaining = checked
    failures = []
    for kind in draw(st.lists(st.sampled_from(list(FailureKind)), unique=True)):
        n = draw(st.integers(0, remaining))
        remaining -= n
        failures.append((kind, n))
    return FleetChecks(checked, tuple(failures), draw(st.sampled_from([True, False, None])))


def test_dns_failures_everywhere_degrade_the_prober_at_once() -> None:
    state = evaluate(fleet(10, DNS=9), ProberState(), 0.0, POLICY)
    assert state.degraded
    assert state.reason == "DNSFailures"
    assert "9 of 10" in state.message
    assert "DNS 9" in state.message


def test_a_small_fleet_never_suspects_the_prober() -> None:
    assert not evaluate(fleet(4, DNS=4), ProberState(), 0.0, POLICY).degraded


def test_services_answering_500_are_a_real_outage() -> None:
    assert not evaluate(fleet(10, HTTP_STATUS=10), ProberState(), 0.0, POLICY).degraded


def test_refused_everywhere_is_an_outage_while_the_api_server_answers() -> None:
    """kube-proxy refuses connections to a Service without endpoints: pods gone."""
    assert not evaluate(fleet(10, REFUSED=10), ProberState(), 0.0, POLICY).degraded
    state = evaluate(fleet(10, reference_ok=False, REFUSED=10), ProberState(), 0.0, POLICY)
    assert state.degraded
    assert state.reason == "APIServerUnreachable"


def test_no_route_and_connect_timeouts_are_suspects() -> None:
    assert evaluate(fleet(10, UNREACHABLE=10), ProberState(), 0, POLICY).reason == "NoRoute"
    assert (
        evaluate(fleet(10, CONNECT_TIMEOUT=8), ProberState(), 0, POLICY).reason == "ConnectTimeouts"
    )


def test_it_clears_only_after_the_suspects_stay_low_for_the_settle_time() -> None:
    state = evaluate(fleet(10, DNS=10), ProberState(), 0.0, POLICY)
    state = evaluate(fleet(10, DNS=2), state, 100.0, POLICY)
    assert state.degraded
    assert state.clear_since == 100.0
    state = evaluate(fleet(10, DNS=1), state, 129.0, POLICY)
    assert state.degraded
    state = evaluate(fleet(10, DNS=1), state, 130.0, POLICY)
    assert state == ProberState()


def test_a_relapse_into_the_band_restarts_the_wait() -> None:
    state = evaluate(fleet(10, DNS=10), ProberState(), 0.0, POLICY)
    state = evaluate(fleet(10, DNS=2), state, 10.0, POLICY)
    state = evaluate(fleet(10, DNS=6), state, 20.0, POLICY)  # 60 %: in the band
    assert state.degraded
    assert state.clear_since is None
    state = evaluate(fleet(10, DNS=2), state, 45.0, POLICY)
    assert state.degraded
    assert state.clear_since == 45.0


@given(fleets())
def test_never_degraded_by_failures_the_services_answered(checks: FleetChecks) -> None:
    """Only suspects count: take every suspect away and the prober is never degraded, from
    any state, whatever the services answered."""
    answered_only = FleetChecks(
        checks.checked,
        tuple((k, n) for k, n in checks.failures if k in ANSWERED),
        checks.reference_ok,
    )
    for state in (ProberState(), ProberState(True, "DNSFailures", "", None)):
        after = evaluate(answered_only, state, 0.0, POLICY)
        assert not after.degraded or state.degraded  # only an old state can linger
        assert not evaluate(answered_only, after, 1e9, POLICY).degraded


@given(fleets(), st.floats(0, 1e6))
def test_degraded_exactly_when_the_line_is_crossed_from_a_clear_state(
    checks: FleetChecks, now: float
) -> None:
    state = evaluate(checks, ProberState(), now, POLICY)
    crossed = (
        checks.checked >= POLICY.min_services
        and 100 * suspects(checks) >= POLICY.raise_percent * checks.checked
    )
    assert state.degraded is crossed
    assert state.degraded or state == ProberState()


@given(st.lists(st.tuples(fleets(), st.floats(0, 100)), max_size=30))
def test_no_flapping_a_clear_follows_a_quiet_settle_period(
    steps: list[tuple[FleetChecks, float]],
) -> None:
    """Whenever a degraded prober clears, the suspects were below clear_percent (or the
    fleet too small) at every evaluation of the last clear_after_s."""
    state = ProberState()
    now = 0.0
    low_since: float | None = None
    for checks, gap in steps:
        now += gap
        low = (
            checks.checked < POLICY.min_services
            or 100 * suspects(checks) < POLICY.clear_percent * checks.checked
        )
        low_since = (low_since if low_since is not None else now) if low else None
        before = state
        state = evaluate(checks, state, now, POLICY)
        if before.degraded and not state.degraded:
            assert low_since is not None
            assert now - low_since >= POLICY.clear_after_s
        if state.degraded:
            assert state.reason
            assert state.message


@given(st.sampled_from(list(FailureKind)), st.sampled_from([True, False, None]))
def test_only_connection_failures_are_ever_suspects(
    kind: FailureKind, reference_ok: bool | None
) -> None:
    if kind in ALWAYS_SUSPECT:
        assert is_suspect(kind, reference_ok)
    elif kind is FailureKind.REFUSED:
        assert is_suspect(kind, reference_ok) is (reference_ok is False)
    else:
        assert not is_suspect(kind, reference_ok)
    assert not is_suspect(None, reference_ok)
