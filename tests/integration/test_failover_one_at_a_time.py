"""One failover per service at a time, against the real API server: the automatic failover and
workflow steps (``failover``, ``failback``) all asking for switches of one service at once.

The operator's own pieces, in-process (the service monitor, the failover controller, the step
actions and the one ServiceFailover they share), switching a real Service between real
Deployments. Requests arrive at the worst moment: each time a switch ends, the next step's
request is made at once, while another is already queued, which is how two switches used to
run side by side (the lock was dropped from its table as the first ended). Asserted: never
two switches of the service at once, and the Service's selector ends where the last switch
sent it, as the service's status says.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import pytest

import builders
from builders import deployment
from envtest.workloads import set_ready
from orchestration_engine.actions.base import ActionDeps, StepContext
from orchestration_engine.actions.failover import failback, failover
from orchestration_engine.api.service import ServiceSpec
from orchestration_engine.api.workflow import ServiceParams
from orchestration_engine.controllers.services.failover import ServiceFailover
from orchestration_engine.controllers.services.failover_controller import FailoverController
from orchestration_engine.controllers.services.service_monitor import ServiceMonitor
from orchestration_engine.core.prober_health import FailureKind
from orchestration_engine.kube import resources
from orchestration_engine.kube.errors import Conflict
from orchestration_engine.kube.events import ObjectRef
from orchestration_engine.kube.traffic_switch import selector_patch, switch_traffic
from orchestration_engine.probes.result import CheckResult
from orchestration_engine.probes.target import ProbeTarget
from waiting import wait_for_async

pytestmark = pytest.mark.cluster

NAME = "web"
STEP_REQUESTS = 8
SPEC: dict[str, Any] = {
    "workloadRef": {"kind": "Deployment", "name": NAME},
    "healthCheck": {"http": {"url": "http://127.0.0.1:9/"}, "failureThreshold": 3},
    "failover": {
        "standbyRef": {"kind": "Deployment", "name": f"{NAME}-standby"},
        "serviceRef": {"name": NAME},
    },
}


class Quiet:
    def upsert(self, key: Any, target: ProbeTarget, period_s: float) -> None:
        pass

    def remove(self, key: Any) -> None:
        pass

    def submit(self, plural: str, namespace: str, name: str, status: dict[str, Any]) -> None:
        pass

    def forget(self, plural: str, namespace: str, name: str) -> None:
        pass

    def record(self, ref: ObjectRef, type_: str, reason: str, message: str) -> None:
        pass


class Overlaps:
    """The real traffic switch, counting how many of one service run at once; when one ends,
    ``after_each`` is called before it returns (the next request arrives right then)."""

    def __init__(self) -> None:
        self.running = 0
        self.most = 0
        self.done: list[str] = []
        self.after_each: Any = None

    async def __call__(
        self, api: Any, namespace: str, name: str, spec: Any, to: str, **kw: Any
    ) -> str:
        self.running += 1
        self.most = max(self.most, self.running)
        try:
            return await switch_traffic(api, namespace, name, spec, to, **kw)  # type: ignore[arg-type]
        finally:
            self.running -= 1
            self.done.append(to)
            if self.after_each is not None:
                self.after_each()


def create_pair(kube_api: Any, namespace: str) -> None:
    from kubernetes import client

    apps = client.AppsV1Api(kube_api)
    for workload, replicas in ((NAME, 2), (f"{NAME}-standby", 0)):
        apps.create_namespaced_deployment(namespace, deployment(workload, replicas))
        set_ready(kube_api, namespace, workload, replicas, replicas)
    client.CoreV1Api(kube_api).create_namespaced_service(
        namespace,
        builders.kube_service(NAME, {"app": NAME}),
    )


async def test_automatic_failover_and_steps_switch_one_at_a_time(
    kube_api: Any, async_api: Any, namespace: str
) -> None:
    from kubernetes import client

    create_pair(kube_api, namespace)
    quiet = Quiet()
    monitor = ServiceMonitor(scheduler=quiet, statuses=quiet, events=quiet)
    switch = Overlaps()
    shared = ServiceFailover(async_api, monitor, lambda: 30.0, switch=switch)
    controller = FailoverController(async_api, monitor, shared)
    monitor.change_listeners.append(controller.changed)
    deps = ActionDeps(
        api=async_api,
        http=None,  # type: ignore[arg-type]
        health=monitor.health_of,
        service=monitor.spec_of,
        failover=shared,
    )
    monitor.observe(
        None,
        {
            "metadata": {"namespace": namespace, "name": NAME, "uid": "u1", "generation": 1},
            "spec": SPEC,
        },
    )
    key = (namespace, NAME)
    # The controller first reads where the Service sends traffic (its verify task).
    await wait_for_async(
        lambda: controller.switching() == 0, 60, "no switch running", interval=0.2, stable=2
    )

    requests: list[asyncio.Task[str]] = []

    def step(index: int) -> asyncio.Task[str]:
        ctx = StepContext(namespace, "wf", "wf-uid", f"s{index}", 1, datetime.now(UTC))
        action = failback if index % 2 else failover
        return asyncio.create_task(action(deps, ctx, ServiceParams(service=NAME)))

    def next_request() -> None:
        if len(requests) < STEP_REQUESTS:
            requests.append(step(len(requests)))

    switch.after_each = next_request
    # A step already waiting, and the service failing: the automatic failover fires too.
    requests.append(step(0))
    failing = CheckResult.failure("HTTP 500 (expected 200)", 1.0, FailureKind.HTTP_STATUS)
    for _ in range(3):
        monitor.on_result(key, failing)
    requests.append(step(1))
    await wait_for_async(
        lambda: len(requests) >= STEP_REQUESTS and all(r.done() for r in requests),
        60,
        "every step's switch request answered",
        interval=0.05,
    )
    await asyncio.gather(*requests)
    # The automatic failover may still answer the last failback: let it finish, then stop.
    await wait_for_async(
        lambda: switch.running == 0 and controller.switching() == 0,
        60,
        "the switches to finish",
        interval=0.2,
        stable=2,
    )
    await controller.close()

    assert switch.most == 1, f"{switch.most} switches of {NAME} ran at once"
    # Every step switched once; the rest were the automatic failover's.
    assert len(switch.done) > STEP_REQUESTS
    assert shared.locks_held() == 0
    last = switch.done[-1]
    selector = client.CoreV1Api(kube_api).read_namespaced_service(NAME, namespace).spec.selector
    expected = {"app": f"{NAME}-standby" if last == "standby" else NAME}
    assert dict(selector) == expected
    assert monitor.services[key].active_target == last


async def test_a_timed_out_switch_s_write_cannot_land_after_a_later_switch(
    kube_api: Any, async_api: Any, namespace: str
) -> None:
    """The lock ends with the switch, but a write the switch sent may still be in flight
    (its timeout fired, or its step was cancelled): it must not undo the next switch, even
    one to where the traffic already went, which changes no selector."""
    from kubernetes import client

    create_pair(kube_api, namespace)
    spec = ServiceSpec.model_validate(SPEC)
    read = await resources.get(async_api, resources.SERVICE, namespace, NAME)
    assert read is not None
    # A failover's selector write, made from the Service as read, held up on its way.
    in_flight = selector_patch(read, {"app": f"{NAME}-standby"}, "timed-out-switch")
    # Meanwhile a failback to the primary, where traffic still goes, completes.
    await switch_traffic(async_api, namespace, NAME, spec, "primary", timeout_s=30)
    with pytest.raises(Conflict):
        await resources.patch(
            async_api,
            resources.SERVICE,
            namespace,
            NAME,
            in_flight,
            content_type=resources.JSON_PATCH,
        )
    service = client.CoreV1Api(kube_api).read_namespaced_service(NAME, namespace)
    assert dict(service.spec.selector) == {"app": NAME}
    # And a switch that meets a Service changed under it reads it again and succeeds.
    await switch_traffic(async_api, namespace, NAME, spec, "standby", timeout_s=30)
    service = client.CoreV1Api(kube_api).read_namespaced_service(NAME, namespace)
    assert dict(service.spec.selector) == {"app": f"{NAME}-standby"}
