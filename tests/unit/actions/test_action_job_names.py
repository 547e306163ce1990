"""Job names and labels: deterministic per attempt, distinct per step and phase, always valid."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

from orchestration_engine.actions.base import WORKFLOW_LABEL, StepContext
from orchestration_engine.actions.job import job_labels, job_name
from orchestration_engine.api.common import is_dns_label

CTX = StepContext(
    namespace="shop",
    workflow="nightly",
    workflow_uid="uid-1",
    step="migrate",
    attempt=1,
    started_at=datetime(2026, 11, 24, 12, 0, tzinfo=UTC),
)


def test_first_and_later_attempts() -> None:
    assert job_name(CTX) == "nightly-migrate"
    assert job_name(replace(CTX, attempt=2)) == "nightly-migrate-2"
    assert job_name(replace(CTX, rollback=True)) == "nightly-rb-migrate"
    assert job_name(replace(CTX, rollback=True, attempt=3)) == "nightly-rb-migrate-3"


def test_long_names_are_shortened_uniquely() -> None:
    long = replace(CTX, workflow="w" * 60, step="s" * 40)
    names = {
        job_name(long),
        job_name(replace(long, attempt=2)),
        job_name(replace(long, rollback=True)),
        job_name(replace(long, step="s" * 39 + "t")),
    }
    assert len(names) == 4
    assert all(is_dns_label(name) for name in names)
    assert all(len(name) == 63 for name in names)
    # Deterministic: the same attempt always gets the same name.
    assert job_name(long) == job_name(replace(long))


def test_dots_and_awkward_cuts_still_give_a_dns_label() -> None:
    dotted = replace(CTX, workflow="db.backup")
    assert is_dns_label(job_name(dotted))
    assert job_name(dotted) != job_name(replace(CTX, workflow="db-backup"))
    # A cut that would end on a hyphen.
    cut = replace(CTX, workflow="a" * 53 + "-" * 5 + "b", step="x")
    assert is_dns_label(job_name(cut))


def test_long_workflow_name_fits_in_a_label() -> None:
    labels = job_labels(replace(CTX, workflow="w." * 100 + "w"))
    assert len(labels[WORKFLOW_LABEL]) <= 63
    assert job_labels(CTX)[WORKFLOW_LABEL] == "nightly"
