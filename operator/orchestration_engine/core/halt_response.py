"""What the operator does when an emergency halt is raised, besides parking workflows (pure).

controllers/engine/halt_response.py acts on these: the notification of every change of the
halt, and, once when it is raised, one replica more for each CRITICAL service with scaling
(within ``scaling.maxReplicas``: enough to absorb a neighbour's failure, too little to run
away).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from orchestration_engine.core.halt import HaltState


def notice(state: HaltState, at: datetime) -> dict[str, Any]:
    """The notification of a halt raised, changed or cleared."""
    return {
        "event": "EmergencyHalt" if state.active else "EmergencyHaltCleared",
        "reason": state.reason.value if state.reason else None,
        "message": state.message,
        "time": at.isoformat(),
    }


def raised(state: HaltState, was_active: bool) -> bool:
    """The halt begins now (a change of reason while halted is not a new halt)."""
    return state.active and not was_active


def scale_up_target(*, critical: bool, max_replicas: int | None, desired: int | None) -> int | None:
    """The replicas a service's workload goes to when a halt is raised; None: it stays
    (not CRITICAL, no scaling configured: ``max_replicas`` None, no workload: ``desired``
    None, or already at maxReplicas)."""
    if not critical or max_replicas is None or desired is None:
        return None
    target = min(desired + 1, max_replicas)
    return target if target > desired else None
