"""Which finished workflows are deleted: TTLs, per-namespace history limits, dependencies."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from orchestration_engine.core.workflow_retention import (
    HISTORY_LIMIT,
    TTL_EXPIRED,
    Finished,
    Retention,
    collect,
)

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)


def done(
    name: str,
    ago: float,
    *,
    ok: bool = True,
    ns: str = "a",
    ttl: int | None = None,
) -> Finished:
    return Finished((ns, name), f"uid-{ns}-{name}", ok, NOW - timedelta(seconds=ago), ttl)


def deleted(collection: object) -> set[str]:
    return {d.key[1] for d in collection.delete}  # type: ignore[attr-defined]


def test_nothing_is_deleted_within_the_limits_and_without_a_ttl() -> None:
    items = [done(f"w{i}", i) for i in range(5)]
    result = collect(items, Retention(None, 5, 5), NOW)
    assert result.delete == ()
    assert result.requeue_after is None


def test_the_newest_are_kept_per_namespace_and_outcome() -> None:
    items = [done(f"ok{i}", i) for i in range(5)]
    items += [done(f"bad{i}", i, ok=False) for i in range(4)]
    items += [done(f"other{i}", i, ns="b") for i in range(3)]
    result = collect(items, Retention(None, 2, 1), NOW)
    assert deleted(result) == {"ok2", "ok3", "ok4", "bad1", "bad2", "bad3", "other2"}
    assert {d.reason for d in result.delete} == {HISTORY_LIMIT}


def test_a_limit_of_zero_keeps_none_and_none_means_unlimited() -> None:
    items = [done("ok", 1), done("bad", 1, ok=False)]
    assert deleted(collect(items, Retention(None, 0, None), NOW)) == {"ok"}


def test_a_workflows_own_ttl_wins_over_the_engine_default() -> None:
    items = [done("own", 30, ttl=10), done("default", 30), done("long", 30, ttl=3600)]
    result = collect(items, Retention(60, None, None), NOW)
    assert deleted(result) == {"own"}
    assert result.delete[0].reason == TTL_EXPIRED
    assert result.requeue_after == 30  # "default" expires at 60 s


def test_ttl_zero_deletes_at_once() -> None:
    assert deleted(collect([done("w", 0, ttl=0)], Retention(), NOW)) == {"w"}


def test_ttl_expired_ones_do_not_count_against_the_history_limit() -> None:
    items = [done("newest", 1, ttl=0), done("mid", 2), done("old", 3)]
    result = collect(items, Retention(None, 2, 2), NOW)
    assert deleted(result) == {"newest"}


def test_a_finished_workflow_a_waiting_one_depends_on_is_kept() -> None:
    items = [done("dep", 100, ttl=0), done("newer", 1)]
    result = collect(items, Retention(None, 1, 1), NOW, needed=frozenset({("a", "dep")}))
    assert result.delete == ()


def test_a_finish_time_ahead_of_the_clock_expires_its_ttl_after_that_time() -> None:
    result = collect([done("w", -5, ttl=10)], Retention(), NOW)
    assert result.delete == ()
    assert result.requeue_after == 15


def test_extreme_times_and_ttls_never_raise() -> None:
    items = [
        Finished(("a", "old"), "u1", True, datetime(1, 1, 1, tzinfo=UTC), 2**31 - 1),
        Finished(("a", "new"), "u2", False, datetime(9999, 12, 31, tzinfo=UTC), 2**31 - 1),
    ]
    result = collect(items, Retention(2**31 - 1, 100_000, 0), NOW)
    assert deleted(result) == {"old", "new"}


names = st.text("abc", min_size=1, max_size=3)
finished_items = st.lists(
    st.builds(
        Finished,
        key=st.tuples(st.sampled_from(["a", "b"]), names),
        uid=st.uuids().map(str),
        succeeded=st.booleans(),
        finished_at=st.integers(-100, 10_000).map(lambda s: NOW - timedelta(seconds=s)),
        ttl_seconds=st.none() | st.integers(0, 20_000),
    ),
    max_size=40,
    unique_by=lambda f: f.key,
)
retentions = st.builds(
    Retention,
    ttl_seconds=st.none() | st.integers(0, 20_000),
    successful_limit=st.none() | st.integers(0, 10),
    failed_limit=st.none() | st.integers(0, 10),
)


def _ttl(item: Finished, retention: Retention) -> int | None:
    return item.ttl_seconds if item.ttl_seconds is not None else retention.ttl_seconds


def _expired(item: Finished, retention: Retention, now: datetime) -> bool:
    ttl = _ttl(item, retention)
    return ttl is not None and (now - item.finished_at).total_seconds() >= ttl


@settings(max_examples=300, deadline=None)
@given(finished_items, retentions, st.data())
def test_properties(items: list[Finished], retention: Retention, data: st.DataObject) -> None:
    needed = frozenset(data.draw(st.sets(st.sampled_from([f.key for f in items]))) if items else ())
    result = collect(items, retention, NOW, needed=needed)
    gone = {d.uid for d in result.delete}
    by_uid = {f.uid: f for f in items}
    # Only what was given, once each, never a needed one.
    assert len(gone) == len(result.delete)
    assert gone <= set(by_uid)
    assert not any(by_uid[u].key in needed for u in gone)
    for deletion in result.delete:
        item = by_uid[deletion.uid]
        assert deletion.key == item.key
        if deletion.reason == TTL_EXPIRED:
            assert _expired(item, retention, NOW)
    # Per namespace and outcome: of what the TTL leaves (it never takes a needed one), the
    # newest `limit` stay; no other survivor unless it is needed.
    for namespace in ("a", "b"):
        for ok in (True, False):
            limit = retention.successful_limit if ok else retention.failed_limit
            group = [
                f
                for f in items
                if f.key[0] == namespace
                and f.succeeded == ok
                and (f.key in needed or not _expired(f, retention, NOW))
            ]
            group.sort(key=lambda f: (f.finished_at, f.key[1], f.uid), reverse=True)
            for rank, item in enumerate(group):
                if limit is None or rank < limit:
                    assert item.uid not in gone
                elif item.key not in needed:
                    assert item.uid in gone
    # Survivors with a TTL: the next pass is due when the first of them expires.
    survivors = [f for f in items if f.uid not in gone and f.key not in needed]
    lefts = [
        ttl - (NOW - f.finished_at).total_seconds()
        for f in survivors
        if (ttl := _ttl(f, retention)) is not None
    ]
    if lefts:
        assert result.requeue_after is not None
        assert result.requeue_after > 0
        assert result.requeue_after == min(lefts)
        then = NOW + timedelta(seconds=result.requeue_after)
        later = collect(items, retention, then, needed=needed)
        assert any(d.reason == TTL_EXPIRED and d.uid not in gone for d in later.delete)
    else:
        assert result.requeue_after is None
    # The order of the input does not matter.
    shuffled = data.draw(st.permutations(items))
    assert collect(shuffled, retention, NOW, needed=needed) == result
