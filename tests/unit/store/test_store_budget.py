"""Retention by size, the decision alone (store/budget.py): nothing is cut within the budget;
over it, the oldest rows go in the fixed order (raw checks first, workflow history last) until
the store is back under the target, and never more rows than a table holds."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from orchestration_engine.store.budget import (
    PRUNE_ORDER,
    TARGET_FRACTION,
    Cut,
    TableUsage,
    max_bytes_for,
    parse_max_size,
    plan_cuts,
)
from orchestration_engine.store.tables import TABLES

MiB = 2**20


def test_the_order_names_real_tables_and_never_the_service_registry() -> None:
    assert set(PRUNE_ORDER) <= set(TABLES)
    assert len(set(PRUNE_ORDER)) == len(PRUNE_ORDER)
    assert "service_registry" not in PRUNE_ORDER
    assert PRUNE_ORDER[0] == "health_checks"
    assert PRUNE_ORDER.index("health_check_rollups") < PRUNE_ORDER.index("events")
    assert PRUNE_ORDER[-1] == "workflow_management"


def test_within_the_budget_or_without_one_nothing_is_cut() -> None:
    tables = {"health_checks": TableUsage(1000, 100 * MiB)}
    assert plan_cuts(tables, 100 * MiB, 100 * MiB) == []
    assert plan_cuts(tables, 100 * MiB, None) == []
    assert plan_cuts(tables, 100 * MiB, 0) == []


def test_raw_checks_go_first_down_to_the_target() -> None:
    tables = {
        "health_checks": TableUsage(1_000_000, 800 * MiB),
        "health_check_rollups": TableUsage(10_000, 50 * MiB),
        "events": TableUsage(10_000, 50 * MiB),
    }
    cuts = plan_cuts(tables, 900 * MiB, 800 * MiB)
    # 900 MiB in use, target 720 MiB: 180 MiB of checks at 838.86 bytes each.
    assert cuts == [Cut("health_checks", math.ceil(180 * MiB / (800 * MiB / 1_000_000)))]


def test_when_raw_checks_are_not_enough_the_next_tables_follow_in_order() -> None:
    tables = {
        "workflow_management": TableUsage(100, 100 * MiB),
        "events": TableUsage(1000, 100 * MiB),
        "health_checks": TableUsage(1000, 10 * MiB),
        "service_registry": TableUsage(10, 500 * MiB),
    }
    cuts = plan_cuts(tables, 710 * MiB, 600 * MiB)
    # To free: 710 - 540 = 170 MiB: all checks (10), then 100 MiB of events (all), then 60 of
    # the workflow rows; the registry is never touched.
    assert cuts == [
        Cut("health_checks", 1000),
        Cut("events", 1000),
        Cut("workflow_management", 60),
    ]


def test_tables_that_cannot_free_enough_are_emptied_and_no_more() -> None:
    tables = {"health_checks": TableUsage(10, 1 * MiB), "service_registry": TableUsage(1, 99 * MiB)}
    assert plan_cuts(tables, 100 * MiB, 10 * MiB) == [Cut("health_checks", 10)]


usages = st.dictionaries(
    st.sampled_from([*PRUNE_ORDER, "service_registry"]),
    st.builds(
        TableUsage,
        rows=st.integers(min_value=0, max_value=10**9),
        bytes=st.integers(min_value=0, max_value=2**40),
    ),
)


@given(
    tables=usages,
    extra=st.integers(min_value=0, max_value=2**40),
    budget=st.integers(min_value=1, max_value=2**40),
)
def test_a_plan_is_sound_for_any_measurement(
    tables: dict[str, TableUsage], extra: int, budget: int
) -> None:
    used = sum(t.bytes for t in tables.values()) + extra
    cuts = plan_cuts(tables, used, budget)
    if used <= budget:
        assert cuts == []
        return
    order = [cut.table for cut in cuts]
    assert order == [name for name in PRUNE_ORDER if name in order]
    for cut in cuts:
        assert 0 < cut.rows <= tables[cut.table].rows
    freed = sum(c.rows * tables[c.table].bytes / tables[c.table].rows for c in cuts)
    target = math.floor(budget * TARGET_FRACTION)
    cuttable = [n for n in PRUNE_ORDER if n in tables and tables[n].rows and tables[n].bytes]
    if len(cuts) < len(cuttable) or any(c.rows < tables[c.table].rows for c in cuts):
        # Stopped early: it freed enough, and without its last cut's last row it would not have.
        assert used - freed <= target * (1 + 1e-9) + 1
        last = cuts[-1]
        per_row = tables[last.table].bytes / tables[last.table].rows
        assert used - (freed - per_row) > target - 1e-6 * used
    else:
        assert [c.table for c in cuts] == cuttable


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        (None, (None, None)),
        ("", (None, None)),
        ("0", (None, None)),
        (0, (None, None)),
        (1_000_000, (1_000_000, None)),
        ("1536Mi", (1536 * MiB, None)),
        ("2G", (2 * 10**9, None)),
        ("80%", (None, 0.8)),
        (" 100% ", (None, 1.0)),
    ],
)
def test_budgets_as_written(
    spec: str | int | None, expected: tuple[int | None, float | None]
) -> None:
    assert parse_max_size(spec) == expected


@pytest.mark.parametrize(
    ("spec", "complaint"),
    [
        ("0%", "above 0%"),
        ("101%", "at most 100%"),
        ("x%", "not a percentage"),
        ("lots", "not a size"),
        ("-1Gi", "positive"),
        (True, "not a size"),
    ],
)
def test_bad_budgets_are_refused_saying_why(spec: str | int, complaint: str) -> None:
    with pytest.raises(ValueError, match=complaint):
        parse_max_size(spec)


def test_a_share_needs_the_filesystem_size() -> None:
    assert max_bytes_for("80%", 10 * MiB) == 8 * MiB
    assert max_bytes_for("80%", None) is None
    assert max_bytes_for("1Mi", None) == MiB
