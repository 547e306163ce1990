"""The prober's view of itself: every network check's kind, counted, and the reference target.

The service monitor hands it each HTTP and TCP result before folding it into the service's
health; it keeps the latest kind per service (O(1) per check), asks core/prober_health.py
whether the prober is degraded, and answers whether this result is inconclusive. A loop
checks the reference target (the API server's address, over the same network as the checks)
so a prober cut off from everything, the API server included, is told from a fleet that
refuses connections because its pods are gone.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from urllib.parse import urlsplit

from orchestration_engine.core.prober_health import (
    FailureKind,
    FleetChecks,
    ProberPolicy,
    ProberState,
    evaluate,
    is_suspect,
)
from orchestration_engine.plumbing import metrics
from orchestration_engine.plumbing.lifecycle import Lifecycle
from orchestration_engine.plumbing.periodic import Periodic, every
from orchestration_engine.probes.result import CheckResult
from orchestration_engine.probes.tcp import check_tcp

log = logging.getLogger(__name__)

Key = tuple[str, str]
REFERENCE_PERIOD_SECONDS = 5.0
REFERENCE_TIMEOUT_SECONDS = 3.0
NETWORK_CHECKS = frozenset({"http", "tcp"})
# The latest result of a service: None passed, else the failure's kind.
_PASSED = None


class ProberWatch(Lifecycle):
    def __init__(
        self,
        *,
        policy: ProberPolicy | None = None,
        reference: Callable[[], Awaitable[CheckResult]] | None = None,
        reference_period_s: float = REFERENCE_PERIOD_SECONDS,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.policy = policy or ProberPolicy()
        self._reference = reference
        self._monotonic = monotonic
        self._latest: dict[Key, FailureKind | None] = {}
        self._failures: Counter[FailureKind] = Counter()
        self.reference_ok: bool | None = None
        self.state = ProberState()
        self._task = Periodic("prober-reference", every(reference_period_s, self._check_reference))
        # Called with the new state when the prober becomes degraded, recovers, or the
        # reason changes (the engine's condition and Event; failover looks again).
        self.listeners: list[Callable[[ProberState], None]] = []
        metrics.PROBES_DEGRADED.set(0)

    @property
    def degraded(self) -> bool:
        return self.state.degraded

    def fleet(self) -> FleetChecks:
        return FleetChecks(
            len(self._latest),
            tuple(sorted((k, n) for k, n in self._failures.items() if n)),
            self.reference_ok,
        )

    def observe(self, key: Key, check: str, result: CheckResult) -> bool:
        """Take in one check of ``key`` (its kind: http, tcp, workload); True when the result
        is inconclusive: the prober is degraded and this failure is one it would cause."""
        if check not in NETWORK_CHECKS:
            self.forget(key)
            return False
        kind = _PASSED if result.ok else (result.kind or FailureKind.OTHER)
        previous = self._latest.get(key, _PASSED)
        if previous is not None:
            self._failures[previous] -= 1
        self._latest[key] = kind
        if kind is not None:
            self._failures[kind] += 1
        self.evaluate()
        return self.state.degraded and not result.ok and is_suspect(kind, self.reference_ok)

    def forget(self, key: Key) -> None:
        if key not in self._latest:
            return
        previous = self._latest.pop(key)
        if previous is not None:
            self._failures[previous] -= 1
        self.evaluate()

    def reference_checked(self, ok: bool) -> None:
        if ok != self.reference_ok:
            log.log(
                logging.INFO if ok else logging.WARNING,
                "the prober's reference target (the API server) %s",
                "answers" if ok else "does not answer",
            )
        self.reference_ok = ok
        self.evaluate()

    def evaluate(self) -> None:
        before = self.state
        after = evaluate(self.fleet(), before, self._monotonic(), self.policy)
        self.state = after
        if after.degraded != before.degraded or after.reason != before.reason:
            metrics.PROBES_DEGRADED.set(1 if after.degraded else 0)
            if after.degraded:
                log.error("probes degraded (%s): %s", after.reason, after.message)
            elif before.degraded:
                log.warning("probes recovered: checks are conclusive again")
            for listener in self.listeners:
                try:
                    listener(after)
                except Exception:  # one listener's bug must not stop the others
                    log.exception("a prober-state listener failed")

    async def start(self) -> None:
        if self._reference is not None:
            await self._task.start()

    async def stop(self) -> None:
        await self._task.stop()

    async def _check_reference(self) -> None:
        """Every ``reference_period_s``: also what lets a degraded prober clear when no check
        arrives."""
        assert self._reference is not None
        try:
            result = await self._reference()
            metrics.PROBER_REFERENCE_CHECKS.labels("pass" if result.ok else "fail").inc()
            self.reference_checked(result.ok)
        except Exception:  # the loop outlives any one round
            log.exception("checking the prober's reference target failed")
            metrics.PROBER_REFERENCE_CHECKS.labels("error").inc()


def api_reference(
    url: str, timeout_s: float = REFERENCE_TIMEOUT_SECONDS
) -> Callable[[], Awaitable[CheckResult]]:
    """A TCP connect to the API server's address as the client is configured with it: the
    one target that must answer whenever the operator's network works (a connect, not a
    request: the kube client's own health is not the question)."""
    parts = urlsplit(url)
    host = parts.hostname or "localhost"
    port = parts.port or (80 if parts.scheme == "http" else 443)

    async def check() -> CheckResult:
        return await check_tcp(host, port, timeout_s)

    return check
