"""core.engine_status: phase and conditions of the engine."""

from __future__ import annotations

from datetime import UTC, datetime

from orchestration_engine.api.engine import HaltReason
from orchestration_engine.core.engine_phase import Activity
from orchestration_engine.core.engine_status import EngineView, render
from orchestration_engine.core.halt import HaltState
from orchestration_engine.core.scores import compute

NOW = datetime(2026, 11, 24, tzinfo=UTC)


def view(**fields: object) -> EngineView:
    base = {
        "generation": 1,
        "spec_problems": (),
        "halt": HaltState(),
        "store_problem": None,
        "services": {"total": 0},
        "workflows": {"total": 0},
        "scores": compute([]),
    }
    return EngineView(**(base | fields))  # type: ignore[arg-type]


def conditions(status: dict[str, object]) -> dict[str, dict[str, str]]:
    return {c["type"]: c for c in status["conditions"]}  # type: ignore[attr-defined, index]


def test_running_engine() -> None:
    status = render(view(), [], NOW)
    assert status["phase"] == "ACTIVE"
    found = conditions(status)
    assert found["Ready"]["status"] == "True"
    assert found["StoreDegraded"]["status"] == "False"
    assert found["EmergencyHalt"]["status"] == "False"
    assert status["healthScore"] == 100.0


def test_manual_halt() -> None:
    halt = HaltState(True, HaltReason.MANUAL, "maintenance window")
    status = render(view(halt=halt), [], NOW)
    assert status["phase"] == "EMERGENCY_HALT"
    halt = conditions(status)["EmergencyHalt"]
    assert (halt["status"], halt["reason"], halt["message"]) == (
        "True",
        "Manual",
        "maintenance window",
    )


def test_store_degraded_and_stopping() -> None:
    status = render(
        view(store_problem="database unreachable: connection refused", stopping=True), [], NOW
    )
    assert status["phase"] == "COMPLETED"
    found = conditions(status)
    assert found["StoreDegraded"]["status"] == "True"
    assert found["StoreDegraded"]["message"] == "database unreachable: connection refused"
    assert found["Ready"]["reason"] == "OperatorStopped"


def test_invalid_spec_is_not_ready() -> None:
    found = conditions(render(view(spec_problems=("spec.halt: bad",)), [], NOW))
    assert found["Ready"]["status"] == "False"
    assert found["Ready"]["reason"] == "InvalidSpec"


def test_an_automatic_halt_carries_its_reason() -> None:
    halt = HaltState(True, HaltReason.SERVICE_FAILURES, "3 of 4 services FAILED (75% > 50%)")
    found = conditions(render(view(halt=halt), [], NOW))
    assert (found["EmergencyHalt"]["reason"], found["EmergencyHalt"]["message"]) == (
        "ServiceFailures",
        "3 of 4 services FAILED (75% > 50%)",
    )


def test_the_phase_follows_the_activity() -> None:
    assert render(view(activity=Activity(running_workflows=2)), [], NOW)["phase"] == "COORDINATING"
    assert render(view(activity=Activity(initialized=False)), [], NOW)["phase"] == "INITIALIZING"
