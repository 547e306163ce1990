"""Deleting a namespace that holds OrchestratedServices with their workloads and a running
workflow: the real namespace controller deletes everything in it, the operator's finalizers
come off, and the namespace is gone within a bound (integration tests delete the custom
objects first, as nothing there removes a namespace's contents)."""

from __future__ import annotations

import time
from typing import Any

from e2e_operator_support import (
    job_pods,
    job_workflow,
    namespace_gone,
    step_statuses,
    workflow_jobs,
)
from e2e_support import (
    GROUP,
    VERSION,
    create,
    create_custom,
    custom_api,
    service_status,
    wait_for,
    web_deployment,
    web_service,
    workflow,
)

# The namespace controller, the garbage collector and the operator's finalizers on a busy
# two-core machine: a bound on the whole deletion, not a speed.
GONE_WITHIN_S = 180


def test_namespace_with_services_and_a_running_workflow_is_deleted(
    kube_api: Any, namespace: str
) -> None:
    from kubernetes import client

    for app in ("cart", "shop"):
        create(kube_api, namespace, web_deployment(app, app=app, role="primary"))
        create(kube_api, namespace, web_service(app, {"app": app}))
        create_custom(kube_api, namespace, {
            "kind": "OrchestratedService",
            "metadata": {"name": app},
            "spec": {"serviceType": "web", "workloadRef": {"kind": "Deployment", "name": app},
                     "healthCheck": {"http": {"url": f"http://{app}.{namespace}.svc:8080/healthz"},
                                     "periodSeconds": 2}},
        })  # fmt: skip
    create_custom(kube_api, namespace, job_workflow("long", job_seconds=600))
    uid = workflow(kube_api, namespace, "long")["metadata"]["uid"]
    for app in ("cart", "shop"):
        wait_for(
            lambda app=app: service_status(kube_api, namespace, app).get("health") == "HEALTHY",
            180,
            f"{app} HEALTHY",
        )
    wait_for(
        lambda: (
            step_statuses(workflow(kube_api, namespace, "long")).get("work", {}).get("phase")
            == "Running"
            and any(p.status.phase == "Running" for p in job_pods(kube_api, namespace, "long-work"))
        ),
        180,
        "the workflow's Job running",
    )
    custom = custom_api(kube_api)

    def finalizers() -> dict[str, list[str]]:
        # The operator puts no finalizer on its objects (docs/decisions.md: a workflow can
        # always be deleted, the operator stopped or not): none may hold the namespace.
        found = {}
        for plural in ("orchestratedservices", "orchestrationworkflows"):
            items = custom.list_namespaced_custom_object(GROUP, VERSION, namespace, plural)
            for item in items["items"]:
                if item["metadata"].get("finalizers"):
                    found[item["metadata"]["name"]] = item["metadata"]["finalizers"]
        return found

    def halted() -> str | None:
        # Services deleted with their namespace are gone, not failing: their disappearance
        # must not count toward the emergency halt.
        engine = custom.get_cluster_custom_object(GROUP, VERSION, "orchestrationengines", "default")
        for condition in (engine.get("status") or {}).get("conditions") or []:
            if condition.get("type") == "EmergencyHalt" and condition.get("status") == "True":
                return str(condition.get("message"))
        return None

    assert not finalizers()
    assert workflow_jobs(kube_api, namespace, uid)
    assert halted() is None

    began = time.monotonic()
    client.CoreV1Api(kube_api).delete_namespace(namespace)
    seen: dict[str, list[str]] = {}
    halts: list[str] = []

    def gone() -> bool:
        if (halt := halted()) is not None:
            halts.append(halt)
        if namespace_gone(kube_api, namespace):
            return True
        seen.update(finalizers())
        return False

    wait_for(gone, GONE_WITHIN_S, f"{namespace} gone", interval=1)
    print(f"namespace deleted in {time.monotonic() - began:.1f} s")

    assert not halts, f"the namespace's deletion raised the emergency halt: {halts[0]}"
    assert not seen, f"finalizers on the operator's objects while the namespace went: {seen}"
    # Nothing left anywhere under that namespace's name: no custom object kept by a finalizer,
    # no Job or pod.
    for plural in ("orchestratedservices", "orchestrationworkflows"):
        assert not custom.list_namespaced_custom_object(GROUP, VERSION, namespace, plural)["items"]
    assert not client.BatchV1Api(kube_api).list_namespaced_job(namespace).items
    assert not client.CoreV1Api(kube_api).list_namespaced_pod(namespace).items
