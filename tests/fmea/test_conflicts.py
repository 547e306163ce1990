"""409 conflicts injected into the operator's writes while workflows run steps and services are
checked, with a second writer contending for the same objects: nothing is lost, nothing is
done twice, everything converges.

Why injected: every write the operator makes to its own objects is a JSON merge patch of
``status`` without a ``resourceVersion`` (kube/status.py), which the API server retries
internally on a conflict; it answers 409 to such a patch only when its own retries run out on
a hot object. So the conflicts are made to happen: the operator reaches the API server
through a proxy on 127.0.0.1 (fmea_inputs_support.ConflictProxy) that answers every other
status write of a workflow, and every other of a service, in the test's namespace with the
API server's own 409, until 100 (FMEA_FULL=1; 20 otherwise) have been refused, half on each
kind. Meanwhile a second writer does what optimistic concurrency is for: reads an object,
waits a moment, and replaces it with the ``resourceVersion`` it read (an annotation bumped,
and ``status`` written back as read), so it meets real 409s from the API server whenever the
operator wrote in between. Waves of workflows keep arriving and most services fail and
recover on alternate waves, so both kinds write status throughout.

Asserted: exactly the budget of conflicts was injected, half on each kind, the operator saw
them (its ``eoe_status_write_errors_total``); every workflow Succeeded with each step run once
and each ``http`` step's side effect counted once by the server; one ``Running`` and one
``Succeeded`` Event per workflow; every service HEALTHY with its status current; and the
second writer's successful writes all kept (docs/fmea.md, "Conflicts").
"""

from __future__ import annotations

import os
import random
import secrets
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fmea_inputs_support import (
    GROUP,
    VERSION,
    ConflictProxy,
    CountingServer,
    OperatorProcess,
    condition,
    delay,
    metric_total,
    pick,
    wait_for,
    workflow,
)

import builders

pytestmark = pytest.mark.cluster


CONFLICTS = pick(20, 100)
WORKFLOWS_PER_WAVE = pick(3, 5)
SERVICES = pick(4, 6)
MAX_SECONDS_INJECTING = pick(120, 400)
WORKFLOW_PLURAL = "orchestrationworkflows"
SERVICE_PLURAL = "orchestratedservices"
RIVAL_KEY = "fmea.eoe.dev/second-writer"
HTTP_STEPS = ("ping", "call", "done")
# Below the status heartbeat (60 s): a service's transition that was lost, not retried, would
# only be repaired by the heartbeat, and must show here as a failure.
SERVICE_CONVERGE_S = 40


def steps_for(server: CountingServer, name: str) -> list[dict[str, Any]]:
    def http(step: str, **fields: Any) -> dict[str, Any]:
        url = server.url(f"/wf/{name}/{step}")
        return {"name": step, "action": "http", "params": {"url": url, "method": "POST"}, **fields}

    return [
        http("ping"),
        delay("pause", 0.3, dependsOn=["ping"]),
        http("call", dependsOn=["ping"]),
        http("done", dependsOn=["pause", "call"]),
    ]


class SecondWriter:
    """Read, wait a moment, replace with the resourceVersion read: optimistic concurrency
    against the operator's writes. Counts the real 409s it meets and the writes it made."""

    def __init__(self, kubeconfig: Path, namespace: str, seed: int) -> None:
        from kubernetes import client, config

        self._api = config.new_client_from_config(  # type: ignore[no-untyped-call]
            config_file=str(kubeconfig), persist_config=False
        )
        self._custom = client.CustomObjectsApi(self._api)
        self.namespace = namespace
        self.targets: list[tuple[str, str]] = []
        self.conflicts = 0  # real 409s on the object (metadata) replace
        self.status_conflicts = 0  # real 409s on the status replace
        self.kept: Counter[tuple[str, str]] = Counter()  # successful annotation bumps
        self._rng = random.Random(seed)  # noqa: S311 (timing jitter, replayable)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="second-writer", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=30)

    def close(self) -> None:
        self._api.close()

    def _get(self, plural: str, name: str) -> dict[str, Any]:
        return self._custom.get_namespaced_custom_object(  # type: ignore[no-any-return]
            GROUP, VERSION, self.namespace, plural, name
        )

    def _run(self) -> None:
        from kubernetes.client import ApiException

        while not self._stop.is_set():
            # The services and the newest workflows: the objects the operator writes now.
            services = [t for t in self.targets if t[0] == SERVICE_PLURAL]
            workflows = [t for t in self.targets if t[0] == WORKFLOW_PLURAL]
            for plural, name in services + workflows[-2 * WORKFLOWS_PER_WAVE :]:
                if self._stop.is_set():
                    return
                try:
                    self._bump(plural, name)
                    self._write_status_back(plural, name)
                except ApiException as error:
                    if error.status != 404:
                        raise
            self._stop.wait(0.05)

    def _bump(self, plural: str, name: str) -> None:
        from kubernetes.client import ApiException

        obj = self._get(plural, name)
        time.sleep(self._rng.uniform(0.05, 0.3))
        annotations = obj["metadata"].setdefault("annotations", {})
        annotations[RIVAL_KEY] = str(int(annotations.get(RIVAL_KEY, "0")) + 1)
        try:
            self._custom.replace_namespaced_custom_object(
                GROUP, VERSION, self.namespace, plural, name, obj
            )
        except ApiException as error:
            if error.status != 409:
                raise
            self.conflicts += 1
            return
        self.kept[(plural, name)] += 1

    def _write_status_back(self, plural: str, name: str) -> None:
        """Harmless when it lands (the status as it is), a conflict when the operator wrote."""
        from kubernetes.client import ApiException

        obj = self._get(plural, name)
        time.sleep(self._rng.uniform(0.05, 0.3))
        if "status" not in obj:
            return
        try:
            self._custom.replace_namespaced_custom_object_status(
                GROUP, VERSION, self.namespace, plural, name, obj
            )
        except ApiException as error:
            if error.status != 409:
                raise
            self.status_conflicts += 1


@pytest.fixture
def proxy(control_plane: Any, namespace: str) -> Iterator[ConflictProxy]:
    prefix = f"/apis/{GROUP}/{VERSION}/namespaces/{namespace}/"

    def status_write(_method: str, path: str) -> str | None:
        """The plural of a status write in the test's namespace, else None."""
        if not (path.startswith(prefix) and path.endswith("/status")):
            return None
        return path.removeprefix(prefix).split("/")[0]

    conflict_proxy = ConflictProxy(
        Path(control_plane.kubeconfig),
        budgets={
            WORKFLOW_PLURAL: CONFLICTS - CONFLICTS // 2,
            SERVICE_PLURAL: CONFLICTS // 2,
        },
        classify=status_write,
    )
    yield conflict_proxy
    conflict_proxy.close()


def test_injected_conflicts_lose_nothing_and_duplicate_nothing(
    control_plane: Any,
    custom: Any,
    kube_api: Any,
    namespace: str,
    proxy: ConflictProxy,
    server: CountingServer,
    tmp_path: Path,
) -> None:
    from kubernetes import client

    seed = int(os.environ.get("FMEA_SEED") or secrets.randbelow(1 << 30))
    print(f"\nconflicts: budget {CONFLICTS}, second writer seed {seed}")
    kubeconfig = proxy.write_kubeconfig(tmp_path / "proxied-kubeconfig")
    operator = OperatorProcess(kubeconfig, tmp_path / "operator", "--namespace", namespace)
    rival = SecondWriter(Path(control_plane.kubeconfig), namespace, seed)
    try:
        operator.wait_ready()

        def create(plural: str, body: dict[str, Any]) -> None:
            custom.create_namespaced_custom_object(GROUP, VERSION, namespace, plural, body)
            rival.targets.append((plural, body["metadata"]["name"]))

        services = [f"svc-{i}" for i in range(SERVICES)]
        for name in services:
            check = {"http": {"url": server.url(f"/health/{name}")}, "periodSeconds": 1}
            create(
                SERVICE_PLURAL,
                builders.service(name, healthCheck={**check, "failureThreshold": 2}),
            )
        flapping = services[1:]  # svc-0 stays steady

        proxy.arm()
        rival.start()
        started = time.monotonic()
        workflows: list[str] = []
        wave = 0
        while not proxy.exhausted:
            assert time.monotonic() - started < MAX_SECONDS_INJECTING, (
                f"only {len(proxy.injected)} of {CONFLICTS} conflicts injected "
                f"({dict(proxy.seen)} status writes seen)"
            )
            for i in range(WORKFLOWS_PER_WAVE):
                name = f"wf-{wave}-{i}"
                create(WORKFLOW_PLURAL, workflow(name, steps_for(server, name)))
                workflows.append(name)
            # Half the services fail and recover on alternate waves: transitions to write.
            for name in flapping:
                server.answers[f"/health/{name}"] = 500 if wave % 2 == 0 else 200
            wave += 1
            time.sleep(2.5)
        for name in flapping:
            server.answers.pop(f"/health/{name}", None)
        exhausted_at = proxy.exhausted_at or time.monotonic()

        def workflow_status(name: str) -> dict[str, Any]:
            obj = custom.get_namespaced_custom_object(
                GROUP, VERSION, namespace, WORKFLOW_PLURAL, name
            )
            return obj.get("status") or {}

        for name in workflows:
            wait_for(
                lambda n=name: (
                    workflow_status(n).get("phase")
                    in {"Succeeded", "Failed", "RolledBack", "Cancelled"}
                ),
                timeout=90,
                what=f"workflow {name} finished",
            )
        workflows_done = time.monotonic()

        def service(name: str) -> dict[str, Any]:
            return custom.get_namespaced_custom_object(  # type: ignore[no-any-return]
                GROUP, VERSION, namespace, SERVICE_PLURAL, name
            )

        for name in services:
            wait_for(
                lambda n=name: (service(n).get("status") or {}).get("health") == "HEALTHY",
                timeout=SERVICE_CONVERGE_S,
                what=f"service {name} HEALTHY again",
            )
        converged = time.monotonic()
        rival.stop()

        # The conflicts: exactly the budget, on both kinds, and seen by the operator.
        assert len(proxy.injected) == CONFLICTS
        assert proxy.count(WORKFLOW_PLURAL) == CONFLICTS - CONFLICTS // 2
        assert proxy.count(SERVICE_PLURAL) == CONFLICTS // 2
        seen_by_operator = metric_total(operator.metrics(), "eoe_status_write_errors_total")
        assert seen_by_operator >= CONFLICTS, operator.log()

        # Workflows: Succeeded, every step once, every side effect once, one Event per phase.
        core = client.CoreV1Api(kube_api)

        def reasons_of(name: str) -> Counter[str]:
            events = core.list_namespaced_event(
                namespace, field_selector=f"involvedObject.name={name}"
            ).items
            return Counter(e.reason for e in events)

        for name in workflows:
            status = workflow_status(name)
            assert status["phase"] == "Succeeded", (name, status)
            assert {s["name"]: s["attempts"] for s in status["steps"]} == {
                "ping": 1,
                "pause": 1,
                "call": 1,
                "done": 1,
            }, (name, status["steps"])
            for step in HTTP_STEPS:
                assert server.hits[f"/wf/{name}/{step}"] == 1, (name, step)
            # Events are posted after the status they tell of, through the same conflicts.
            reasons = wait_for(
                lambda n=name: (c := reasons_of(n))["Running"] and c["Succeeded"] and c,
                what=f"{name}'s Running and Succeeded Events",
            )
            assert reasons["Running"] == 1, (name, reasons)
            assert reasons["Succeeded"] == 1, (name, reasons)
        side_effects = sum(n for path, n in server.hits.items() if path.startswith("/wf/"))
        assert side_effects == len(workflows) * len(HTTP_STEPS)

        # Services: HEALTHY, the status current and saying so.
        for name in services:
            obj = service(name)
            assert obj["status"]["observedGeneration"] == obj["metadata"]["generation"]
            assert condition(obj, "Ready")["status"] == "True", obj["status"]
            assert condition(obj, "Healthy")["status"] == "True", obj["status"]

        # The second writer: every write it made is still there.
        for (plural, name), kept in rival.kept.items():
            obj = custom.get_namespaced_custom_object(GROUP, VERSION, namespace, plural, name)
            assert obj["metadata"]["annotations"][RIVAL_KEY] == str(kept), (plural, name)
        assert operator.process.poll() is None
        assert "Traceback" not in operator.log_path.read_text(errors="replace")

        print(
            f"conflicts injected into the operator's status writes: {len(proxy.injected)} "
            f"({proxy.count(WORKFLOW_PLURAL)} workflows, {proxy.count(SERVICE_PLURAL)} services), "
            f"seen by the operator: {seen_by_operator:g}; "
            f"real 409s met by the second writer: {rival.conflicts} (object) + "
            f"{rival.status_conflicts} (status), its writes kept: {sum(rival.kept.values())}; "
            f"{len(workflows)} workflows in {wave} waves, {len(services)} services "
            f"({len(flapping)} flapping); injecting took {exhausted_at - started:.1f} s; "
            f"converged {converged - exhausted_at:.1f} s after the last conflict "
            f"(workflows {workflows_done - exhausted_at:.1f} s)"
        )
    finally:
        rival.stop()
        rival.close()
        operator.stop()
