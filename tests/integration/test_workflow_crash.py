"""The operator is killed with SIGKILL in the middle of a workflow and started again: the
workflow completes, and every step's side effect happened exactly once."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from integration_support import OperatorProcess, wait_for
from workflow_support import (
    JOB_TEMPLATE,
    create,
    delay,
    finish_job,
    moment,
    steps,
    wait_phase,
    workflow,
)

from http_support import CountingServer

pytestmark = pytest.mark.cluster


def kill(process: OperatorProcess) -> None:
    os.killpg(process.pid, signal.SIGKILL)
    process.process.wait(timeout=10)


class Restartable:
    """The operator as one process at a time: ``crash`` SIGKILLs it and starts another."""

    def __init__(self, kubeconfig: Path, workdir: Path) -> None:
        self.kubeconfig, self.workdir = kubeconfig, workdir
        self.current = self._start("first")

    def _start(self, name: str) -> OperatorProcess:
        process = OperatorProcess(self.kubeconfig, self.workdir / name)
        try:
            process.wait_ready()
        except Exception:
            process.stop()
            raise
        return process

    def crash(self) -> None:
        kill(self.current)
        self.current.stop()
        self.current = self._start("second")


@pytest.fixture
def restartable(control_plane: Any, crds: None, tmp_path: Path) -> Iterator[Restartable]:
    operator = Restartable(control_plane.kubeconfig, tmp_path)
    yield operator
    operator.current.stop()


def test_sigkill_mid_workflow_runs_every_side_effect_once(
    restartable: Restartable,
    custom: Any,
    kube_api: Any,
    namespace: str,
    server: CountingServer,
) -> None:
    from kubernetes import client

    batch = client.BatchV1Api(kube_api)
    create(
        custom,
        namespace,
        workflow(
            "crash",
            [
                {
                    "name": "announce",
                    "action": "http",
                    "params": {"url": server.url("/announce"), "method": "POST"},
                },
                {
                    "name": "migrate",
                    "action": "job",
                    "params": {"template": JOB_TEMPLATE},
                    "dependsOn": ["announce"],
                },
                {
                    "name": "confirm",
                    "action": "http",
                    "params": {"url": server.url("/confirm"), "method": "POST"},
                    "dependsOn": ["migrate"],
                },
            ],
        ),
    )
    wait_for(lambda: batch.list_namespaced_job(namespace).items, what="the step's Job")
    restartable.crash()
    # The restarted operator adopts the Job it finds rather than making another.
    finish_job(kube_api, namespace, "crash-migrate")
    final = wait_phase(custom, namespace, "crash", "Succeeded", timeout=40)

    assert server.hits["/announce"] == 1
    assert server.hits["/confirm"] == 1
    assert len(batch.list_namespaced_job(namespace).items) == 1
    assert {name: s["attempts"] for name, s in steps(final).items()} == {
        "announce": 1,
        "migrate": 1,
        "confirm": 1,
    }


def test_sigkill_during_a_delay_resumes_it_without_starting_over(
    restartable: Restartable, custom: Any, namespace: str
) -> None:
    create(
        custom,
        namespace,
        workflow("pause", [delay("quick", 0), delay("wait", 12, dependsOn=["quick"])]),
    )
    running = wait_for(
        lambda: (
            (step := steps(wait_phase(custom, namespace, "pause", "Running")).get("wait", {})).get(
                "phase"
            )
            == "Running"
            and step
        ),
        what="the delay step running",
    )
    # Killed 4 s into the delay: started over, it would end at least 4 s late whatever the
    # restart costs (elapsed >= 16); resumed, it ends 12 s after its recorded start, or at
    # the restart if that took over 8 s, so the bound only needs a restart within 10 s.
    into = 4 - (datetime.now(UTC) - moment(running["startedAt"])).total_seconds()
    time.sleep(max(0.0, into))
    restartable.crash()
    final = wait_phase(custom, namespace, "pause", "Succeeded", timeout=40)
    waited = steps(final)["wait"]
    assert waited["attempts"] == 1
    assert steps(final)["quick"]["attempts"] == 1
    elapsed = (moment(waited["finishedAt"]) - moment(waited["startedAt"])).total_seconds()
    assert 11 <= elapsed < 15, elapsed
