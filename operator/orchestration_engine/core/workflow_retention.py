"""Which finished workflows to delete, and when to look again.

Two rules, as Kubernetes has them for Jobs: a workflow's ``ttlSecondsAfterFinished`` (its
own, else the engine's default) deletes it that long after it finished; and per namespace,
as a CronJob's history limits, only the newest ``successfulWorkflowsHistoryLimit``
Succeeded workflows and the newest ``failedWorkflowsHistoryLimit`` of the others (Failed,
RolledBack, Cancelled) stay. Whichever rule comes first deletes it.

One exception: a finished workflow that a workflow still waiting names in its ``dependsOn``
stays, whatever the rules say. The scheduler reads the outcome from the object; deleting it
would leave the waiting one ``DependencyNotFound`` for good.

A pure function of plain data: it never raises, whatever times it is given (elapsed times
are compared with TTLs, never added to dates, so no date overflows).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from orchestration_engine.core.scheduler import Key


@dataclass(frozen=True)
class Finished:
    """What the decision needs of one finished workflow."""

    key: Key  # (namespace, name)
    uid: str
    succeeded: bool  # Succeeded; every other terminal phase counts as failed
    finished_at: datetime
    ttl_seconds: int | None = None  # the workflow's own ttlSecondsAfterFinished


@dataclass(frozen=True)
class Retention:
    """The engine's ``spec.workflowRetention``; None: no limit of that kind."""

    ttl_seconds: int | None = None
    successful_limit: int | None = 100
    failed_limit: int | None = 100


@dataclass(frozen=True)
class Deletion:
    key: Key
    uid: str
    reason: str  # TTLExpired | HistoryLimit


@dataclass(frozen=True)
class Collection:
    delete: tuple[Deletion, ...]
    # Seconds until the next TTL runs out among those kept (None: nothing will expire).
    requeue_after: float | None


TTL_EXPIRED = "TTLExpired"
HISTORY_LIMIT = "HistoryLimit"


def _newest_first(item: Finished) -> tuple[datetime, str, str]:
    # Ties broken by name, then uid: the same input always gives the same answer.
    return (item.finished_at, item.key[1], item.uid)


def collect(
    finished: Iterable[Finished],
    retention: Retention,
    now: datetime,
    *,
    needed: frozenset[Key] = frozenset(),
) -> Collection:
    """``needed``: finished workflows a waiting workflow depends on (never deleted)."""
    delete: dict[str, Deletion] = {}
    groups: dict[tuple[str, bool], list[Finished]] = defaultdict(list)
    for item in finished:
        ttl = item.ttl_seconds if item.ttl_seconds is not None else retention.ttl_seconds
        if item.key not in needed and ttl is not None and _elapsed(item, now) >= ttl:
            delete[item.uid] = Deletion(item.key, item.uid, TTL_EXPIRED)
        else:
            # The history limits count what the TTL leaves.
            groups[(item.key[0], item.succeeded)].append(item)
    for (_namespace, succeeded), items in groups.items():
        limit = retention.successful_limit if succeeded else retention.failed_limit
        if limit is None or len(items) <= limit:
            continue
        items.sort(key=_newest_first, reverse=True)
        for item in items[limit:]:
            if item.key not in needed:
                delete[item.uid] = Deletion(item.key, item.uid, HISTORY_LIMIT)
    kept = (
        item
        for items in groups.values()
        for item in items
        if item.uid not in delete and item.key not in needed
    )
    requeue = _next_expiry(kept, retention, now)
    ordered = sorted(delete.values(), key=lambda d: (d.key, d.uid))
    return Collection(tuple(ordered), requeue)


def _next_expiry(items: Iterable[Finished], retention: Retention, now: datetime) -> float | None:
    soonest: float | None = None
    for item in items:
        ttl = item.ttl_seconds if item.ttl_seconds is not None else retention.ttl_seconds
        if ttl is None:
            continue
        left = max(0.0, ttl - _elapsed(item, now))
        soonest = left if soonest is None else min(soonest, left)
    return soonest


def _elapsed(item: Finished, now: datetime) -> float:
    """Seconds since it finished; negative for a finish time ahead of this clock (another
    operator's clock): it then expires its TTL after that time, as written."""
    return (now - item.finished_at).total_seconds()
