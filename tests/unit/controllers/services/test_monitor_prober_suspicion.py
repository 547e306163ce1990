"""The monitor's wiring of the prober's suspicion of itself: a fleet-wide DNS failure moves no
health and feeds no emergency halt; a fleet answering 500 still fails (fake clocks, no
cluster). The real thing, with the operator's own resolution broken: tests/fmea."""

from __future__ import annotations

from typing import Any

from monitor_support import Clock

from orchestration_engine.api.service import Health
from orchestration_engine.controllers.engine.keeper import EngineKeeper
from orchestration_engine.controllers.engine.workflow_tracker import WorkflowTracker
from orchestration_engine.controllers.services.prober_watch import ProberWatch
from orchestration_engine.controllers.services.service_monitor import ServiceMonitor
from orchestration_engine.core.prober_health import FailureKind, ProberPolicy
from orchestration_engine.kube.events import ObjectRef
from orchestration_engine.probes.result import CheckResult
from orchestration_engine.probes.target import ProbeTarget

SERVICES = [f"svc-{i}" for i in range(6)]


class Quiet:
    def upsert(self, key: Any, target: ProbeTarget, period_s: float) -> None:
        pass

    def remove(self, key: Any) -> None:
        pass

    def submit(self, plural: str, namespace: str, name: str, status: dict[str, Any]) -> None:
        self.statuses[(namespace, name)] = status

    def forget(self, plural: str, namespace: str, name: str) -> None:
        pass

    def record(self, ref: ObjectRef, type_: str, reason: str, message: str) -> None:
        self.events.append((ref.name, reason))

    def __init__(self) -> None:
        self.statuses: dict[tuple[str, str], dict[str, Any]] = {}
        self.events: list[tuple[str, str]] = []


def build() -> tuple[ServiceMonitor, ProberWatch, EngineKeeper, Clock, Quiet]:
    clock = Clock()
    quiet = Quiet()
    watch = ProberWatch(policy=ProberPolicy(min_services=5), monotonic=lambda: clock.seconds)
    monitor = ServiceMonitor(
        scheduler=quiet,
        statuses=quiet,
        events=quiet,
        now=clock.now,
        monotonic=lambda: clock.seconds,
        prober=watch,
    )
    keeper = EngineKeeper(
        statuses=quiet,
        monitor=monitor,
        workflows=WorkflowTracker(),
        rows=None,
        orchestration_id="test",
        events=quiet,
        halt_enabled_override=True,
        host_usage=lambda: (0.0, 0.0),
        now=clock.now,
    )
    keeper.observe(None, {"metadata": {"name": "default", "uid": "e1", "generation": 1}})
    watch.listeners.append(keeper.probes_changed)
    for name in SERVICES:
        monitor.observe(
            None,
            {
                "metadata": {"namespace": "shop", "name": name, "uid": name, "generation": 1},
                "spec": {
                    "healthCheck": {
                        "http": {"url": f"http://{name}.shop/healthz"},
                        "failureThreshold": 3,
                    }
                },
            },
        )
    return monitor, watch, keeper, clock, quiet


def check_all(monitor: ServiceMonitor, clock: Clock, result: CheckResult) -> None:
    for name in SERVICES:
        clock.seconds += 0.1
        monitor.on_result(("shop", name), result)


def ok() -> CheckResult:
    return CheckResult.success(3.0)


def engine_condition(keeper: EngineKeeper, type_: str) -> dict[str, Any]:
    status = keeper.publish()
    assert status is not None
    return next(c for c in status["conditions"] if c["type"] == type_)


def test_dns_failing_everywhere_moves_no_health_and_halts_nothing() -> None:
    monitor, watch, keeper, clock, quiet = build()
    check_all(monitor, clock, ok())
    assert {monitor.health_of("shop", n) for n in SERVICES} == {Health.HEALTHY}
    dns = CheckResult.failure("DNS lookup failed", kind=FailureKind.DNS)
    for _ in range(5):
        check_all(monitor, clock, dns)
    assert watch.degraded
    # The first four failures were taken as the services' own (a WARNING at most); from the
    # fifth, the fleet's picture says the prober is the suspect.
    assert Health.FAILED not in {monitor.health_of("shop", n) for n in SERVICES}
    assert all(monitor.entries[("shop", n)].inconclusive for n in SERVICES)
    keeper.evaluate_halt(keeper.service_facts())
    assert not keeper.halted
    degraded = engine_condition(keeper, "ProbesDegraded")
    assert degraded["status"] == "True"
    assert degraded["reason"] == "DNSFailures"
    assert ("default", "ProbesDegraded") in quiet.events
    # Resolution comes back: conclusive again at once, recovered after the settle time.
    check_all(monitor, clock, ok())
    assert not any(monitor.entries[("shop", n)].inconclusive for n in SERVICES)
    assert watch.degraded
    clock.seconds += watch.policy.clear_after_s
    check_all(monitor, clock, ok())
    assert not watch.degraded
    assert engine_condition(keeper, "ProbesDegraded")["status"] == "False"
    assert ("default", "ProbesRecovered") in quiet.events
    assert {monitor.health_of("shop", n) for n in SERVICES} == {Health.HEALTHY}


def test_a_fleet_answering_500_fails_and_halts_as_before() -> None:
    monitor, watch, keeper, clock, _ = build()
    check_all(monitor, clock, ok())
    broken = CheckResult.failure("HTTP 500 (expected 200)", 2.0, FailureKind.HTTP_STATUS)
    for _ in range(3):
        check_all(monitor, clock, broken)
    assert not watch.degraded
    assert {monitor.health_of("shop", n) for n in SERVICES} == {Health.FAILED}
    keeper.evaluate_halt(keeper.service_facts())
    assert keeper.halted


def test_refused_everywhere_is_an_outage_unless_the_api_server_is_unreachable_too() -> None:
    monitor, watch, _, clock, _ = build()
    refused = CheckResult.failure("connection refused", kind=FailureKind.REFUSED)
    watch.reference_checked(True)
    for _ in range(3):
        check_all(monitor, clock, refused)
    assert {monitor.health_of("shop", n) for n in SERVICES} == {Health.FAILED}
    monitor, watch, _, clock, _ = build()
    watch.reference_checked(False)
    for _ in range(3):
        check_all(monitor, clock, refused)
    assert watch.state.reason == "APIServerUnreachable"
    assert Health.FAILED not in {monitor.health_of("shop", n) for n in SERVICES}


def test_a_deleted_service_leaves_the_count() -> None:
    monitor, watch, _, clock, _ = build()
    dns = CheckResult.failure("DNS lookup failed", kind=FailureKind.DNS)
    check_all(monitor, clock, dns)
    assert watch.degraded
    for name in SERVICES[:2]:
        monitor.remove(("shop", name))
    assert watch.fleet().checked == 4
    clock.seconds += watch.policy.clear_after_s + 1
    watch.evaluate()  # below min_services since the removal, longer than the settle time
    watch.evaluate()
    assert not watch.degraded


def test_a_service_with_no_replica_ready_counts_while_the_checks_are_inconclusive() -> None:
    """The workload's readiness comes from the API server, not the prober: a service FAILED
    for want of ready replicas still counts for the halt (and may fail over)."""
    from orchestration_engine.core.health import Replicas

    ready = {"svc-0": Replicas(2, 0)}
    monitor, watch, keeper, clock, _ = build()
    monitor.replicas = lambda key: ready.get(key[2])
    for name in SERVICES:
        monitor.observe(
            None,
            {
                "metadata": {"namespace": "shop", "name": name, "uid": name, "generation": 2},
                "spec": {
                    "workloadRef": {"kind": "Deployment", "name": name},
                    "healthCheck": {"http": {"url": f"http://{name}.shop/"}},
                },
            },
        )
    dns = CheckResult.failure("DNS lookup failed", kind=FailureKind.DNS)
    for _ in range(3):
        check_all(monitor, clock, dns)
    assert watch.degraded
    facts = {f.inconclusive for f in keeper.service_facts()}
    assert facts == {True, False}
    assert monitor.health_of("shop", "svc-0") is Health.FAILED
    inputs = keeper.halt_inputs(keeper.service_facts(), keeper.workflow_facts(clock.now()))
    assert inputs.services_failed == 1
    assert inputs.services_known == 1
