"""Retention by size: which rows go when the store is over its budget (pure, no I/O).

Age retention (retention.py) keeps the store as long as its settings say; at a thousand
services the raw checks alone outgrow any small volume long before seven days have passed
(docs/report.md, "Store sizing"). So the store also has a size budget, and when the bytes in
use pass it, rows go oldest first, cheapest history first, until the store is back under
``TARGET_FRACTION`` of the budget:

1. raw checks (rolled up first, so their counts survive in the hourly roll-ups),
2. demand samples the autoscaler forecasts from (a week at most is read),
3. hourly roll-ups,
4. optimiser runs and engine rounds (``orchestration_metrics``),
5. events,
6. workflow history (``workflow_management``), the record the cluster no longer keeps.

``service_registry`` is never cut for size: its latest row per service is what the report
shows, and it grows with changes, not with time.

The adapter (sizing.py) measures the bytes in use and each table's share of them; this module
only decides. Cutting down to a fraction of the budget, not to the budget itself, leaves room
for the rows written until the next measurement, so pruning does not run on every pass.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

# Prune down to this share of the budget: about an hour of writes at 1,000 services on a
# 1.6 GiB budget (docs/report.md), so the next measurements find room.
TARGET_FRACTION = 0.9

PRUNE_ORDER: tuple[str, ...] = (
    "health_checks",
    "scaling_samples",
    "health_check_rollups",
    "optimization_runs",
    "orchestration_metrics",
    "events",
    "workflow_management",
)


@dataclass(frozen=True)
class TableUsage:
    """One table as measured: its rows and the bytes they take (indexes included)."""

    rows: int
    bytes: int


@dataclass(frozen=True)
class Cut:
    """Delete (for ``health_checks``: roll up and delete) the ``rows`` oldest rows of ``table``."""

    table: str
    rows: int


def over_budget(used_bytes: int, max_bytes: int | None) -> bool:
    return max_bytes is not None and max_bytes > 0 and used_bytes > max_bytes


def plan_cuts(
    tables: Mapping[str, TableUsage],
    used_bytes: int,
    max_bytes: int | None,
    *,
    order: Sequence[str] = PRUNE_ORDER,
    target_fraction: float = TARGET_FRACTION,
) -> list[Cut]:
    """The oldest rows to delete, table by table in ``order``, so the bytes in use fall to
    ``target_fraction`` of ``max_bytes``; empty when the store is within its budget.

    A table's rows are taken to cost its bytes divided by its rows (rows of one table are
    alike in size). Rows are rounded up, so the plan frees at least what is needed when the
    tables hold enough; when they do not (the bytes in use are mostly in tables that are
    never cut), it takes everything in ``order`` and no more.
    """
    if not over_budget(used_bytes, max_bytes):
        return []
    assert max_bytes is not None
    target = math.floor(max_bytes * min(max(target_fraction, 0.0), 1.0))
    to_free: float = used_bytes - target
    cuts: list[Cut] = []
    for name in order:
        if to_free <= 0:
            break
        usage = tables.get(name)
        if usage is None or usage.rows <= 0 or usage.bytes <= 0:
            continue
        per_row = usage.bytes / usage.rows
        rows = min(usage.rows, math.ceil(to_free / per_row))
        cuts.append(Cut(name, rows))
        to_free -= rows * per_row
    return cuts


def parse_max_size(spec: str | int | None) -> tuple[int | None, float | None]:
    """A size budget as written: bytes (``2147483648``), a quantity (``1536Mi``) or a share of
    the store's filesystem (``80%``, SQLite only); ``None``, ``""`` and ``0`` mean no budget.

    Returns (bytes, None) or (None, fraction). Raises ValueError naming what is wrong.
    """
    from ..api.quantity import parse_quantity

    if spec is None or (isinstance(spec, str) and not spec.strip()):
        return None, None
    if isinstance(spec, bool):
        raise ValueError(f"store size budget {spec!r} is not a size")
    if isinstance(spec, str) and spec.strip().endswith("%"):
        try:
            percent = float(spec.strip()[:-1])
        except ValueError:
            raise ValueError(f"store size budget {spec!r} is not a percentage") from None
        if not 0 < percent <= 100:
            raise ValueError(f"store size budget {spec!r} must be above 0% and at most 100%")
        return None, percent / 100
    try:
        amount = parse_quantity(spec)
    except ValueError:
        raise ValueError(
            f"store size budget {spec!r} is not a size: write bytes, a quantity such as"
            " 1536Mi, or a share of the volume such as 80%"
        ) from None
    if amount < 0 or not amount.is_finite():
        raise ValueError(f"store size budget {spec!r} must be a positive size")
    whole = int(amount)
    return (whole or None), None


def max_bytes_for(spec: str | int | None, filesystem_bytes: int | None) -> int | None:
    """The budget in bytes; a share needs the filesystem's size (None when it is unknown)."""
    absolute, fraction = parse_max_size(spec)
    if fraction is None:
        return absolute
    if filesystem_bytes is None or filesystem_bytes <= 0:
        return None
    return max(1, math.floor(filesystem_bytes * fraction))
