"""Mirrors the monitor's checks and decisions into the metrics store.

Rows go to the store's writer, which never blocks and never raises because of the database:
the hot path only builds a dict.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from orchestration_engine.api.service import KIND, Health, ServiceSpec
from orchestration_engine.core.health import HealthState
from orchestration_engine.probes.result import CheckResult


class RowSink(Protocol):
    def submit(self, table: str, row: dict[str, Any]) -> None: ...


@dataclass(frozen=True)
class ServiceSnapshot:
    namespace: str
    name: str
    uid: str
    spec: ServiceSpec | None
    state: HealthState
    uptime_percent: float | None


class StoreSink:
    def __init__(self, rows: RowSink, orchestration_id: str) -> None:
        self.rows = rows
        self.orchestration_id = orchestration_id

    def check(self, namespace: str, name: str, result: CheckResult, health: Health) -> None:
        self.rows.submit(
            "health_checks",
            {
                "timestamp": result.checked_at,
                "namespace": namespace,
                "service": name,
                "ok": result.ok,
                "latency_ms": result.latency_ms,
                "health": health.value,
                "message": result.message[:1000],
            },
        )

    def transition(self, namespace: str, name: str, old: Health, new: Health, message: str) -> None:
        self.event(
            KIND,
            namespace,
            name,
            "HealthChanged",
            f"{old.value} -> {new.value}: {message}",
            {"from": old.value, "to": new.value},
        )

    def service_event(
        self,
        namespace: str,
        name: str,
        reason: str,
        message: str,
        data: dict[str, Any] | None = None,
    ) -> None:
        self.event(KIND, namespace, name, reason, message, data)

    def event(
        self,
        kind: str,
        namespace: str | None,
        name: str,
        reason: str,
        message: str,
        data: dict[str, Any] | None = None,
    ) -> None:
        self.rows.submit(
            "events",
            {
                "kind": kind,
                "namespace": namespace,
                "name": name,
                "reason": reason,
                "message": message[:4000],
                "data": data or {},
            },
        )

    def service(self, snapshot: ServiceSnapshot) -> None:
        """A service_registry row, as the original engine kept: one per change of the service."""
        spec = snapshot.spec
        state = snapshot.state
        replicas = state.replicas
        self.rows.submit(
            "service_registry",
            {
                "orchestration_id": self.orchestration_id,
                "namespace": snapshot.namespace,
                "service_id": snapshot.uid,
                "service_name": snapshot.name,
                "service_type": spec.service_type.value if spec else "other",
                "priority": spec.priority.value if spec else "NORMAL",
                "health_status": state.health.value,
                "resource_requirements": spec.resources.to_k8s() if spec and spec.resources else {},
                "dependencies": list(spec.depends_on) if spec else [],
                "configuration": spec.to_k8s() if spec else {},
                "metrics": {
                    "lastLatencyMs": state.last_latency_ms,
                    "consecutiveFailures": state.consecutive_failures,
                    "consecutiveSuccesses": state.consecutive_successes,
                    "replicas": {"desired": replicas.desired, "ready": replicas.ready}
                    if replicas
                    else None,
                },
                "last_health_check": _iso(state.last_check_time),
                "uptime_percentage": 100.0
                if snapshot.uptime_percent is None
                else snapshot.uptime_percent,
            },
        )


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None
