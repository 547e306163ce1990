"""Runs one check of a service: HTTP or TCP through the probes, else the workload's readiness."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from orchestration_engine.probes.http import HttpProber
from orchestration_engine.probes.result import CheckResult
from orchestration_engine.probes.target import ProbeTarget
from orchestration_engine.probes.tcp import check_tcp

Key = tuple[str, str]


def make_checker(
    prober: HttpProber, workload_check: Callable[[Key, ProbeTarget], Awaitable[CheckResult]]
) -> Callable[[Key, ProbeTarget], Awaitable[CheckResult]]:
    async def check(key: Key, target: ProbeTarget) -> CheckResult:
        if target.kind == "http":
            return await prober.check(target.url, target.expected_status, target.timeout_s)
        if target.kind == "tcp":
            return await check_tcp(target.host, target.port, target.timeout_s)
        return await workload_check(key, target)

    return check
