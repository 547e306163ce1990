"""The engine keeper's round through its pure parts: what it knows in, the view, the halt's
inputs, the store's row and a restored halt out."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from orchestration_engine.api.engine import EnginePhase, EngineSpec, HaltReason
from orchestration_engine.api.service import Health
from orchestration_engine.core.engine_status import (
    EngineView,
    activity_of,
    halt_inputs,
    metrics_row,
    phase_of,
    restored_halt,
    service_counts,
)
from orchestration_engine.core.halt import HaltState
from orchestration_engine.core.prober_health import ProberState
from orchestration_engine.core.scores import ServiceFacts, compute
from orchestration_engine.core.workflow_facts import WorkflowFacts

COUNTS = {"total": 4, "succeeded": 2, "failed": 1}
IDLE = WorkflowFacts()


def view(facts: list[ServiceFacts], running: WorkflowFacts = IDLE, **known: Any) -> EngineView:
    """The view as the keeper builds it from what it knows."""
    activity: dict[str, Any] = {
        "initialized": True,
        "automatic_failovers": 0,
        "automatic_scaling": 0,
        "optimizing": False,
    }
    for name in activity:
        activity[name] = known.pop(name, activity[name])
    return EngineView(
        generation=7,
        spec_problems=(),
        halt=known.pop("halt", HaltState()),
        store_problem=None,
        services=service_counts(facts),
        workflows=COUNTS,
        scores=compute(facts, known.pop("optimization_score", None)),
        stopping=known.pop("stopping", False),
        activity=activity_of(facts, running, **activity),
        probes=ProberState(),
    )


def test_services_are_counted_by_health() -> None:
    facts = [
        ServiceFacts(Health.HEALTHY),
        ServiceFacts(Health.HEALTHY),
        ServiceFacts(Health.FAILED),
    ]
    seen = view(facts)
    assert seen.services == {
        "total": 3,
        "healthy": 2,
        "warning": 0,
        "degraded": 0,
        "critical": 0,
        "failed": 1,
        "unknown": 0,
    }
    assert seen.workflows == COUNTS
    assert seen.generation == 7
    assert seen.activity.unhealthy_services == 1
    assert phase_of(seen) is EnginePhase.MONITORING


def test_unknown_services_are_not_unhealthy() -> None:
    seen = view([ServiceFacts(Health.UNKNOWN), ServiceFacts(Health.HEALTHY)])
    assert seen.activity.unhealthy_services == 0
    assert phase_of(seen) is EnginePhase.ACTIVE


def test_changes_outside_workflows_count_with_the_workflows_steps() -> None:
    running = WorkflowFacts(running=2, maintenance=1, failovers=1, scaling=0)
    seen = view([], running, automatic_failovers=2, automatic_scaling=3, optimizing=True)
    assert seen.activity.failovers == 3
    assert seen.activity.scaling == 3
    assert seen.activity.maintenance_workflows == 1
    assert seen.activity.running_workflows == 2
    assert seen.activity.optimizing
    assert phase_of(seen) is EnginePhase.FAILOVER
    scaling = view([], automatic_scaling=1)
    assert phase_of(scaling) is EnginePhase.SCALING
    assert phase_of(view([], initialized=False)) is EnginePhase.INITIALIZING
    assert phase_of(view([], stopping=True, halt=HaltState(True))) is EnginePhase.COMPLETED


def test_halt_inputs_leave_out_unknown_and_inconclusive_services() -> None:
    facts = [
        ServiceFacts(Health.FAILED),
        ServiceFacts(Health.FAILED, inconclusive=True),
        ServiceFacts(Health.UNKNOWN),
        ServiceFacts(Health.HEALTHY),
    ]
    workflows = WorkflowFacts(finished_recent=5, failed_recent=2, longest_running_s=30.0)
    spec = EngineSpec.model_validate(
        {
            "halt": True,
            "haltReason": "by hand",
            "maxOrchestrationDurationSeconds": 60,
            "thresholds": {"resourcePercent": 80, "failedServicesPercent": 40},
        }
    )
    inputs = halt_inputs(
        spec, facts, workflows, enabled_override=None, cpu_samples=(1.0,), memory_samples=(2.0,)
    )
    assert (inputs.services_known, inputs.services_failed) == (2, 1)
    assert (inputs.workflows_finished, inputs.workflows_failed) == (5, 2)
    assert inputs.longest_running_s == 30.0
    assert inputs.max_duration_s == 60.0
    assert (inputs.manual, inputs.manual_message) == (True, "by hand")
    assert (inputs.resource_percent, inputs.failed_services_percent) == (80, 40)
    assert inputs.failed_workflows_percent == 30
    assert (inputs.cpu_samples, inputs.memory_samples) == ((1.0,), (2.0,))
    assert inputs.enabled


def test_the_settings_override_the_specs_halt_switch() -> None:
    spec = EngineSpec()
    both = {"cpu_samples": (), "memory_samples": ()}
    assert not halt_inputs(spec, [], WorkflowFacts(), enabled_override=False, **both).enabled
    off = EngineSpec.model_validate({"emergencyHaltEnabled": False})
    assert not halt_inputs(off, [], WorkflowFacts(), enabled_override=None, **both).enabled
    assert halt_inputs(off, [], WorkflowFacts(), enabled_override=True, **both).enabled


def test_the_metrics_row() -> None:
    facts = [
        ServiceFacts(Health.HEALTHY, last_latency_ms=10.0),
        ServiceFacts(Health.WARNING, last_latency_ms=30.0),
        ServiceFacts(Health.CRITICAL),
    ]
    seen = view(facts, optimization_score=50.0)
    row = metrics_row(
        seen,
        facts,
        orchestration_id="abc",
        operator_cpu_percent=3.5,
        operator_rss_mb=120.4,
        annealed=True,
    )
    assert row["orchestration_id"] == "abc"
    assert (row["total_services"], row["active_services"]) == (3, 2)
    assert (row["healthy_services"], row["warning_services"], row["critical_services"]) == (1, 1, 1)
    assert row["failed_services"] == 0
    assert (row["total_workflows"], row["completed_workflows"], row["failed_workflows"]) == (
        4,
        2,
        1,
    )
    assert row["average_response_time"] == 20.0
    assert row["resource_utilization"] == {"operator_cpu_percent": 3.5, "operator_rss_mb": 120.4}
    assert row["optimization_score"] == row["ai_optimization_score"] == 50.0
    assert row["quantum_enhancement_active"] is True
    scores = seen.scores
    assert (row["reliability_score"], row["performance_score"]) == (
        scores.reliability,
        scores.performance,
    )
    assert row["cost_efficiency"] == scores.cost_efficiency


def test_no_latency_averages_to_zero() -> None:
    row = metrics_row(
        view([]), [], orchestration_id="", operator_cpu_percent=0, operator_rss_mb=0, annealed=False
    )
    assert row["average_response_time"] == 0.0


def test_a_halt_raised_before_a_restart_is_restored() -> None:
    raised = [
        {"type": "Ready", "status": "True"},
        {"type": "EmergencyHalt", "status": "True", "reason": "Manual", "message": "by hand"},
    ]
    assert restored_halt(raised) == HaltState(True, HaltReason.MANUAL, "by hand")
    cleared = [{"type": "EmergencyHalt", "status": "False", "reason": "NotHalted"}]
    assert restored_halt(cleared) == HaltState()
    unknown = [{"type": "EmergencyHalt", "status": "True", "reason": "Gremlins"}]
    assert restored_halt(unknown) == HaltState()
    assert restored_halt([]) == HaltState()


@settings(deadline=None)  # a shared, loaded machine: time says nothing here
@given(st.lists(st.sampled_from(list(Health)), max_size=20))
def test_counts_add_up(healths: list[Health]) -> None:
    seen = view([ServiceFacts(h) for h in healths])
    assert seen.services["total"] == len(healths)
    assert sum(v for k, v in seen.services.items() if k != "total") == len(healths)
    unhealthy = sum(h not in (Health.HEALTHY, Health.UNKNOWN) for h in healths)
    assert seen.activity.unhealthy_services == unhealthy
