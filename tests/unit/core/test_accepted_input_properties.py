"""The core never raises on what the schema accepts, nor on what a hand-edited status says.

Two findings started this module (issue 17, section 3): a ``deadlineSeconds`` of 2^63 - 1
made ``decide()`` raise ``OverflowError`` on every pass, and a ``cpu`` of ``9e9999999999``
made ``parse_quantity`` raise a ``decimal.Overflow`` that stopped every scheduling pass.
The schema now bounds both (api/bounds.py); the core is also made safe for values beyond the
bounds, since an older CRD or a status edited by hand can still carry them. Hypothesis draws
the inputs at and around the bounds (docs/fmea.md, "Absurd but valid input").
"""

from __future__ import annotations

import contextlib
import math
import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from orchestration_engine.api.bounds import MAX_SECONDS
from orchestration_engine.api.common import QUANTITY, ResourceAmounts
from orchestration_engine.api.quantity import parse_quantity
from orchestration_engine.api.workflow import (
    StepPhase,
    StepStatus,
    WorkflowPhase,
    WorkflowSpec,
    WorkflowStatus,
)
from orchestration_engine.controllers.workflows.record import resources_of, spec_problems
from orchestration_engine.core import health, scaling
from orchestration_engine.core.scheduler import Candidate, Limits, Resources, schedule
from orchestration_engine.core.workflow_run import (
    Launch,
    Stage,
    admit,
    decide,
    step_failed,
    step_started,
    step_succeeded,
)

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
EARLIEST = datetime.min.replace(tzinfo=UTC)
LATEST = datetime.max.replace(tzinfo=UTC)
HUGE = 2**63 - 1


def times() -> st.SearchStrategy[datetime]:
    """Any time a status may say, the ends of datetime's range included."""
    return st.one_of(
        st.sampled_from([EARLIEST, LATEST, NOW]),
        st.datetimes(timezones=st.just(UTC)),
    )


def edge_ints(low: int, high: int) -> st.SearchStrategy[int]:
    return st.one_of(st.sampled_from([low, high]), st.integers(low, high))


# --- the two findings, as they were reported ------------------------------------------------


def test_a_deadline_of_2_63_is_refused_and_names_the_field() -> None:
    spec, problems = spec_problems(
        {
            "steps": [{"name": "a", "action": "delay", "params": {"seconds": 1}}],
            "deadlineSeconds": HUGE,
        }
    )
    assert spec is None
    assert problems is not None
    assert "spec.deadlineSeconds" in problems, problems
    assert str(MAX_SECONDS) in problems


def test_decide_does_not_overflow_on_a_deadline_beyond_the_bounds() -> None:
    """What an older CRD stored: the deadline is read as never reached."""
    spec = WorkflowSpec.model_validate(
        {"steps": [{"name": "a", "action": "delay", "params": {"seconds": 1}}]}
    ).model_copy(update={"deadline_seconds": HUGE})
    status = admit(spec, WorkflowStatus(), NOW)
    decision = decide(spec, status, NOW)
    assert [launch.step for launch in decision.launch] == ["a"]
    assert decision.status.phase == WorkflowPhase.RUNNING


def test_a_quantity_beyond_decimal_is_a_value_error_naming_it() -> None:
    with pytest.raises(ValueError, match="9e9999999999"):
        parse_quantity("9e9999999999")
    with pytest.raises(ValidationError, match="9e9999999999"):
        ResourceAmounts(cpu="9e9999999999")


@pytest.mark.parametrize(
    ("amounts", "says"),
    [
        ({"cpu": "1000001"}, "cpu 1000001 is more than 1M"),
        ({"cpu": HUGE}, f"cpu {HUGE} is more than 1M"),
        ({"memory": "2Ei"}, "memory 2Ei is more than 1Ei"),
        ({"cpu": "9e99"}, "cpu 9e99 is more than 1M"),
    ],
)
def test_quantities_above_the_bounds_are_refused_by_name(
    amounts: dict[str, Any], says: str
) -> None:
    with pytest.raises(ValidationError, match=re.escape(says)):
        ResourceAmounts.model_validate(amounts)


# --- properties ---------------------------------------------------------------------------------


@given(st.from_regex(QUANTITY, fullmatch=True))
@settings(max_examples=300)
def test_parse_quantity_raises_only_value_error_on_the_grammar(text: str) -> None:
    try:
        amount = parse_quantity(text)
    except ValueError:
        return
    assert amount.is_finite()


@given(st.text(max_size=70))
@settings(max_examples=200)
def test_the_quantity_model_raises_only_validation_errors(text: str) -> None:
    with contextlib.suppress(ValidationError):
        ResourceAmounts(cpu=text, memory=text)


def valid_quantities(maximum: Decimal) -> st.SearchStrategy[str]:
    """Quantity text the model accepts: the grammar, under the bound."""

    def fits(text: str) -> bool:
        try:
            return parse_quantity(text) <= maximum
        except ValueError:
            return False

    edges = ["0", "1M", "1000000", "999999.999", "1Ei", "1152921504606846976", "1n", "9e17"]
    return st.one_of(
        st.sampled_from([e for e in edges if fits(e)]),
        st.from_regex(QUANTITY, fullmatch=True).filter(fits),
    )


@given(
    amounts=st.lists(
        st.tuples(valid_quantities(Decimal(10**6)), valid_quantities(parse_quantity("1Ei"))),
        min_size=1,
        max_size=20,
    ),
    capacity=st.tuples(valid_quantities(Decimal(10**6)), valid_quantities(parse_quantity("1Ei"))),
    slots=edge_ints(1, 10000),
    created=times(),
    now=times(),
)
@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
def test_schedule_never_raises_on_accepted_resources(
    amounts: list[tuple[str, str]],
    capacity: tuple[str, str],
    slots: int,
    created: datetime,
    now: datetime,
) -> None:
    candidates = []
    for index, (cpu, memory) in enumerate(amounts):
        spec = WorkflowSpec.model_validate(
            {
                "steps": [{"name": "a", "action": "delay", "params": {"seconds": 1}}],
                "resources": {"cpu": cpu, "memory": memory},
                "estimatedDurationSeconds": MAX_SECONDS,
            }
        )
        candidates.append(
            Candidate(
                key=("ns", f"w{index}"),
                priority=spec.priority,
                created=created,
                estimated_duration_s=spec.estimated_duration_seconds,
                resources=resources_of(spec),
            )
        )
    limits = Limits(
        slots,
        Resources(parse_quantity(capacity[0]), parse_quantity(capacity[1])),
    )
    plan = schedule(candidates, {}, limits, {}, now)
    for wait in plan.waiting.values():
        assert wait.message


@st.composite
def accepted_workflows(draw: st.DrawFn) -> tuple[WorkflowSpec, WorkflowStatus]:
    """A spec at the schema's edges and a status as it could be read back (hand-edited
    times included)."""
    count = draw(st.one_of(st.just(64), st.integers(1, 8)))
    names = [f"s{i}" for i in range(count)]
    steps = []
    for index, name in enumerate(names):
        deps = (
            draw(st.lists(st.sampled_from(names[:index]), unique=True, max_size=32))
            if index
            else []
        )
        steps.append(
            {
                "name": name,
                "action": "delay",
                "params": {"seconds": draw(st.sampled_from([0, 86400, 0.5]))},
                "dependsOn": deps,
                "retries": draw(edge_ints(0, 20)),
                "timeoutSeconds": draw(edge_ints(1, 86400)),
            }
        )
    body: dict[str, Any] = {
        "steps": steps,
        "deadlineSeconds": draw(st.one_of(st.none(), edge_ints(1, MAX_SECONDS))),
        "estimatedDurationSeconds": draw(st.one_of(st.none(), edge_ints(0, MAX_SECONDS))),
        "rollback": [{"name": "undo", "action": "delay", "params": {"seconds": 1}}]
        if draw(st.booleans())
        else [],
    }
    spec = WorkflowSpec.model_validate(body)
    phase = draw(st.sampled_from([WorkflowPhase.RUNNING, WorkflowPhase.ROLLING_BACK]))
    step_statuses = [
        StepStatus(
            name=name,
            phase=draw(st.sampled_from(list(StepPhase))),
            attempts=draw(edge_ints(0, 21)),
            started_at=draw(st.one_of(st.none(), times())),
            finished_at=draw(st.one_of(st.none(), times())),
        )
        for name in names
    ]
    status = WorkflowStatus(
        phase=phase,
        started_at=draw(st.one_of(st.none(), times())),
        steps=step_statuses,
        rollback_steps=[
            StepStatus(
                name="undo",
                phase=draw(st.sampled_from(list(StepPhase))),
                attempts=draw(edge_ints(0, 2)),
                finished_at=draw(st.one_of(st.none(), times())),
            )
        ]
        if spec.rollback
        else [],
    )
    return spec, status


@given(workflow=accepted_workflows(), now=times(), halted=st.booleans(), data=st.data())
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_a_workflow_run_never_raises_on_an_accepted_spec(
    workflow: tuple[WorkflowSpec, WorkflowStatus], now: datetime, halted: bool, data: st.DataObject
) -> None:
    spec, status = workflow
    executing = frozenset(
        data.draw(st.lists(st.sampled_from([s.name for s in spec.steps]), max_size=3))
    )
    decision = decide(spec, status, now, executing=executing, halted=halted)
    current = decision.status
    for launch in decision.launch:
        current = step_started(current, launch, now)
    for launch in decision.launch:
        stage_steps = spec.steps if launch.stage is Stage.MAIN else spec.rollback
        spec_step = next(s for s in stage_steps if s.name == launch.step)
        failed = step_failed(current, spec_step, launch.stage, "boom", now)
        decide(spec, failed, now)
        current = step_succeeded(current, launch.stage, launch.step, "ok", now)
    decide(spec, current, now)
    admit(spec, WorkflowStatus(), now)


def test_a_step_finished_at_the_end_of_time_is_retried_without_overflow() -> None:
    spec = WorkflowSpec.model_validate(
        {"steps": [{"name": "a", "action": "delay", "params": {"seconds": 1}, "retries": 3}]}
    )
    status = WorkflowStatus(
        phase=WorkflowPhase.RUNNING,
        started_at=LATEST - timedelta(seconds=1),
        steps=[StepStatus(name="a", phase=StepPhase.PENDING, attempts=1, finished_at=LATEST)],
    )
    decision = decide(spec, status, NOW)
    assert decision.launch == [Launch(Stage.MAIN, "a", 2, resumed=False)]


# --- scaling ----------------------------------------------------------------------------------


FLOATS = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0.0, 1e-300, 5e-324, 1e308, math.inf, -math.inf, math.nan]),
)


@given(
    current=edge_ints(0, 10000),
    p95=st.one_of(st.none(), FLOATS),
    samples=edge_ints(0, 10**6),
    external=st.one_of(st.none(), FLOATS),
    forecast=st.one_of(st.none(), FLOATS),
    target_ms=st.one_of(st.none(), st.floats(min_value=5e-324, max_value=3_600_000)),
    external_target=st.one_of(st.none(), st.floats(min_value=1e-6, max_value=1e15)),
    bounds=st.tuples(edge_ints(0, 10000), edge_ints(1, 10000)).filter(lambda b: b[0] <= b[1]),
)
@settings(max_examples=300)
def test_scaling_never_raises_on_any_signal(
    current: int,
    p95: float | None,
    samples: int,
    external: float | None,
    forecast: float | None,
    target_ms: float | None,
    external_target: float | None,
    bounds: tuple[int, int],
) -> None:
    policy = scaling.ScalingPolicy(
        min_replicas=bounds[0],
        max_replicas=bounds[1],
        target_latency_ms=target_ms,
        external_target=external_target,
    )
    signals = scaling.Signals(
        p95_latency_ms=p95, samples=samples, external_value=external, forecast_demand=forecast
    )
    decision = scaling.decide(current, signals, [], 0.0, policy)
    assert bounds[0] <= decision.desired <= bounds[1] or decision.desired == current


# --- health ---------------------------------------------------------------------------------


@given(
    thresholds=st.tuples(edge_ints(1, 1000), edge_ints(1, 1000)),
    warning=st.one_of(st.none(), st.floats(min_value=5e-324, max_value=3_600_000)),
    outcomes=st.lists(
        st.tuples(st.booleans(), st.one_of(st.none(), FLOATS), times(), st.text(max_size=50)),
        max_size=30,
    ),
    replicas=st.one_of(st.none(), st.tuples(edge_ints(0, 10000), edge_ints(0, 10000))),
)
@settings(max_examples=200)
def test_health_never_raises_on_any_check_outcome(
    thresholds: tuple[int, int],
    warning: float | None,
    outcomes: list[tuple[bool, float | None, datetime, str]],
    replicas: tuple[int, int] | None,
) -> None:
    policy = health.HealthPolicy(thresholds[0], thresholds[1], warning)
    state = health.HealthState()
    if replicas is not None:
        state = health.with_replicas(state, health.Replicas(*replicas), policy)
    for ok, latency, at, message in outcomes:
        state = health.record_check(state, health.CheckOutcome(ok, latency, at, message), policy)
        assert health.explain(state, policy)
