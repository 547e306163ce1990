"""The operator's own network breaks, not the services': no failover, no emergency halt.

The operator runs in a mount namespace of its own (``unshare --mount``) whose ``/etc/hosts``
and ``/etc/resolv.conf`` are files of this test, bind-mounted. The services are checked by
names that only those hosts resolve (to a real HTTP server on 127.0.0.1 that keeps
answering 200 throughout); breaking the operator's resolution is rewriting its hosts file
without the names, so every lookup falls through to a resolver that refuses (a loopback
address nothing listens on: the lookups fail at once) or, with FMEA_FULL=1 as well, one
that never answers (lookups hang: the checks time out before connecting). A second prober,
in a namespace of its own with the good hosts file, confirms that the services answer.

Asserted while the operator's resolution is broken: the engine's ProbesDegraded condition
is True with an Event, every service's checks went on and were inconclusive, no Service
selector moved, no FailedOver Event, no emergency halt, no replica changed (CRITICAL services
would be scaled up by a halt); once resolution is back, ProbesDegraded clears and the
services are HEALTHY. And the other way round: the same fleet answering HTTP 500, with
resolution working, fails over and halts, so the classifier hides no real outage.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fmea_disruption_support import (
    GROUP,
    VERSION,
    OperatorProcess,
    condition,
    engine,
    full_mode,
    metric_sum,
    wait_for,
)

import builders
from builders import deployment
from envtest.workloads import set_ready
from http_support import LocalServer, QuietHandler

pytestmark = pytest.mark.cluster

PLURAL = "orchestratedservices"
SERVICES = [f"svc-{i}" for i in range(6)]
DOMAIN = "prober.fmea.test"
THRESHOLD = 3
# A resolver that refuses at once: a loopback address nothing listens on.
REFUSING_RESOLVER = "127.53.0.1"
# Enough inconclusive checks per service to have failed it over several times over.
INCONCLUSIVE_PER_SERVICE = THRESHOLD + 3
CLEAR_SECONDS = 5.0


class Fleet(LocalServer):
    """One HTTP server on 127.0.0.1 that answers every service's check with ``status``."""

    def __init__(self) -> None:
        self.status = 200
        fleet = self

        class Handler(QuietHandler):
            def do_GET(self) -> None:
                self.send_response(fleet.status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

        super().__init__(Handler)

    def url(self, name: str) -> str:
        return f"http://{name}.{DOMAIN}:{self.port}/healthz"


class Resolution:
    """The operator's /etc/hosts and /etc/resolv.conf, as files this test rewrites in place
    (a bind mount pins the inode: the operator sees every rewrite, nobody else does)."""

    def __init__(self, directory: Path, nameserver: str) -> None:
        self.hosts = directory / "hosts"
        self.resolv = directory / "resolv.conf"
        self.good_hosts = directory / "hosts.good"
        names = "".join(f"127.0.0.1 {name}.{DOMAIN}\n" for name in SERVICES)
        self.good_hosts.write_text("127.0.0.1 localhost\n" + names)
        self.hosts.write_text(self.good_hosts.read_text())
        self.resolv.write_text(f"nameserver {nameserver}\noptions timeout:1 attempts:1\n")
        # The operator's settings file: ProbesDegraded clears after 5 s of conclusive checks,
        # not 30, to keep the test short.
        self.config = directory / "operator.yaml"
        self.config.write_text(f"probes_degraded_clear_seconds: {CLEAR_SECONDS:g}\n")

    def wrap(self) -> list[str]:
        return [
            "env",
            f"ORCHESTRATION_CONFIG={self.config}",
            "unshare",
            "--mount",
            "sh",
            "-c",
            'mount --bind "$1" /etc/hosts && mount --bind "$2" /etc/resolv.conf '
            '&& shift 2 && exec "$@"',
            "sh",
            str(self.hosts),
            str(self.resolv),
        ]

    def break_(self) -> None:
        with self.hosts.open("r+") as file:  # same inode
            file.truncate(0)
            file.write("127.0.0.1 localhost\n")

    def restore(self) -> None:
        with self.hosts.open("r+") as file:
            file.truncate(0)
            file.write(self.good_hosts.read_text())


class SilentResolver:
    """A nameserver that reads every query and answers none: lookups hang until the
    resolver's own timeout."""

    def __init__(self, address: str = "127.53.0.2") -> None:
        self.address = address
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((address, 53))
        self.sock.settimeout(0.5)
        self._stop = threading.Event()
        threading.Thread(target=self._drain, daemon=True).start()

    def _drain(self) -> None:
        while not self._stop.is_set():
            try:
                self.sock.recv(4096)
            except OSError:
                continue

    def close(self) -> None:
        self._stop.set()
        self.sock.close()


def second_prober(resolution: Resolution, fleet: Fleet) -> list[int]:
    """Each service's status as a prober with working resolution sees it (its own mount
    namespace with the good hosts file)."""
    script = (
        "import sys, urllib.request\n"
        "for url in sys.argv[1:]:\n"
        "    print(urllib.request.urlopen(url, timeout=5).status)\n"
    )
    done = subprocess.run(
        [
            "unshare",
            "--mount",
            "sh",
            "-c",
            'mount --bind "$1" /etc/hosts && shift && exec "$@"',
            "sh",
            str(resolution.good_hosts),
            sys.executable,
            "-c",
            script,
            *(fleet.url(name) for name in SERVICES),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return [int(line) for line in done.stdout.split()]


class Cluster:
    def __init__(self, kube_api: Any, custom: Any, namespace: str) -> None:
        from kubernetes import client

        self.kube_api = kube_api
        self.apps = client.AppsV1Api(kube_api)
        self.core = client.CoreV1Api(kube_api)
        self.custom = custom
        self.namespace = namespace

    def create(self, fleet: Fleet) -> None:
        for name in SERVICES:
            for workload, replicas in ((name, 2), (f"{name}-standby", 0)):
                self.apps.create_namespaced_deployment(
                    self.namespace, deployment(workload, replicas)
                )
                set_ready(self.kube_api, self.namespace, workload, replicas, replicas)
            self.core.create_namespaced_service(
                self.namespace,
                builders.kube_service(name, {"app": name}),
            )
            body = builders.service(
                name,
                priority="CRITICAL",
                workloadRef={"kind": "Deployment", "name": name},
                healthCheck={
                    "http": {"url": fleet.url(name)},
                    "periodSeconds": 1,
                    "timeoutSeconds": 1,
                    "failureThreshold": THRESHOLD,
                },
                scaling={"minReplicas": 1, "maxReplicas": 5},
                failover={
                    "standbyRef": {"kind": "Deployment", "name": f"{name}-standby"},
                    "serviceRef": {"name": name},
                },
            )
            self.custom.create_namespaced_custom_object(
                GROUP, VERSION, self.namespace, PLURAL, body
            )

    def healths(self) -> dict[str, str | None]:
        items = self.custom.list_namespaced_custom_object(GROUP, VERSION, self.namespace, PLURAL)[
            "items"
        ]
        return {i["metadata"]["name"]: (i.get("status") or {}).get("health") for i in items}

    def all_health(self, health: str) -> bool:
        healths = self.healths()
        return len(healths) == len(SERVICES) and set(healths.values()) == {health}

    def selectors(self) -> dict[str, dict[str, str]]:
        return {
            name: dict(self.core.read_namespaced_service(name, self.namespace).spec.selector)
            for name in SERVICES
        }

    def replicas(self) -> dict[str, int]:
        found = self.apps.list_namespaced_deployment(self.namespace).items
        return {d.metadata.name: int(d.spec.replicas) for d in found}

    def reasons(self) -> list[str]:
        return [e.reason for e in self.core.list_namespaced_event(self.namespace).items]

    def engine_condition(self, type_: str) -> dict[str, Any]:
        return condition(engine(self.custom), type_)

    def engine_events(self, reason: str) -> list[Any]:
        found = self.core.list_event_for_all_namespaces(
            field_selector="involvedObject.kind=OrchestrationEngine"
        ).items
        return [e for e in found if e.reason == reason]


@pytest.fixture
def fleet() -> Iterator[Fleet]:
    answering = Fleet()
    yield answering
    answering.close()


def start_operator(
    control_plane: Any, tmp_path: Path, namespace: str, resolution: Resolution
) -> OperatorProcess:
    operator = OperatorProcess(
        control_plane.kubeconfig,
        tmp_path / "operator",
        "--namespace",
        namespace,
        "--halt-settle-seconds",
        "2",
        emergency_halt=True,
        wrap=resolution.wrap(),
    )
    operator.wait_ready()
    return operator


def inconclusive_checks(operator: OperatorProcess) -> float:
    return metric_sum(operator.metrics(), "eoe_health_checks_total", result="inconclusive")


RESOLVERS = ["refusing", "silent"] if full_mode() else ["refusing"]


@pytest.mark.parametrize("resolver", RESOLVERS)
def test_the_operator_losing_its_resolution_fails_nothing_over(
    control_plane: Any,
    kube_api: Any,
    custom: Any,
    namespace: str,
    fleet: Fleet,
    tmp_path: Path,
    resolver: str,
) -> None:
    silent = SilentResolver() if resolver == "silent" else None
    resolution = Resolution(tmp_path, silent.address if silent else REFUSING_RESOLVER)
    cluster = Cluster(kube_api, custom, namespace)
    operator = start_operator(control_plane, tmp_path, namespace, resolution)
    try:
        cluster.create(fleet)
        wait_for(lambda: cluster.all_health("HEALTHY"), timeout=60, what="every service HEALTHY")
        selectors, replicas = cluster.selectors(), cluster.replicas()
        wait_for(
            lambda: cluster.engine_condition("ProbesDegraded").get("status") == "False",
            what="ProbesDegraded=False while resolution works",
        )
        degraded_events = len(cluster.engine_events("ProbesDegraded"))

        resolution.break_()
        degraded = wait_for(
            lambda: (c := cluster.engine_condition("ProbesDegraded")).get("status") == "True" and c,
            timeout=60,
            what="ProbesDegraded=True",
        )
        expected_reason = "DNSFailures" if resolver == "refusing" else "ConnectTimeouts"
        assert degraded["reason"] == expected_reason, degraded
        assert f"of {len(SERVICES)} services" in degraded["message"]
        wait_for(
            lambda: len(cluster.engine_events("ProbesDegraded")) > degraded_events,
            what="a ProbesDegraded Event",
        )
        # Long enough to have failed every service over several times: the checks go on.
        wait_for(
            lambda: inconclusive_checks(operator) >= INCONCLUSIVE_PER_SERVICE * len(SERVICES),
            timeout=120,
            what="inconclusive checks of every service",
        )
        assert second_prober(resolution, fleet) == [200] * len(SERVICES)
        assert cluster.selectors() == selectors
        assert cluster.replicas() == replicas
        assert "FailedOver" not in cluster.reasons()
        assert "FAILED" not in cluster.healths().values()
        assert cluster.engine_condition("EmergencyHalt").get("status") == "False"
        assert metric_sum(operator.metrics(), "eoe_probes_degraded") == 1

        resolution.restore()
        wait_for(
            lambda: cluster.engine_condition("ProbesDegraded").get("status") == "False",
            timeout=120,
            what="ProbesDegraded=False once resolution is back",
        )
        wait_for(lambda: cluster.all_health("HEALTHY"), timeout=60, what="every service HEALTHY")
        assert cluster.engine_events("ProbesRecovered")
        assert cluster.selectors() == selectors
        assert cluster.replicas() == replicas
        assert "FailedOver" not in cluster.reasons()
        assert metric_sum(operator.metrics(), "eoe_probes_degraded") == 0
    finally:
        operator.stop()
        if silent is not None:
            silent.close()


def test_a_fleet_that_really_fails_still_fails_over_and_halts(
    control_plane: Any,
    kube_api: Any,
    custom: Any,
    namespace: str,
    fleet: Fleet,
    tmp_path: Path,
) -> None:
    """Every service answering 500 through the same prober: not the prober's fault."""
    resolution = Resolution(tmp_path, REFUSING_RESOLVER)
    cluster = Cluster(kube_api, custom, namespace)
    operator = start_operator(control_plane, tmp_path, namespace, resolution)
    try:
        cluster.create(fleet)
        wait_for(lambda: cluster.all_health("HEALTHY"), timeout=60, what="every service HEALTHY")
        fleet.status = 500
        wait_for(
            lambda: all(s == {"app": f"{n}-standby"} for n, s in cluster.selectors().items()),
            timeout=60,
            what="every service failed over to its standby",
        )
        wait_for(
            lambda: cluster.reasons().count("FailedOver") == len(SERVICES),
            what="a FailedOver Event per service",
        )
        for name in SERVICES:  # the kubelet's part: the standbys' pods become ready
            set_ready(kube_api, namespace, f"{name}-standby", 2, 2)
        assert cluster.engine_condition("ProbesDegraded").get("status") == "False"
        wait_for(
            lambda: cluster.engine_condition("EmergencyHalt").get("status") == "True",
            what="the emergency halt (ServiceFailures)",
        )
        fleet.status = 200
        wait_for(
            lambda: cluster.engine_condition("EmergencyHalt").get("status") == "False",
            timeout=60,
            what="the halt cleared once the services answer again",
        )
    finally:
        operator.stop()
