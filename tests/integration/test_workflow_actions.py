"""The workflow step actions against the real API server: scale, restart, job, patch and the
traffic switch behind failover. There is no kubelet or controller-manager, so the test writes
Job status itself and nothing rolls out; what is checked is what the actions wrote."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, cast

import pytest
from integration_support import GROUP, VERSION
from workflow_support import create_service, finish_job

import builders
from orchestration_engine.actions.base import (
    STEP_LABEL,
    WORKFLOW_LABEL,
    WORKFLOW_UID_LABEL,
    ActionDeps,
    StepContext,
    StepFailed,
)
from orchestration_engine.actions.failover import failback, failover
from orchestration_engine.actions.job import delete_workflow_jobs, job, job_body, stop_job
from orchestration_engine.actions.patch import patch
from orchestration_engine.actions.restart import RESTARTED_AT, restart
from orchestration_engine.actions.scale import scale
from orchestration_engine.api.service import ServiceSpec
from orchestration_engine.api.workflow import (
    JobParams,
    PatchParams,
    RestartParams,
    ScaleParams,
    ServiceParams,
)
from orchestration_engine.controllers.services.workloads import WorkloadCache
from orchestration_engine.kube.traffic_switch import SwitchFailed, switch_traffic

pytestmark = pytest.mark.cluster

T0 = datetime(2026, 11, 24, 12, 0, 5, 123456, tzinfo=UTC)
JOB_SPEC: dict[str, Any] = {
    "backoffLimit": 0,
    "template": {
        "spec": {
            "restartPolicy": "Never",
            "containers": [{"name": "migrate", "image": "busybox", "command": ["true"]}],
        }
    },
}


# --- fixtures and helpers -------------------------------------------------------------------


@pytest.fixture
def api(async_api: Any) -> Any:
    return async_api


def make_deps(
    api: Any,
    services: dict[str, ServiceSpec] | None = None,
    failover_to: Callable[[str, str, Literal["standby", "primary"]], Awaitable[str]] | None = None,
) -> ActionDeps:
    specs = services or {}
    return ActionDeps(
        api=api,
        http=cast(Any, None),
        health=lambda _ns, _name: None,
        service=lambda _ns, name: specs.get(name),
        failover=cast(Any, failover_to),
        poll_seconds=0.05,
    )


def context(namespace: str, step: str = "migrate", **changes: Any) -> StepContext:
    base = StepContext(
        namespace=namespace,
        workflow="nightly",
        workflow_uid=str(uuid.uuid4()),
        step=step,
        attempt=1,
        started_at=T0,
    )
    return replace(base, **changes)


def apps(kube_api: Any) -> Any:
    from kubernetes import client

    return client.AppsV1Api(kube_api)


def core(kube_api: Any) -> Any:
    from kubernetes import client

    return client.CoreV1Api(kube_api)


def batch(kube_api: Any) -> Any:
    from kubernetes import client

    return client.BatchV1Api(kube_api)


def deployment(
    kube_api: Any,
    namespace: str,
    name: str,
    *,
    replicas: int = 1,
    match: dict[str, str] | None = None,
    extra_pod_labels: dict[str, str] | None = None,
) -> None:
    selector = match or {"app": name}
    apps(kube_api).create_namespaced_deployment(
        namespace,
        builders.deployment(
            name,
            replicas,
            selector=selector,
            pod_labels=extra_pod_labels,
            pod_annotations={"team": "payments"},
            image="nginx",
        ),
    )


def stateful_set(kube_api: Any, namespace: str, name: str, replicas: int) -> None:
    apps(kube_api).create_namespaced_stateful_set(
        namespace,
        {
            "metadata": {"name": name},
            "spec": {
                "replicas": replicas,
                "serviceName": name,
                "selector": {"matchLabels": {"app": name}},
                "template": {
                    "metadata": {"labels": {"app": name}},
                    "spec": {"containers": [{"name": "db", "image": "postgres"}]},
                },
            },
        },
    )


def service(kube_api: Any, namespace: str, name: str, selector: dict[str, str]) -> None:
    core(kube_api).create_namespaced_service(
        namespace,
        builders.kube_service(name, selector),
    )


def read_deployment(kube_api: Any, namespace: str, name: str) -> Any:
    return apps(kube_api).read_namespaced_deployment(name, namespace)


def jobs_of(kube_api: Any, namespace: str, uid: str) -> list[Any]:
    found = batch(kube_api).list_namespaced_job(
        namespace, label_selector=f"{WORKFLOW_UID_LABEL}={uid}"
    )
    return list(found.items)


async def eventually(predicate: Callable[[], Any], timeout: float = 10) -> Any:
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        value = predicate()
        if value:
            return value
        await asyncio.sleep(0.05)
    raise TimeoutError("condition not met")


def with_workload(name: str, kind: str = "Deployment") -> ServiceSpec:
    return ServiceSpec.model_validate({"workloadRef": {"kind": kind, "name": name}})


# --- scale ----------------------------------------------------------------------------------


async def test_scale_by_service_and_by_workload_ref(
    api: Any, kube_api: Any, namespace: str
) -> None:
    deployment(kube_api, namespace, "payments", replicas=1)
    stateful_set(kube_api, namespace, "db", replicas=2)
    deps = make_deps(api, {"payments": with_workload("payments")})
    ctx = context(namespace, "drain")

    by_service = ScaleParams.model_validate({"service": "payments", "replicas": 3})
    message = await scale(deps, ctx, by_service)
    assert message == "payments scaled to 3 replicas (Deployment payments)"
    assert read_deployment(kube_api, namespace, "payments").spec.replicas == 3
    # The same attempt again sets the same target: still 3, not 6.
    await scale(deps, ctx, by_service)
    assert read_deployment(kube_api, namespace, "payments").spec.replicas == 3

    by_ref = ScaleParams.model_validate(
        {"workloadRef": {"kind": "StatefulSet", "name": "db"}, "replicas": 0}
    )
    assert await scale(deps, ctx, by_ref) == "StatefulSet db scaled to 0 replicas"
    assert apps(kube_api).read_namespaced_stateful_set("db", namespace).spec.replicas == 0


async def test_scale_names_what_is_missing(api: Any, kube_api: Any, namespace: str) -> None:
    deps = make_deps(api, {"bare": ServiceSpec(), "gone": with_workload("gone")})
    ctx = context(namespace, "drain")

    def by_service(name: str) -> ScaleParams:
        return ScaleParams.model_validate({"service": name, "replicas": 1})

    with pytest.raises(StepFailed, match=rf"^OrchestratedService ghost not found in {namespace}$"):
        await scale(deps, ctx, by_service("ghost"))
    with pytest.raises(StepFailed, match=r"^OrchestratedService bare has no workloadRef$"):
        await scale(deps, ctx, by_service("bare"))
    with pytest.raises(StepFailed, match=rf"^Deployment gone not found in {namespace}$"):
        await scale(deps, ctx, by_service("gone"))


async def test_scale_ends_once_the_operators_cache_has_the_change(
    api: Any, kube_api: Any, namespace: str
) -> None:
    """Health is judged from the operator's cache of the workload. Were the step to end when
    the PATCH answered, a waitHealthy step right after it could read the health before the
    workload's watch event came, still "1 of 1 ready", and pass before any new pod ran."""
    deployment(kube_api, namespace, "payments", replicas=1)
    cache = WorkloadCache()
    # What the operator's watch delivered so far: the Deployment before the scale.
    cache.update("Deployment", kube_api.sanitize_for_serialization(
        read_deployment(kube_api, namespace, "payments")))  # fmt: skip
    deps = replace(
        make_deps(api, {"payments": with_workload("payments")}),
        workload_generation=lambda ns, kind, name: cache.generation((ns, kind, name)),
    )
    params = ScaleParams.model_validate({"service": "payments", "replicas": 3})
    step = asyncio.create_task(scale(deps, context(namespace, "grow"), params))

    async def patched() -> bool:
        return bool(read_deployment(kube_api, namespace, "payments").spec.replicas == 3)

    while not await patched():
        assert not step.done(), step
        await asyncio.sleep(0.02)
    # The API server has the change; the cache does not yet: the step still runs.
    await asyncio.sleep(0.3)
    assert not step.done()
    assert cache.lookup((namespace, "Deployment", "payments")).desired == 1

    # The watch event arrives: the step ends, and what the cache says is the new count.
    cache.update("Deployment", kube_api.sanitize_for_serialization(
        read_deployment(kube_api, namespace, "payments")))  # fmt: skip
    message = await asyncio.wait_for(step, 5)
    assert message == "payments scaled to 3 replicas (Deployment payments)"
    assert cache.lookup((namespace, "Deployment", "payments")).desired == 3

    # A workload the cache does not hold is not waited for: no event would ever bring it.
    cache.remove((namespace, "Deployment", "payments"))
    again = ScaleParams.model_validate({"service": "payments", "replicas": 2})
    await asyncio.wait_for(scale(deps, context(namespace, "shrink"), again), 5)
    assert read_deployment(kube_api, namespace, "payments").spec.replicas == 2


# --- restart --------------------------------------------------------------------------------


async def test_restart_annotation_is_deterministic_per_attempt(
    api: Any, kube_api: Any, namespace: str
) -> None:
    deployment(kube_api, namespace, "payments")
    deps = make_deps(api, {"payments": with_workload("payments")})
    params = RestartParams.model_validate({"service": "payments"})
    ctx = context(namespace, "restart")

    message = await restart(deps, ctx, params)
    assert message == "payments restarted (Deployment payments), restartedAt 2026-11-24T12:00:05Z"
    first = read_deployment(kube_api, namespace, "payments")
    annotations = first.spec.template.metadata.annotations
    assert annotations == {"team": "payments", RESTARTED_AT: "2026-11-24T12:00:05Z"}

    # The same attempt after a crash: same value, so the template (and generation) is unchanged.
    await restart(deps, ctx, params)
    again = read_deployment(kube_api, namespace, "payments")
    assert again.spec.template.metadata.annotations[RESTARTED_AT] == "2026-11-24T12:00:05Z"
    assert again.metadata.generation == first.metadata.generation

    # A retry is a new attempt with its own start: a new rollout.
    retry = replace(ctx, attempt=2, started_at=T0 + timedelta(seconds=30))
    await restart(deps, retry, RestartParams.model_validate({"workloadRef": {"name": "payments"}}))
    third = read_deployment(kube_api, namespace, "payments")
    assert third.spec.template.metadata.annotations[RESTARTED_AT] == "2026-11-24T12:00:35Z"
    assert third.metadata.generation == first.metadata.generation + 1


async def test_restart_of_a_missing_workload(api: Any, namespace: str) -> None:
    params = RestartParams.model_validate({"workloadRef": {"kind": "StatefulSet", "name": "db"}})
    with pytest.raises(StepFailed, match=rf"^StatefulSet db not found in {namespace}$"):
        await restart(make_deps(api), context(namespace), params)


# --- job ------------------------------------------------------------------------------------


async def test_job_is_created_adopted_and_completes(
    api: Any, kube_api: Any, namespace: str
) -> None:
    deps = make_deps(api)
    ctx = context(namespace, "migrate")
    params = JobParams(template=JOB_SPEC)
    first = asyncio.create_task(job(deps, ctx, params))
    [created] = await eventually(lambda: jobs_of(kube_api, namespace, ctx.workflow_uid))

    assert created.metadata.name == "nightly-migrate"
    assert created.metadata.labels == {
        WORKFLOW_LABEL: "nightly",
        WORKFLOW_UID_LABEL: ctx.workflow_uid,
        STEP_LABEL: "migrate",
    }
    [owner] = created.metadata.owner_references
    assert (owner.api_version, owner.kind) == (f"{GROUP}/{VERSION}", "OrchestrationWorkflow")
    assert (owner.name, owner.uid, owner.controller) == ("nightly", ctx.workflow_uid, True)
    assert created.spec.template.spec.containers[0].command == ["true"]

    # The same attempt run again (the operator restarted): it waits for the same Job.
    second = asyncio.create_task(job(deps, ctx, params))
    await asyncio.sleep(0.3)
    assert not first.done()
    assert not second.done()
    assert len(jobs_of(kube_api, namespace, ctx.workflow_uid)) == 1

    finish_job(kube_api, namespace, "nightly-migrate")
    assert await asyncio.wait_for(first, 10) == "job nightly-migrate completed"
    assert await asyncio.wait_for(second, 10) == "job nightly-migrate completed (adopted)"


async def test_job_failure_reports_the_reason(api: Any, kube_api: Any, namespace: str) -> None:
    ctx = context(namespace, "migrate", attempt=2)
    running = asyncio.create_task(job(make_deps(api), ctx, JobParams(template=JOB_SPEC)))
    await eventually(lambda: jobs_of(kube_api, namespace, ctx.workflow_uid))
    finish_job(kube_api, namespace, "nightly-migrate-2", succeed=False)
    with pytest.raises(
        StepFailed,
        match=r"^job nightly-migrate-2 failed: BackoffLimitExceeded: "
        r"Job has reached the specified backoff limit$",
    ):
        await asyncio.wait_for(running, 10)


async def test_job_of_someone_else_is_not_adopted(api: Any, kube_api: Any, namespace: str) -> None:
    batch(kube_api).create_namespaced_job(
        namespace, {"metadata": {"name": "nightly-rb-migrate"}, "spec": JOB_SPEC}
    )
    ctx = context(namespace, "migrate", rollback=True)
    with pytest.raises(StepFailed, match=r"^job nightly-rb-migrate already exists in .* does not"):
        await job(make_deps(api), ctx, JobParams(template=JOB_SPEC))


async def test_job_with_an_invalid_spec_fails_clearly(api: Any, namespace: str) -> None:
    params = JobParams(template={"template": {"spec": {"containers": []}}})
    with pytest.raises(StepFailed, match=r"^job nightly-migrate rejected by the API server"):
        await job(make_deps(api), context(namespace), params)


async def test_delete_workflow_jobs_deletes_only_that_workflows(
    api: Any, kube_api: Any, namespace: str
) -> None:
    ours = context(namespace, "migrate")
    params = JobParams(template=JOB_SPEC)
    for ctx in (ours, replace(ours, attempt=2), replace(ours, rollback=True)):
        batch(kube_api).create_namespaced_job(namespace, job_body(ctx, params))
    other = context(namespace, "migrate", workflow="other")
    batch(kube_api).create_namespaced_job(namespace, job_body(other, params))

    assert await delete_workflow_jobs(api, namespace, ours.workflow_uid) == 3
    assert jobs_of(kube_api, namespace, ours.workflow_uid) == []
    assert len(jobs_of(kube_api, namespace, other.workflow_uid)) == 1
    assert await delete_workflow_jobs(api, namespace, ours.workflow_uid) == 0


def job_of(kube_api: Any, namespace: str, name: str) -> Any:
    from kubernetes.client import ApiException

    try:
        return batch(kube_api).read_namespaced_job(name, namespace)
    except ApiException as error:
        if error.status == 404:
            return None
        raise


async def test_stop_job_deletes_a_running_job_of_this_attempt_only(
    api: Any, kube_api: Any, namespace: str
) -> None:
    deps = make_deps(api)
    params = JobParams(template=JOB_SPEC)
    ctx = context(namespace, "migrate")
    earlier = replace(ctx, attempt=2)  # another attempt's Job: not this one's to stop
    for each in (ctx, earlier):
        batch(kube_api).create_namespaced_job(namespace, job_body(each, params))
    assert await stop_job(deps, ctx, params) == "job nightly-migrate deleted"
    # Background: gone at once, not left behind an orphan or foreground finalizer.
    assert job_of(kube_api, namespace, "nightly-migrate") is None
    assert job_of(kube_api, namespace, "nightly-migrate-2") is not None
    assert await stop_job(deps, ctx, params) == "job nightly-migrate: none to stop"


async def test_a_retry_stops_an_earlier_attempts_job_still_running(
    api: Any, kube_api: Any, namespace: str
) -> None:
    """Its own ending deletes an attempt's Job, unless the API server was unreachable then:
    a retry's Job never runs beside it."""
    params = JobParams(template=JOB_SPEC)
    first = context(namespace, "migrate")
    batch(kube_api).create_namespaced_job(namespace, job_body(first, params))
    failed = replace(first, attempt=2)
    batch(kube_api).create_namespaced_job(namespace, job_body(failed, params))
    finish_job(kube_api, namespace, "nightly-migrate-2", succeed=False)
    rollback = replace(first, rollback=True)  # the rollback's step of the same name
    batch(kube_api).create_namespaced_job(namespace, job_body(rollback, params))

    third = replace(first, attempt=3)
    running = asyncio.create_task(job(make_deps(api), third, params))
    await eventually(lambda: job_of(kube_api, namespace, "nightly-migrate-3"))
    assert job_of(kube_api, namespace, "nightly-migrate") is None
    assert job_of(kube_api, namespace, "nightly-migrate-2") is not None  # finished: kept
    assert job_of(kube_api, namespace, "nightly-rb-migrate") is not None
    finish_job(kube_api, namespace, "nightly-migrate-3")
    assert await asyncio.wait_for(running, 10) == "job nightly-migrate-3 completed"


async def test_stop_job_leaves_a_finished_job_and_someone_elses(
    api: Any, kube_api: Any, namespace: str
) -> None:
    deps = make_deps(api)
    params = JobParams(template=JOB_SPEC)
    failed = context(namespace, "migrate")
    batch(kube_api).create_namespaced_job(namespace, job_body(failed, params))
    finish_job(kube_api, namespace, "nightly-migrate", succeed=False)
    assert await stop_job(deps, failed, params) == "job nightly-migrate: already finished"
    assert job_of(kube_api, namespace, "nightly-migrate") is not None  # kept, for its logs

    batch(kube_api).create_namespaced_job(
        namespace, {"metadata": {"name": "nightly-check"}, "spec": JOB_SPEC}
    )
    assert await stop_job(deps, context(namespace, "check"), params) == (
        "job nightly-check: none to stop"
    )
    assert job_of(kube_api, namespace, "nightly-check") is not None


async def test_a_resumed_attempt_waits_out_its_job_being_deleted_then_makes_a_new_one(
    api: Any, kube_api: Any, namespace: str
) -> None:
    deps = make_deps(api)
    params = JobParams(template=JOB_SPEC)
    ctx = context(namespace, "migrate")
    body = job_body(ctx, params)
    body["metadata"]["finalizers"] = ["test.eoe.dev/hold"]  # its deletion waits on us
    old = batch(kube_api).create_namespaced_job(namespace, body)
    batch(kube_api).delete_namespaced_job(
        "nightly-migrate", namespace, propagation_policy="Background"
    )
    running = asyncio.create_task(job(deps, ctx, params))
    await asyncio.sleep(0.3)  # a chance to adopt the dying Job, which it must not take
    assert not running.done()
    batch(kube_api).patch_namespaced_job(
        "nightly-migrate", namespace, {"metadata": {"finalizers": None}}
    )
    new = await eventually(
        lambda: (
            (j := job_of(kube_api, namespace, "nightly-migrate"))
            and j.metadata.uid != old.metadata.uid
            and j
        )
    )
    assert new.metadata.deletion_timestamp is None
    finish_job(kube_api, namespace, "nightly-migrate")
    assert await asyncio.wait_for(running, 10) == "job nightly-migrate completed"


async def test_a_job_left_by_a_deleted_namesake_workflow_is_replaced(
    api: Any, kube_api: Any, namespace: str
) -> None:
    params = JobParams(template=JOB_SPEC)
    before = context(namespace, "migrate")  # a workflow "nightly" since deleted
    batch(kube_api).create_namespaced_job(namespace, job_body(before, params))
    now = context(namespace, "migrate")  # the new "nightly": another uid
    running = asyncio.create_task(job(make_deps(api), now, params))
    [ours] = await eventually(lambda: jobs_of(kube_api, namespace, now.workflow_uid))
    assert jobs_of(kube_api, namespace, before.workflow_uid) == []
    finish_job(kube_api, namespace, ours.metadata.name)
    assert await asyncio.wait_for(running, 10) == "job nightly-migrate completed"


# --- patch ----------------------------------------------------------------------------------


def patch_params(api_version: str, kind: str, name: str, body: dict[str, Any]) -> PatchParams:
    return PatchParams.model_validate(
        {"target": {"apiVersion": api_version, "kind": kind, "name": name}, "patch": body}
    )


async def test_patch_an_allowed_kind(api: Any, kube_api: Any, namespace: str) -> None:
    core(kube_api).create_namespaced_config_map(
        namespace, {"metadata": {"name": "settings"}, "data": {"mode": "fast", "old": "x"}}
    )
    params = patch_params("v1", "ConfigMap", "settings", {"data": {"mode": "safe", "old": None}})
    assert await patch(make_deps(api), context(namespace), params) == "ConfigMap settings patched"
    # A merge patch: keys set, null removes one, the rest untouched; twice is the same.
    await patch(make_deps(api), context(namespace), params)
    stored = core(kube_api).read_namespaced_config_map("settings", namespace)
    assert stored.data == {"mode": "safe"}


async def test_patch_an_orchestrated_service(
    api: Any, kube_api: Any, crds: None, namespace: str
) -> None:
    from kubernetes import client

    custom = client.CustomObjectsApi(kube_api)
    create_service(custom, namespace, "payments", {"serviceType": "web"})
    params = patch_params(
        f"{GROUP}/{VERSION}", "OrchestratedService", "payments", {"spec": {"priority": "HIGH"}}
    )
    await patch(make_deps(api), context(namespace), params)
    stored = custom.get_namespaced_custom_object(
        GROUP, VERSION, namespace, "orchestratedservices", "payments"
    )
    assert stored["spec"]["priority"] == "HIGH"


async def test_patch_refuses_other_kinds_and_names_missing_objects(
    api: Any, kube_api: Any, namespace: str
) -> None:
    core(kube_api).create_namespaced_secret(
        namespace, {"metadata": {"name": "creds"}, "stringData": {"password": "old"}}
    )
    secret = patch_params("v1", "Secret", "creds", {"stringData": {"password": "new"}})
    with pytest.raises(StepFailed) as refused:
        await patch(make_deps(api), context(namespace), secret)
    assert str(refused.value).startswith("cannot patch v1 Secret: only apps/v1 Deployment, ")
    assert "batch/v1 CronJob" in str(refused.value)
    stored = core(kube_api).read_namespaced_secret("creds", namespace)
    assert stored.data["password"] == "b2xk"  # "old", untouched

    # The right kind in the wrong group is refused too.
    with pytest.raises(StepFailed, match=r"cannot patch extensions/v1beta1 Deployment"):
        await patch(
            make_deps(api),
            context(namespace),
            patch_params("extensions/v1beta1", "Deployment", "x", {"spec": {}}),
        )

    missing = patch_params("apps/v1", "Deployment", "nope", {"spec": {"replicas": 2}})
    with pytest.raises(StepFailed, match=rf"^Deployment nope not found in {namespace}$"):
        await patch(make_deps(api), context(namespace), missing)


async def test_patch_the_server_rejects_fails_clearly(
    api: Any, kube_api: Any, namespace: str
) -> None:
    deployment(kube_api, namespace, "payments")
    params = patch_params("apps/v1", "Deployment", "payments", {"spec": {"replicas": -1}})
    with pytest.raises(StepFailed, match=r"^Deployment payments: patch rejected: 422"):
        await patch(make_deps(api), context(namespace), params)


# --- traffic switch (failover, failback) ----------------------------------------------------


def failover_spec(**failover: Any) -> ServiceSpec:
    return ServiceSpec.model_validate(
        {
            "workloadRef": {"name": "payments"},
            "failover": {
                "standbyRef": {"name": "payments-standby"},
                "serviceRef": {"name": "payments"},
                **failover,
            },
        }
    )


def selector_of(kube_api: Any, namespace: str, name: str) -> dict[str, str]:
    return dict(core(kube_api).read_namespaced_service(name, namespace).spec.selector or {})


async def test_traffic_switches_to_standby_and_back(
    api: Any, kube_api: Any, namespace: str
) -> None:
    deployment(kube_api, namespace, "payments", replicas=3, extra_pod_labels={"version": "v1"})
    deployment(
        kube_api,
        namespace,
        "payments-standby",
        replicas=0,
        match={"app": "payments", "role": "standby"},
        extra_pod_labels={"version": "v1"},
    )
    # The user's selector has a key (tier) that neither workload's labels have.
    service(kube_api, namespace, "payments", {"app": "payments", "tier": "web"})
    spec = failover_spec()

    async def switch(ns: str, name: str, to: Literal["standby", "primary"]) -> str:
        return await switch_traffic(api, ns, name, spec, to, timeout_s=10)

    deps = make_deps(api, {"payments": spec}, failover_to=switch)
    params = ServiceParams(service="payments")

    message = await failover(deps, context(namespace, "failover"), params)
    assert message == (
        "traffic of payments switched to standby "
        "(Service payments → Deployment payments-standby); "
        "Deployment payments-standby scaled from 0 to 3"
    )
    # The standby's selector, whole: no key of the old selector left behind.
    assert selector_of(kube_api, namespace, "payments") == {"app": "payments", "role": "standby"}
    assert read_deployment(kube_api, namespace, "payments-standby").spec.replicas == 3

    # Switching to where traffic already goes is fine and scales nothing further.
    again = await failover(deps, context(namespace, "failover"), params)
    assert again.endswith("(Service payments → Deployment payments-standby)")
    assert read_deployment(kube_api, namespace, "payments-standby").spec.replicas == 3

    back = await failback(deps, context(namespace, "failback"), params)
    assert back == (
        "traffic of payments switched to primary (Service payments → Deployment payments)"
    )
    assert selector_of(kube_api, namespace, "payments") == {"app": "payments"}
    # The standby keeps its replicas: scaling it down is the user's decision.
    assert read_deployment(kube_api, namespace, "payments-standby").spec.replicas == 3


async def test_standby_gets_one_replica_when_the_primary_is_gone(
    api: Any, kube_api: Any, namespace: str
) -> None:
    deployment(kube_api, namespace, "payments-standby", replicas=0)
    service(kube_api, namespace, "payments", {"app": "payments"})
    message = await switch_traffic(
        api, namespace, "payments", failover_spec(), "standby", timeout_s=10
    )
    assert message.endswith("Deployment payments-standby scaled from 0 to 1")
    assert selector_of(kube_api, namespace, "payments") == {"app": "payments-standby"}


async def test_traffic_switch_names_what_is_missing(
    api: Any, kube_api: Any, namespace: str
) -> None:
    async def attempt(spec: ServiceSpec, to: Literal["standby", "primary"] = "standby") -> str:
        return await switch_traffic(api, namespace, "payments", spec, to, timeout_s=10)

    with pytest.raises(SwitchFailed, match=r"^OrchestratedService payments has no failover"):
        await attempt(with_workload("payments"))
    with pytest.raises(
        SwitchFailed, match=rf"^Deployment payments-standby not found in {namespace}$"
    ):
        await attempt(failover_spec())

    deployment(kube_api, namespace, "payments-standby", replicas=1)
    with pytest.raises(SwitchFailed, match=rf"^Service payments not found in {namespace}$"):
        await attempt(failover_spec())

    no_primary = ServiceSpec.model_validate(
        {"failover": failover_spec().failover.model_dump(by_alias=True)}  # type: ignore[union-attr]
    )
    with pytest.raises(SwitchFailed, match=r"has no workloadRef to fail back to"):
        await attempt(no_primary, "primary")
    with pytest.raises(SwitchFailed, match=rf"^Deployment payments not found in {namespace}$"):
        await attempt(failover_spec(), "primary")


async def test_traffic_switch_out_of_time(api: Any, kube_api: Any, namespace: str) -> None:
    deployment(kube_api, namespace, "payments-standby", replicas=1)
    service(kube_api, namespace, "payments", {"app": "payments"})
    with pytest.raises(
        SwitchFailed, match=r"^switching payments to standby did not complete within 0s$"
    ):
        await switch_traffic(api, namespace, "payments", failover_spec(), "standby", timeout_s=0)
    assert selector_of(kube_api, namespace, "payments") == {"app": "payments"}
