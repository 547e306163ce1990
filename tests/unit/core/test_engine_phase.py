"""core.engine_phase: the documented precedence, exhaustively, and the seed's transitions."""

from __future__ import annotations

import itertools
from dataclasses import replace

import pytest

from orchestration_engine.api.engine import EnginePhase
from orchestration_engine.core.engine_phase import Activity, engine_phase

IDLE = Activity()

# Highest precedence first, each with the one change to an idle engine that makes it so.
PRECEDENCE: list[tuple[EnginePhase, dict[str, object]]] = [
    (EnginePhase.COMPLETED, {"stopping": True}),
    (EnginePhase.EMERGENCY_HALT, {"halted": True}),
    (EnginePhase.INITIALIZING, {"initialized": False}),
    (EnginePhase.FAILOVER, {"failovers": 1}),
    (EnginePhase.SCALING, {"scaling": 1}),
    (EnginePhase.OPTIMIZING, {"optimizing": True}),
    (EnginePhase.MAINTENANCE, {"maintenance_workflows": 1}),
    (EnginePhase.COORDINATING, {"running_workflows": 1}),
    (EnginePhase.MONITORING, {"unhealthy_services": 1}),
]


def with_(*changes: dict[str, object]) -> Activity:
    merged: dict[str, object] = {}
    for change in changes:
        merged.update(change)
    return replace(IDLE, **merged)  # type: ignore[arg-type]


def test_idle_and_healthy_is_active() -> None:
    assert engine_phase(IDLE) is EnginePhase.ACTIVE


def test_every_phase_but_active_has_exactly_one_activity() -> None:
    phases = [phase for phase, _ in PRECEDENCE]
    assert sorted({*phases, EnginePhase.ACTIVE}) == sorted(EnginePhase)
    assert len(phases) == len(set(phases))
    # Every field of Activity is covered.
    assert {name for _, change in PRECEDENCE for name in change} == set(
        Activity.__dataclass_fields__
    )


@pytest.mark.parametrize(("phase", "change"), PRECEDENCE, ids=[p.value for p, _ in PRECEDENCE])
def test_each_activity_alone(phase: EnginePhase, change: dict[str, object]) -> None:
    assert engine_phase(with_(change)) is phase


@pytest.mark.parametrize(
    ("higher", "lower"),
    list(itertools.combinations(PRECEDENCE, 2)),
    ids=[f"{a.value}>{b.value}" for (a, _), (b, _) in itertools.combinations(PRECEDENCE, 2)],
)
def test_the_higher_of_every_pair_wins(
    higher: tuple[EnginePhase, dict[str, object]], lower: tuple[EnginePhase, dict[str, object]]
) -> None:
    assert engine_phase(with_(higher[1], lower[1])) is higher[0]
    assert engine_phase(with_(lower[1], higher[1])) is higher[0]


def test_every_combination_shows_the_highest_activity() -> None:
    for mask in itertools.product([False, True], repeat=len(PRECEDENCE)):
        chosen = [entry for entry, on in zip(PRECEDENCE, mask, strict=True) if on]
        expected = chosen[0][0] if chosen else EnginePhase.ACTIVE
        assert engine_phase(with_(*(change for _, change in chosen))) is expected, chosen


@pytest.mark.parametrize(
    "field", ["failovers", "scaling", "maintenance_workflows", "running_workflows"]
)
def test_counts_matter_only_when_nonzero(field: str) -> None:
    for count in (1, 2, 50):
        assert engine_phase(with_({field: count})) is not EnginePhase.ACTIVE
    assert engine_phase(with_({field: 0})) is EnginePhase.ACTIVE
    assert engine_phase(replace(IDLE, unhealthy_services=7)) is EnginePhase.MONITORING


def test_a_running_maintenance_workflow_is_maintenance_not_coordinating() -> None:
    # A maintenance workflow is also a running one.
    assert engine_phase(with_({"maintenance_workflows": 1, "running_workflows": 3})) is (
        EnginePhase.MAINTENANCE
    )


# --- the seed's transitions ----------------------------------------------------------------


def all_activities() -> list[Activity]:
    return [
        with_(*(change for (_, change), on in zip(PRECEDENCE, mask, strict=True) if on))
        for mask in itertools.product([False, True], repeat=len(PRECEDENCE))
    ]


def test_initializing_to_active() -> None:
    starting = replace(IDLE, initialized=False)
    assert engine_phase(starting) is EnginePhase.INITIALIZING
    assert engine_phase(replace(starting, initialized=True)) is EnginePhase.ACTIVE
    # Before the first full picture, activity does not show through.
    busy = with_({"initialized": False}, *(change for _, change in PRECEDENCE[3:]))
    assert engine_phase(busy) is EnginePhase.INITIALIZING


@pytest.mark.parametrize(
    ("change", "phase"),
    [
        ({"running_workflows": 1}, EnginePhase.COORDINATING),
        ({"optimizing": True}, EnginePhase.OPTIMIZING),
        ({"scaling": 1}, EnginePhase.SCALING),
        ({"unhealthy_services": 1}, EnginePhase.MONITORING),
    ],
)
def test_active_to_busy_and_back(change: dict[str, object], phase: EnginePhase) -> None:
    assert engine_phase(IDLE) is EnginePhase.ACTIVE
    assert engine_phase(with_(change)) is phase
    assert engine_phase(IDLE) is EnginePhase.ACTIVE


def test_any_phase_to_emergency_halt() -> None:
    for activity in all_activities():
        if activity.stopping:
            continue  # COMPLETED outranks it
        assert engine_phase(replace(activity, halted=True)) is EnginePhase.EMERGENCY_HALT


def test_any_phase_to_completed() -> None:
    for activity in all_activities():
        assert engine_phase(replace(activity, stopping=True)) is EnginePhase.COMPLETED
