"""The optimiser loop's pure parts: the switches a round may use, and what the
recommendations read of each service, from the observed fleet and its plan."""

from __future__ import annotations

from orchestration_engine.api.common import Priority, ResourceAmounts
from orchestration_engine.api.engine import EngineSpec, OptimizationStrategy
from orchestration_engine.core.optimization_round import (
    Observed,
    evidence_of,
    problem_of,
    switches,
)
from orchestration_engine.core.optimizer import optimise

CPU = ResourceAmounts(cpu="1")
WEB = Observed(("shop", "web"), Priority.HIGH, 2, CPU, 1, 6, 5.0, 100.0)
DB = Observed(("shop", "db"), Priority.CRITICAL, 3, CPU)  # no scaling: held at 3


def test_the_settings_override_the_spec_both_ways() -> None:
    spec = EngineSpec()
    on = switches(spec, quantum_override=None, ai_override=None)
    assert (on.quantum, on.ai) == (True, True)
    off = switches(spec, quantum_override=False, ai_override=False)
    assert (off.quantum, off.ai) == (False, False)
    disabled = EngineSpec.model_validate(
        {"enableQuantumOptimization": False, "enableAIDecisionMaking": False}
    )
    forced = switches(disabled, quantum_override=True, ai_override=None)
    assert (forced.quantum, forced.ai) == (True, False)


def test_evidence_carries_the_plan_only_for_a_service_with_scaling() -> None:
    observed = [WEB, DB]
    plan = optimise(problem_of(observed, None), OptimizationStrategy.PERFORMANCE)
    web = evidence_of(
        WEB, plan, p95_ms=250.0, above_target_s=90.0, forecast_replicas=4.5, anomaly="odd"
    )
    assert web.key == ("shop", "web")
    assert web.priority is Priority.HIGH
    assert (web.current, web.max_replicas, web.target_ms) == (2, 6, 100.0)
    assert web.planned == plan.replicas[("shop", "web")]
    assert web.plan_reason == plan.reasons.get(("shop", "web"))
    assert (web.p95_ms, web.above_target_s, web.forecast_replicas) == (250.0, 90.0, 4.5)
    assert web.anomaly == "odd"
    db = evidence_of(
        DB, plan, p95_ms=None, above_target_s=None, forecast_replicas=None, anomaly=None
    )
    assert ("shop", "db") in plan.replicas
    assert db.planned is None
    assert db.plan_reason is None
    assert db.current == 3
