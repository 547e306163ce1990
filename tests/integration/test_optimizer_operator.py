"""The resource optimiser against the real API server: plans under the engine's capacity,
applied through the autoscaler, shown in the engine's status, the report and the store.

Each test runs its own operator on its own namespace (the optimiser sees every service the
operator watches, and other tests leave theirs behind), and sets the engine's strategy,
capacity and interval for the test's length. The test plays the kubelet: every desired
replica is marked ready when read."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fleet_support import Scaled
from integration_support import GROUP, VERSION, OperatorProcess, engine, wait_for

pytestmark = pytest.mark.cluster

ENGINES = "orchestrationengines"
PLURAL = "orchestratedservices"


@pytest.fixture
def fleet(
    control_plane: Any, crds: None, kube_api: Any, custom: Any, namespace: str, tmp_path: Path
) -> Iterator[tuple[Scaled, OperatorProcess]]:
    process = OperatorProcess(control_plane.kubeconfig, tmp_path, "--namespace", namespace)
    process.wait_ready()  # it creates the engine when there is none
    before = engine(custom)["spec"]
    try:
        yield Scaled(kube_api, custom, namespace), process
    finally:
        if process.process.poll() is None:
            delete_services(custom, namespace)
        process.stop()
        keys = ("optimizationStrategy", "capacity", "optimizationIntervalSeconds")
        restore: dict[str, Any] = {k: before.get(k) for k in keys}
        restore["capacity"] = None  # merge patch: drop the test's keys, then put the old ones
        custom.patch_cluster_custom_object(GROUP, VERSION, ENGINES, "default", {"spec": restore})
        if before.get("capacity") is not None:
            custom.patch_cluster_custom_object(
                GROUP, VERSION, ENGINES, "default", {"spec": {"capacity": before["capacity"]}}
            )


def delete_services(custom: Any, namespace: str) -> None:
    """While an operator runs (it removes its finalizers): the services' requests would
    count against the capacity of every later test's operator."""
    custom.delete_collection_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL)
    wait_for(
        lambda: (
            not custom.list_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL)["items"]
        ),
        what="the test's services deleted",
    )


def configure(custom: Any, strategy: str, cpu: str, **more: Any) -> None:
    custom.patch_cluster_custom_object(
        GROUP,
        VERSION,
        ENGINES,
        "default",
        {
            "spec": {
                "optimizationStrategy": strategy,
                "capacity": {"cpu": cpu, "memory": "1Ti"},
                "optimizationIntervalSeconds": 2,
                **more,
            }
        },
    )


def service(priority: str, low: int = 1, high: int = 5, **scaling: Any) -> dict[str, Any]:
    return {
        "priority": priority,
        "resources": {"cpu": "1", "memory": "128Mi"},
        "scaling": {
            "minReplicas": low,
            "maxReplicas": high,
            "scaleDownStabilizationSeconds": 0,
            **scaling,
        },
    }


def optimization(custom: Any, namespace: str) -> dict[str, Any] | None:
    """The engine's latest plan, once it covers the test's services."""
    status = engine(custom).get("status") or {}
    found = status.get("optimization")
    if not found:
        return None
    return found


def test_cost_under_capacity_pressure_lowers_low_priority_first(
    fleet: tuple[Scaled, OperatorProcess], custom: Any, namespace: str, control_plane: Any
) -> None:
    scaled, process = fleet
    scaled.create("checkout", 3, service("HIGH"))
    scaled.create("reports", 3, service("LOW"))
    configure(custom, "COST", "4")
    wait_for(lambda: scaled.replicas("reports") == 1, timeout=40, what="LOW lowered to 1")
    # HIGH keeps its replicas: the capacity is met by the LOW service alone.
    for _ in range(10):
        assert scaled.replicas("checkout") == 3
        scaled.replicas("reports")
    assert min(scaled.seen["reports"]) == 1
    # The Event is posted after the patch it tells of.
    down = wait_for(lambda: scaled.events("reports", "ScaledDown"), what="a ScaledDown Event")
    assert "capacity plan allots 1" in down[0].message
    plan = wait_for(
        lambda: (o := optimization(custom, namespace)) and o["strategy"] == "COST" and o,
        what="COST plan in status",
    )
    assert plan["capacityBinds"] is True
    assert plan["solver"] == "greedy"
    status = engine(custom)["status"]
    assert status["scores"]["optimization"] == pytest.approx(plan["score"], abs=0.01)
    # The report shows the plan; the store holds every round.
    report = subprocess.run(
        [
            sys.executable,
            "-m",
            "orchestration_engine",
            "report",
            "--format",
            "json",
            "--database-url",
            f"sqlite:///{process.workdir / 'orchestration.db'}",
        ],
        env={**os.environ, "KUBECONFIG": str(control_plane.kubeconfig)},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    document = json.loads(report.stdout)["orchestration_report"]
    assert document["optimization"]["strategy"] == "COST"
    assert document["optimization"]["score"] == pytest.approx(
        document["performance_metrics"]["optimization_score"], abs=0.01
    )

    def stored() -> list[tuple[Any, ...]]:
        with sqlite3.connect(process.workdir / "orchestration.db") as db:
            try:
                return db.execute(
                    "SELECT strategy, solver, score, plan FROM optimization_runs"
                    " WHERE strategy = 'COST'"
                ).fetchall()
            except sqlite3.OperationalError:
                return []

    rows = wait_for(stored, timeout=30, what="optimization_runs rows")
    planned = [change for row in rows for change in json.loads(row[3])]
    assert {"namespace": namespace, "name": "reports", "current": 3, "planned": 1} == {
        k: v for k, v in planned[0].items() if k != "reason"
    }


def test_reliability_keeps_two_critical_replicas(
    fleet: tuple[Scaled, OperatorProcess], custom: Any, namespace: str
) -> None:
    scaled, _process = fleet
    scaled.create("payments", 1, service("CRITICAL", low=1, high=3))
    scaled.create("batch", 3, service("LOW"))
    configure(custom, "RELIABILITY", "4")
    wait_for(lambda: scaled.replicas("payments") >= 2, timeout=40, what="CRITICAL at 2+")
    wait_for(
        lambda: scaled.replicas("payments") + scaled.replicas("batch") <= 4,
        timeout=40,
        what="the fleet within the capacity",
    )
    for _ in range(10):
        assert scaled.replicas("payments") >= 2
    up = wait_for(lambda: scaled.events("payments", "ScaledUp"), what="a ScaledUp Event")
    assert "optimiser plan" in up[0].message


def test_quantum_enhanced_anneals_and_no_quantum_does_not(
    fleet: tuple[Scaled, OperatorProcess],
    custom: Any,
    namespace: str,
    control_plane: Any,
    tmp_path: Path,
) -> None:
    scaled, process = fleet
    scaled.create("web", 2, service("NORMAL"))
    configure(custom, "QUANTUM_ENHANCED", "8", enableQuantumOptimization=True)
    plan = wait_for(
        lambda: (
            (o := optimization(custom, namespace)) and o["strategy"] == "QUANTUM_ENHANCED" and o
        ),
        what="a QUANTUM_ENHANCED plan",
    )
    assert plan["solver"] == "anneal"
    assert plan["objective"] == "PERFORMANCE"
    assert any("classical simulation" in note for note in plan["notes"])
    process.stop()
    # The last plan of the first operator, which may have run rounds since `plan` was read.
    first_time = optimization(custom, namespace)["time"]
    # --no-quantum overrides the engine's enableQuantumOptimization.
    second = OperatorProcess(
        control_plane.kubeconfig, tmp_path / "no-quantum", "--namespace", namespace, "--no-quantum"
    )
    try:
        second.wait_ready()
        greedy = wait_for(
            lambda: (o := optimization(custom, namespace)) and o["time"] != first_time and o,
            what="a plan by the second operator",
        )
        assert greedy["solver"] == "greedy"
        assert any("disabled" in note for note in greedy["notes"])
        assert 'eoe_optimization_runs_total{solver="greedy",strategy="QUANTUM_ENHANCED"}' in (
            second.metrics()
        )
        delete_services(custom, namespace)
    finally:
        second.stop()


def test_recommendations_carry_their_evidence(
    fleet: tuple[Scaled, OperatorProcess], custom: Any, namespace: str
) -> None:
    scaled, _process = fleet
    scaled.create("checkout", 3, service("HIGH"))
    scaled.create("reports", 3, service("LOW"))

    def recommendations() -> list[dict[str, Any]]:
        return [
            r
            for r in (engine(custom).get("status") or {}).get("recommendations") or []
            if r["namespace"] == namespace
        ]

    def ai(enabled: bool) -> None:
        custom.patch_cluster_custom_object(
            GROUP, VERSION, ENGINES, "default", {"spec": {"enableAIDecisionMaking": enabled}}
        )

    # The autoscaler off: the plan is never applied, so "scale 3 → 1" stays due and only the
    # flag can take it away.
    configure(custom, "COST", "4", enableAIDecisionMaking=True, autoScalingEnabled=False)
    try:
        found = wait_for(recommendations, timeout=40, what="recommendations")
        [reports] = [r for r in found if r["service"] == "reports"]
        assert reports["kind"] == "scale"
        assert reports["message"].startswith("reports: demand 3.0 replicas")
        assert reports["message"].endswith("scale 3 → 1")
        assert reports["evidence"]["plannedReplicas"] == 1
        ai(False)
        wait_for(
            lambda: not recommendations(),
            timeout=20,
            what="no recommendations with enableAIDecisionMaking false",
        )
        assert scaled.replicas("reports") == 3  # still due: the flag alone emptied the list
        ai(True)
        wait_for(recommendations, timeout=20, what="recommendations back with the flag on")
    finally:
        custom.patch_cluster_custom_object(
            GROUP,
            VERSION,
            ENGINES,
            "default",
            {"spec": {"enableAIDecisionMaking": True, "autoScalingEnabled": True}},
        )
