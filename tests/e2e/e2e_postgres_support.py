"""A real PostgreSQL (Debian's, as the store tests use) for the operator's pods: a process on
the node inside the cluster's network namespace, listening on the node's address, and a
selector-less Service whose EndpointSlice names that address, as a database outside the
cluster is reached."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from integration.store.store_servers import PostgresServer, running_postgres
from localcluster import netns
from localcluster.node import POD_CIDR

SERVICE_PORT = 5432


class NodePostgres(PostgresServer):
    """Listening on every address of the namespace, trusting the pods' range (and the node's
    own network, should kube-proxy masquerade a connection)."""

    def init(self) -> None:
        super().init()
        hba = self.datadir / "pg_hba.conf"
        pod_range = POD_CIDR.rsplit(".", 2)[0] + ".0.0/16"
        lines = [f"host all all {pod_range} trust", f"host all all {netns.NODE_IP}/16 trust"]
        hba.write_text(hba.read_text() + "\n" + "\n".join(lines) + "\n")

    def start(self) -> None:
        options = f"-c listen_addresses=* -p {self.port} -k {self.socketdir}"
        self._run(
            "pg_ctl", "start", "--wait", "--timeout", "30", "--pgdata", str(self.datadir),
            "--log", str(self.logfile), "--options", options,
        )  # fmt: skip
        self.wait_ready()


@contextlib.contextmanager
def node_postgres() -> Iterator[NodePostgres]:
    with running_postgres(NodePostgres) as server:
        assert isinstance(server, NodePostgres)
        yield server


def expose(kube: Any, namespace: str, name: str, port: int) -> str:
    """A Service ``name`` in ``namespace`` sending port 5432 to the node's ``port``; its DNS
    name."""
    from kubernetes import client

    ports = [{"name": "postgres", "port": SERVICE_PORT, "protocol": "TCP"}]
    client.CoreV1Api(kube).create_namespaced_service(namespace, {
        "apiVersion": "v1", "kind": "Service", "metadata": {"name": name},
        "spec": {"ports": [{**ports[0], "targetPort": port}]},
    })  # fmt: skip
    client.DiscoveryV1Api(kube).create_namespaced_endpoint_slice(namespace, {
        "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
        "metadata": {"name": f"{name}-node", "labels": {"kubernetes.io/service-name": name}},
        "addressType": "IPv4",
        "endpoints": [{"addresses": [netns.NODE_IP], "conditions": {"ready": True}}],
        "ports": [{"name": "postgres", "port": port, "protocol": "TCP"}],
    })  # fmt: skip
    return f"{name}.{namespace}.svc.cluster.local"
