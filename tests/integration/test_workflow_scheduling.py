"""Scheduling against the real API server: priority order and queue positions under
``maxConcurrentWorkflows``, capacity, and dependencies between workflows."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from integration_support import OperatorProcess, wait_for
from workflow_support import (
    conditions,
    create,
    delay,
    gate,
    moment,
    open_gate,
    status,
    wait_phase,
    workflow,
)

from orchestration_engine.api.common import GROUP, VERSION

pytestmark = pytest.mark.cluster


@pytest.fixture(scope="module")
def two_slots(
    control_plane: Any, crds: None, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[OperatorProcess]:
    process = OperatorProcess(
        control_plane.kubeconfig, tmp_path_factory.mktemp("two-slots"), "--max-workflows", "2"
    )
    try:
        process.wait_ready()
        yield process
    finally:
        process.stop()


def test_five_workflows_start_by_priority_with_queue_positions(
    two_slots: OperatorProcess, custom: Any, kube_api: Any, namespace: str
) -> None:
    # Two gated ones take both slots; the five then wait in the queue until the gates open.
    create(custom, namespace, workflow("hold-1", [gate("a")]))
    create(custom, namespace, workflow("hold-2", [gate("a")]))
    wait_phase(custom, namespace, "hold-1", "Running")
    wait_phase(custom, namespace, "hold-2", "Running")
    priorities = ["LOW", "NORMAL", "MAINTENANCE", "CRITICAL", "HIGH"]
    for priority in priorities:
        create(
            custom,
            namespace,
            workflow(f"p-{priority.lower()}", [delay("a", 0.5)], priority=priority),
        )

    expected = ["CRITICAL", "HIGH", "NORMAL", "LOW", "MAINTENANCE"]
    for position, priority in enumerate(expected, start=1):
        queued = wait_phase(custom, namespace, f"p-{priority.lower()}", "Queued")
        # Positions settle within the refresh interval once every workflow was seen.

        wait_for(
            lambda p=priority, n=position: (
                status(custom, namespace, f"p-{p.lower()}").get("queuePosition") == n
            ),
            what=f"{priority} at position {position}",
        )
        assert conditions(queued)["Admitted"]["status"] == "False"
        assert conditions(queued)["Admitted"]["reason"] == "ConcurrencyLimit"

    open_gate(kube_api, namespace, "hold-1")
    open_gate(kube_api, namespace, "hold-2")
    started = {}
    for priority in expected:
        final = wait_phase(custom, namespace, f"p-{priority.lower()}", "Succeeded", timeout=40)
        started[priority] = moment(final["startedAt"])
    order = sorted(expected, key=lambda p: (started[p], expected.index(p)))
    assert order == expected, started


def test_a_workflow_larger_than_the_free_capacity_waits(
    two_slots: OperatorProcess, custom: Any, kube_api: Any, namespace: str
) -> None:
    # The engine's default capacity is 16 CPUs.
    create(custom, namespace, workflow("big", [gate("a")], resources={"cpu": "12"}))
    wait_phase(custom, namespace, "big", "Running")
    create(custom, namespace, workflow("second", [delay("a", 0)], resources={"cpu": "8"}))
    queued = wait_phase(custom, namespace, "second", "Queued")
    admitted = conditions(queued)["Admitted"]
    assert admitted["reason"] == "InsufficientCapacity"
    assert "needs cpu 8" in admitted["message"]
    assert "cpu 4" in admitted["message"]  # free
    open_gate(kube_api, namespace, "big")
    wait_phase(custom, namespace, "second", "Succeeded", timeout=30)

    create(custom, namespace, workflow("huge", [delay("a", 0)], resources={"cpu": "64"}))
    never = wait_phase(custom, namespace, "huge", "Queued")
    assert conditions(never)["Admitted"]["reason"] == "ExceedsCapacity"


def test_depends_on_waits_for_the_other_workflow(
    two_slots: OperatorProcess, custom: Any, kube_api: Any, namespace: str
) -> None:
    create(custom, namespace, workflow("after", [delay("a", 0)], dependsOn=["before"]))
    waiting = wait_phase(custom, namespace, "after", "Pending")
    assert conditions(waiting)["Admitted"]["reason"] == "DependencyNotFound"
    assert "before" in waiting["message"]

    create(custom, namespace, workflow("before", [gate("a")]))
    wait_phase(custom, namespace, "before", "Running")

    wait_for(
        lambda: (
            conditions(status(custom, namespace, "after"))["Admitted"]["reason"]
            == "WaitingForDependencies"
        ),
        what="after waits for before",
    )
    open_gate(kube_api, namespace, "before")
    before = wait_phase(custom, namespace, "before", "Succeeded")
    after = wait_phase(custom, namespace, "after", "Succeeded")
    assert moment(after["startedAt"]) >= moment(before["finishedAt"])


def test_a_failed_dependency_cancels_the_dependent(
    two_slots: OperatorProcess, custom: Any, namespace: str
) -> None:
    create(
        custom,
        namespace,
        workflow(
            "doomed",
            [{"name": "call", "action": "http", "params": {"url": "http://127.0.0.1:1/"}}],
        ),
    )
    create(custom, namespace, workflow("follower", [delay("a", 0)], dependsOn=["doomed"]))
    wait_phase(custom, namespace, "doomed", "Failed")
    final = wait_phase(custom, namespace, "follower", "Cancelled")
    assert final["reason"] == "DependencyFailed"
    assert "doomed (Failed)" in final["message"]


def test_workflows_depending_on_each_other_are_stalled(
    two_slots: OperatorProcess, custom: Any, namespace: str
) -> None:
    create(custom, namespace, workflow("ping", [delay("a", 0)], dependsOn=["pong"]))
    create(custom, namespace, workflow("pong", [delay("a", 0)], dependsOn=["ping"]))

    stalled = wait_for(
        lambda: (
            conditions(status(custom, namespace, "ping")).get("Stalled", {}).get("status") == "True"
            and status(custom, namespace, "ping")
        ),
        what="ping stalled",
    )
    message = conditions(stalled)["Stalled"]["message"]
    assert "ping -> pong -> ping" in message
    # Breaking the cycle lets them run.
    custom.delete_namespaced_custom_object(
        GROUP, VERSION, namespace, "orchestrationworkflows", "pong"
    )
    create(custom, namespace, workflow("pong", [delay("a", 0)]))
    wait_phase(custom, namespace, "ping", "Succeeded")


def test_an_emergency_halt_parks_non_critical_work_and_lets_critical_start(
    two_slots: OperatorProcess, custom: Any, namespace: str
) -> None:
    def set_halt(halt: bool) -> None:
        custom.patch_cluster_custom_object(
            GROUP, VERSION, "orchestrationengines", "default", {"spec": {"halt": halt}}
        )

    # Step a is long enough that the halt surely interrupts it, however slow the machine.
    create(custom, namespace, workflow("routine", [delay("a", 10), delay("b", 0, dependsOn=["a"])]))
    wait_phase(custom, namespace, "routine", "Running")
    set_halt(True)
    try:
        halted = wait_phase(custom, namespace, "routine", "Halted")
        assert "emergency halt" in halted["message"]
        create(custom, namespace, workflow("urgent", [delay("a", 0)], priority="CRITICAL"))
        create(custom, namespace, workflow("later", [delay("a", 0)]))
        wait_phase(custom, namespace, "urgent", "Succeeded")
        held = wait_phase(custom, namespace, "later", "Queued")
        assert conditions(held)["Admitted"]["reason"] == "EmergencyHalt"
    finally:
        set_halt(False)
    final = wait_phase(custom, namespace, "routine", "Succeeded", timeout=30)
    # The interrupted step resumed as the same attempt.
    assert {s["name"]: s["attempts"] for s in final["steps"]} == {"a": 1, "b": 1}
    wait_phase(custom, namespace, "later", "Succeeded")
