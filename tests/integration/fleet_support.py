"""The integration tests' views of a namespace's services: create them, read their health
and conditions, and play the kubelet for their Deployments (Services for health, Fleet for
failover pairs, Scaled for autoscaled workloads)."""

from __future__ import annotations

import socket
from typing import Any

from integration_support import GROUP, VERSION, condition, events_of, wait_for

from builders import deployment, kube_service, service, workload_ref
from envtest.workloads import set_ready

PLURAL = "orchestratedservices"


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def http_check(url: str, **fields: Any) -> dict[str, Any]:
    return {"http": {"url": url}, "periodSeconds": 1, "timeoutSeconds": 1, **fields}


class Services:
    """A namespace's OrchestratedServices: create, read, wait for a health."""

    def __init__(self, custom: Any, namespace: str) -> None:
        self.custom = custom
        self.namespace = namespace

    def create(self, body: dict[str, Any]) -> None:
        self.custom.create_namespaced_custom_object(GROUP, VERSION, self.namespace, PLURAL, body)

    def get(self, name: str) -> dict[str, Any]:
        return self.custom.get_namespaced_custom_object(
            GROUP, VERSION, self.namespace, PLURAL, name
        )  # type: ignore[no-any-return]

    def health(self, name: str) -> str | None:
        return (self.get(name).get("status") or {}).get("health")

    def wait_health(self, name: str, health: str, timeout: float = 20) -> dict[str, Any]:
        wait_for(lambda: self.health(name) == health, timeout=timeout, what=f"{name} {health}")
        return self.get(name)

    def condition(self, name: str, type_: str) -> dict[str, Any]:
        conditions = (self.get(name).get("status") or {}).get("conditions") or []
        return next((c for c in conditions if c["type"] == type_), {})


class Workloads:
    """One namespace's Deployments, Services and OrchestratedServices, through the clients."""

    def __init__(self, kube_api: Any, custom: Any, namespace: str) -> None:
        from kubernetes import client

        self.apps = client.AppsV1Api(kube_api)
        self.core = client.CoreV1Api(kube_api)
        self.kube_api = kube_api
        self.custom = custom
        self.namespace = namespace

    def events(self, name: str, reason: str) -> list[Any]:
        return events_of(self.core, self.namespace, name, reason)


# A failover pair's check: every second, failed after three failures.
PERIOD_S = 1
THRESHOLD = 3


class Fleet(Workloads):
    """Failover pairs: a primary and its standby Deployment, a Service, the OrchestratedService."""

    def workload(self, name: str, replicas: int, ready: int) -> None:
        self.apps.create_namespaced_deployment(self.namespace, deployment(name, replicas))
        set_ready(self.kube_api, self.namespace, name, replicas, ready)

    def k8s_service(self, name: str, app: str) -> None:
        self.core.create_namespaced_service(self.namespace, kube_service(name, {"app": app}))

    def selector(self, name: str) -> dict[str, str]:
        return dict(self.core.read_namespaced_service(name, self.namespace).spec.selector or {})

    def replicas(self, name: str) -> int:
        return int(self.apps.read_namespaced_deployment(name, self.namespace).spec.replicas)

    def osvc(self, name: str, url: str, failover: dict[str, Any]) -> None:
        body = service(
            name,
            workloadRef=workload_ref(name),
            healthCheck={
                "http": {"url": url},
                "periodSeconds": PERIOD_S,
                "timeoutSeconds": 1,
                "failureThreshold": THRESHOLD,
            },
            failover={
                "standbyRef": workload_ref(f"{name}-standby"),
                "serviceRef": {"name": name},
                **failover,
            },
        )
        self.custom.create_namespaced_custom_object(GROUP, VERSION, self.namespace, PLURAL, body)

    def status(self, name: str) -> dict[str, Any]:
        obj = self.custom.get_namespaced_custom_object(GROUP, VERSION, self.namespace, PLURAL, name)
        return dict(obj.get("status") or {})

    def condition(self, name: str, type_: str) -> dict[str, Any]:
        return condition({"status": self.status(name)}, type_)

    def wait_health(self, name: str, health: str, timeout: float = 20) -> None:
        wait_for(
            lambda: self.status(name).get("health") == health,
            timeout=timeout,
            what=f"{name} {health}",
        )

    def pair(self, name: str, url: str, **failover: Any) -> None:
        """A primary with two ready replicas, an idle standby, a Service on the primary."""
        self.workload(name, 2, 2)
        self.workload(f"{name}-standby", 0, 0)
        self.k8s_service(name, name)
        self.osvc(name, url, failover)
        self.wait_health(name, "HEALTHY")


class Scaled(Workloads):
    """Autoscaled services: a ready Deployment each, and the desired counts seen."""

    def __init__(self, kube_api: Any, custom: Any, namespace: str) -> None:
        super().__init__(kube_api, custom, namespace)
        self.seen: dict[str, list[int]] = {}

    def create(self, name: str, replicas: int, spec: dict[str, Any]) -> None:
        self.apps.create_namespaced_deployment(self.namespace, deployment(name, replicas))
        set_ready(self.kube_api, self.namespace, name, replicas, replicas)
        body = service(name, {"workloadRef": workload_ref(name), **spec})
        self.custom.create_namespaced_custom_object(GROUP, VERSION, self.namespace, PLURAL, body)

    def replicas(self, name: str) -> int:
        """The desired count, after playing the kubelet (all of them ready); every value
        seen is kept, so a test can show it never left the bounds."""
        desired = int(self.apps.read_namespaced_deployment(name, self.namespace).spec.replicas)
        set_ready(self.kube_api, self.namespace, name, desired, desired)
        self.seen.setdefault(name, []).append(desired)
        return desired

    def condition(self, name: str, type_: str) -> dict[str, Any]:
        obj = self.custom.get_namespaced_custom_object(GROUP, VERSION, self.namespace, PLURAL, name)
        return condition(obj, type_)
