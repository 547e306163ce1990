"""TCP health checks: can a connection be opened, and how long did it take.

For services that speak no HTTP (databases, brokers), an accepted connection is the cheapest
sign of life that needs no credentials.
"""

from __future__ import annotations

import asyncio
import contextlib
import time

from orchestration_engine.core.prober_health import FailureKind
from orchestration_engine.probes.result import (
    CheckResult,
    connect_failure,
    failure_kind,
    timed_out,
)


async def check_tcp(host: str, port: int, timeout_s: float) -> CheckResult:
    """Opens and closes one connection; never raises for a network error.

    ``timeout_s`` bounds name resolution and the handshake together.
    """
    started = time.perf_counter()
    try:
        async with asyncio.timeout(timeout_s):
            _, writer = await asyncio.open_connection(host, port)
    except TimeoutError:
        # Resolving and connecting are all a TCP check does: no connection was made.
        return CheckResult.failure(timed_out(timeout_s), kind=FailureKind.CONNECT_TIMEOUT)
    except OSError as error:
        return CheckResult.failure(connect_failure(error, host), kind=failure_kind(error))
    latency_ms = (time.perf_counter() - started) * 1000
    writer.close()
    # The peer may reset the connection as we leave; the check has already succeeded.
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return CheckResult.success(latency_ms)
