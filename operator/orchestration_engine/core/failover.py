"""When a service's traffic should move between its primary and its standby: pure.

- **Failover** as soon as the service is FAILED while its traffic goes to the primary. It is
  never deferred: an outage costs more than a switch.
- **Failback** only with ``automaticFailback``, once the primary has been healthy for
  ``failbackDelaySeconds`` and the failover lies at least that long back. "The primary is
  healthy" means the service's checks pass (HEALTHY) and every desired replica of the
  primary workload is ready: while traffic goes to the standby, the checks see whatever the
  check address reaches, so the primary's own readiness is the part that speaks for it.
- After a failed attempt, the next waits for a backoff (doubling, capped), unless something
  it depends on changed (the caller resets ``retry_at`` then).

The delay is the minimum interval between switches: a primary that flaps costs one round
trip per interval at most, never one per check.

Between evaluations the controller (controllers/services/failover_controller.py) keeps
``Seen``; ``observe`` brings it up to date with each evaluation's facts before ``decide``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from orchestration_engine.api.service import Health

Target = Literal["primary", "standby"]

RETRY_FIRST_S = 5.0
RETRY_MAX_S = 300.0


@dataclass(frozen=True, slots=True)
class FailoverFacts:
    health: Health
    active: Target
    automatic_failback: bool
    can_fail_back: bool  # there is a primary workload to send traffic back to
    primary_ready: bool  # every desired replica of the primary is ready (and desired > 0)
    primary_healthy_since: float | None  # when "the primary is healthy" last became true
    last_switch_at: float | None  # this run's clock; None: none seen in this run
    failback_delay_s: float
    retry_at: float | None = None


@dataclass(frozen=True, slots=True)
class Verdict:
    switch_to: Target | None
    # When to look again if nothing else changes (a failback waiting out its delay, or a
    # retry's backoff); None: only a change of the facts can make a difference.
    wake_at: float | None = None


def primary_healthy(health: Health, active: Target, primary_ready: bool) -> bool:
    return health is Health.HEALTHY and (active == "primary" or primary_ready)


def decide(facts: FailoverFacts, now: float) -> Verdict:
    if facts.retry_at is not None and now < facts.retry_at:
        return Verdict(None, facts.retry_at)
    if facts.active == "primary":
        return Verdict("standby" if facts.health is Health.FAILED else None)
    if not (facts.automatic_failback and facts.can_fail_back):
        return Verdict(None)
    if facts.primary_healthy_since is None or not primary_healthy(
        facts.health, facts.active, facts.primary_ready
    ):
        return Verdict(None)
    due = facts.primary_healthy_since + facts.failback_delay_s
    if facts.last_switch_at is not None:
        due = max(due, facts.last_switch_at + facts.failback_delay_s)
    if now >= due:
        return Verdict("primary")
    return Verdict(None, due)


def next_retry(now: float, failures: int) -> float:
    """When to try again after ``failures`` failed attempts in a row (1 for the first)."""
    return now + min(RETRY_MAX_S, RETRY_FIRST_S * (1 << min(16, max(0, failures - 1))))


@dataclass(frozen=True, slots=True)
class Seen:
    """What the failover controller remembers of a service between evaluations."""

    active: Target | None = None  # where traffic went at the last evaluation
    primary_healthy_since: float | None = None
    last_switch_at: float | None = None


def target_of(active_target: str) -> Target:
    return "standby" if active_target == "standby" else "primary"


def observe(seen: Seen, active: Target, healthy: bool, now: float) -> Seen:
    """``seen`` after an evaluation at ``now``: traffic found moved by someone else (a
    workflow's failover step) counts as a switch, and the primary's healthy time starts
    when it becomes healthy and ends when it is not."""
    last_switch_at = seen.last_switch_at
    if seen.active is not None and seen.active != active:
        last_switch_at = now
    since = seen.primary_healthy_since
    if not healthy:
        since = None
    elif since is None:
        since = now
    return Seen(active, since, last_switch_at)
