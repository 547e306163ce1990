"""Recommendations with their evidence (``enableAIDecisionMaking``), pure.

Each one is derived from a measurement the operator holds — the optimiser's plan, the
latency against its target and for how long, the anomaly detector's verdict, the demand
forecast — and says it with the figures, e.g. "payments: p95 220 ms > target 100 ms for
15 min; scale 3 → 5". Nothing is said without a figure behind it, and nothing here acts:
the plan is applied by the autoscaler (when ``autoScalingEnabled``), a recommendation tells
a human what the numbers show, including what the operator cannot do alone (raise a
``maxReplicas``, look into an anomaly).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from orchestration_engine.api.common import Priority
from orchestration_engine.core.optimizer import Key

# Latency above target for less than this is the autoscaler's business, not a human's.
SUSTAINED_S = 300.0
LIMIT = 20


@dataclass(frozen=True, slots=True)
class Evidence:
    key: Key
    priority: Priority
    current: int | None = None  # replicas of the serving workload
    planned: int | None = None  # the optimiser's count
    max_replicas: int | None = None
    p95_ms: float | None = None
    target_ms: float | None = None
    above_target_s: float | None = None  # how long the p95 has been above the target
    anomaly: str | None = None  # the detector's message while an anomaly is active
    forecast_replicas: float | None = None  # forecast demand, headroom included
    plan_reason: str | None = None


@dataclass(frozen=True, slots=True)
class Recommendation:
    namespace: str
    service: str
    kind: str  # scale | capacity | anomaly | forecast
    message: str
    evidence: dict[str, Any] = field(default_factory=dict)

    def as_status(self) -> dict[str, Any]:
        return {
            "namespace": self.namespace,
            "service": self.service,
            "kind": self.kind,
            "message": self.message,
            "evidence": {k: v for k, v in self.evidence.items() if v is not None},
        }


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def _breach(e: Evidence) -> str | None:
    if e.p95_ms is None or e.target_ms is None or e.p95_ms <= e.target_ms:
        return None
    text = f"p95 {e.p95_ms:.0f} ms > target {e.target_ms:g} ms"
    if e.above_target_s is not None:
        text += f" for {_duration(e.above_target_s)}"
    return text


def derive(evidence: Iterable[Evidence], *, limit: int = LIMIT) -> list[Recommendation]:
    """Most important first: by priority, then scale/capacity before anomaly and forecast."""
    found: list[tuple[int, int, Recommendation]] = []
    for e in evidence:
        for order, kind, message, more in _findings(e):
            figures = {
                "currentReplicas": e.current,
                "p95LatencyMs": round(e.p95_ms, 1) if e.p95_ms is not None else None,
                "targetLatencyMs": e.target_ms,
            } | more
            namespace, name = e.key
            found.append(
                (
                    e.priority.rank,
                    order,
                    Recommendation(namespace, name, kind, f"{name}: {message}", figures),
                )
            )
    found.sort(key=lambda item: (item[0], item[1], item[2].namespace, item[2].service))
    return [r for _rank, _order, r in found[:limit]]


def _findings(e: Evidence) -> list[tuple[int, str, str, dict[str, Any]]]:
    """(order, kind, message, extra evidence) for one service."""
    found: list[tuple[int, str, str, dict[str, Any]]] = []
    breach = _breach(e)
    if e.planned is not None and e.current is not None and e.planned != e.current:
        # The optimiser's reasons start with the service's name, as this message does.
        reason = (e.plan_reason or "optimiser plan").removeprefix(f"{e.key[1]}: ")
        why = breach or reason
        found.append(
            (0, "scale", f"{why}; scale {e.current} → {e.planned}", {"plannedReplicas": e.planned})
        )
    elif (
        breach is not None
        and e.above_target_s is not None
        and e.above_target_s >= SUSTAINED_S
        and e.current is not None
        and e.max_replicas is not None
        and e.current >= e.max_replicas
    ):
        found.append(
            (
                1,
                "capacity",
                f"{breach}; at maxReplicas {e.max_replicas}: raise maxReplicas or the target",
                {"maxReplicas": e.max_replicas, "aboveTargetSeconds": round(e.above_target_s)},
            )
        )
    if e.anomaly:
        found.append((2, "anomaly", f"anomaly: {e.anomaly}; look into it before scaling", {}))
    if e.forecast_replicas is not None and e.current is not None:
        needed = math.ceil(e.forecast_replicas - 1e-9)
        covered = e.planned if e.planned is not None else e.current
        target = min(needed, e.max_replicas) if e.max_replicas is not None else needed
        if needed > covered and target > e.current:
            found.append(
                (
                    3,
                    "forecast",
                    f"forecast needs {e.forecast_replicas:.1f} replicas within 10 min,"
                    f" {e.current} now; scale {e.current} → {target}",
                    {"forecastReplicas": round(e.forecast_replicas, 2)},
                )
            )
    return found
