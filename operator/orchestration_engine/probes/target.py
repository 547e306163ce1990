"""What to check for a service, derived from its spec."""

from __future__ import annotations

from dataclasses import dataclass

from orchestration_engine.api.service import ServiceSpec


@dataclass(frozen=True, slots=True)
class ProbeTarget:
    kind: str  # "http" | "tcp" | "workload"
    timeout_s: float
    url: str = ""
    expected_status: tuple[int, ...] = (200,)
    host: str = ""
    port: int = 0


def target_of(spec: ServiceSpec) -> ProbeTarget:
    check = spec.health_check
    timeout = float(check.timeout_seconds) if check else 1.0
    if check is not None and check.http is not None:
        return ProbeTarget(
            "http", timeout, url=check.http.url, expected_status=tuple(check.http.expected_status)
        )
    if check is not None and check.tcp is not None:
        return ProbeTarget("tcp", timeout, host=check.tcp.host, port=check.tcp.port)
    return ProbeTarget("workload", timeout)


def period_of(spec: ServiceSpec) -> float:
    return float(spec.health_check.period_seconds) if spec.health_check else 10.0
