"""core.engine_status: phase and conditions of the engine."""

from __future__ import annotations

from datetime import UTC, datetime

from orchestration_engine.core.engine_status import EngineView, render
from orchestration_engine.core.scores import compute

NOW = datetime(2026, 11, 24, tzinfo=UTC)


def view(**fields: object) -> EngineView:
    base = {
        "generation": 1,
        "spec_problems": (),
        "halt": False,
        "halt_reason": None,
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
    status = render(view(halt=True, halt_reason="maintenance window"), [], NOW)
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
