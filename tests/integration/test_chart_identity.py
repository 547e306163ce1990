"""The chart's RBAC is exactly what the operator needs: nothing missing, nothing extra.

This module starts a control plane of its own whose API server writes an audit log of every
request made by the chart's ServiceAccount. It applies the chart's ServiceAccount, ClusterRole,
Roles and bindings as rendered, gets a token for the ServiceAccount from the TokenRequest API,
and runs the operator as a process with that token, with the container arguments the chart
renders (leader election and the admission webhook on; the chart's
ValidatingWebhookConfiguration registered, pointed at the process). The scenarios below drive
every code path that calls the API server: the webhook's reviews, discovery, HTTP checks,
automatic failover to a StatefulSet, autoscaling, a workflow with scale, restart, job,
failover and one patch step for each kind the patch step allows, the workflow's clean-up, the
halt notification's token Secret, and the leader's Lease.

Nothing missing: every scenario works, the operator never logs a 403, and the audit log has
no refused request. Nothing extra: every (apiGroup, resource, verb) the chart grants appears
in the audit log as used by the operator. The tests run in file order; the last one reads the
audit log that the others filled.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import yaml
from chart_support import (
    Applier,
    Triple,
    chart_crds,
    granted,
    one,
    rbac_documents,
    render,
    wait_established,
)
from integration_support import (
    GROUP,
    VERSION,
    OperatorProcess,
    condition,
    engine,
    engine_if_any,
    wait_for,
)
from webhook_support import create, make_certificates
from workflow_support import JOB_TEMPLATE, finish_job, gate, wait_phase, workflow

import builders
from builders import deployment
from envtest.controlplane import LocalControlPlane
from envtest.operator_process import free_port
from envtest.workloads import set_ready
from http_support import AlertWebhook, Primary
from orchestration_engine.actions.patch import PATCHABLE_KINDS
from orchestration_engine.api.common import API_VERSION
from orchestration_engine.kube.lease import DEFAULT_LEASE_NAME

pytestmark = pytest.mark.cluster

RELEASE_NAMESPACE = "eoe-system"
SECRET_NAMESPACE = "team-ops"
WORK_NAMESPACE = "shop"
TOKEN_SECRET = "hook-token"
LEASE_S, RENEW_S, RETRY_S = "4", "3", "0.5"

# Granted, but no scenario here can make the operator use it, with the reason. Empty: every
# rule of the chart is exercised.
NOT_EXERCISED: dict[Triple, str] = {}

SCENARIOS = {
    "webhook",
    "discovery",
    "failover",
    "autoscaling",
    "workflow",
    "cleanup",
    "retention",
    "notification",
    "lease",
}
passed: set[str] = set()


@dataclass
class Cluster:
    local: LocalControlPlane
    admin: Any  # kubernetes.client.ApiClient with the cluster-admin token
    applier: Applier
    audit_log: Path
    username: str
    docs: list[dict[str, Any]]


def audit_policy(username: str) -> dict[str, Any]:
    return {
        "apiVersion": "audit.k8s.io/v1",
        "kind": "Policy",
        "omitStages": ["RequestReceived"],
        "rules": [
            {"level": "Metadata", "users": [username]},
            {"level": "None"},
        ],
    }


@pytest.fixture(scope="module")
def cluster(control_plane: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """`control_plane` is only asked for so that the session builds the binaries first."""
    from kubernetes import client, config

    workdir = tmp_path_factory.mktemp("chart-identity")
    docs = render(
        namespace=RELEASE_NAMESPACE,
        set_values=[
            f"notification.tokenSecrets[0].namespace={SECRET_NAMESPACE}",
            f"notification.tokenSecrets[0].name={TOKEN_SECRET}",
            "webhook.enabled=true",
        ],
    )
    account = one(docs, "ServiceAccount")["metadata"]["name"]
    username = f"system:serviceaccount:{RELEASE_NAMESPACE}:{account}"
    policy = workdir / "audit-policy.yaml"
    policy.write_text(yaml.safe_dump(audit_policy(username)))
    audit_log = workdir / "audit.log"
    local = LocalControlPlane(
        extra_apiserver_flags=[f"--audit-policy-file={policy}", f"--audit-log-path={audit_log}"]
    )
    local.start()
    admin = config.new_client_from_config(  # type: ignore[no-untyped-call]
        config_file=str(local.kubeconfig), persist_config=False
    )
    try:
        applier = Applier(admin, workdir / "discovery.json")
        core: Any = client.CoreV1Api(admin)
        for name in (RELEASE_NAMESPACE, SECRET_NAMESPACE, WORK_NAMESPACE):
            core.create_namespace({"metadata": {"name": name}})
        crds = list(chart_crds())
        applier.apply_all(crds)
        wait_established(admin, [crd["metadata"]["name"] for crd in crds])
        applier.apply_all(rbac_documents(docs))
        yield Cluster(local, admin, applier, audit_log, username, docs)
    finally:
        admin.close()
        local.stop()


def service_account_kubeconfig(cluster: Cluster, path: Path) -> Path:
    """A kubeconfig whose only credential is a TokenRequest token of the chart's account."""
    from kubernetes import client

    account = one(cluster.docs, "ServiceAccount")["metadata"]
    core: Any = client.CoreV1Api(cluster.admin)
    request = core.create_namespaced_service_account_token(
        account["name"], account["namespace"], {"spec": {"expirationSeconds": 3600}}
    )
    config = cluster.local.kubeconfig_dict()
    config["users"][0]["user"] = {"token": request.status.token}
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        yaml.safe_dump(config, fh)
    return path


def chart_arguments(docs: list[dict[str, Any]], webhook_port: int, cert_dir: Path) -> list[str]:
    """The operator's arguments as the chart renders them, less the ports (the test process
    picks free ones), with short leader-election timings and the webhook's port and
    certificates here appended (the last of a flag wins)."""
    container = one(docs, "Deployment")["spec"]["template"]["spec"]["containers"][0]
    args: list[str] = container["args"]
    assert args[0] == "run"
    kept = [a for a in args[1:] if not a.startswith(("--metrics-port=", "--health-port="))]
    return [
        *kept,
        f"--lease-duration-seconds={LEASE_S}",
        f"--renew-deadline-seconds={RENEW_S}",
        f"--retry-period-seconds={RETRY_S}",
        f"--webhook-port={webhook_port}",
        f"--webhook-cert-dir={cert_dir}",
    ]


@pytest.fixture(scope="module")
def operator(
    cluster: Cluster, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[OperatorProcess]:
    workdir = tmp_path_factory.mktemp("chart-identity-operator")
    kubeconfig = service_account_kubeconfig(cluster, workdir / "kubeconfig")
    certs = workdir / "certs"
    certs.mkdir()
    ca = make_certificates(certs)
    port = free_port()
    with pytest.MonkeyPatch.context() as env:
        # As the chart's downward-API variable does: the Lease goes in the release namespace.
        env.setenv("POD_NAMESPACE", RELEASE_NAMESPACE)
        process = OperatorProcess(kubeconfig, workdir, *chart_arguments(cluster.docs, port, certs))
    try:
        process.wait_ready()
        # The chart's own webhook configuration, pointed at this process: no Service routes
        # to 127.0.0.1, and cert-manager is not there to inject the CA.
        registration = one(cluster.docs, "ValidatingWebhookConfiguration")
        for hook in registration["webhooks"]:
            hook["clientConfig"] = {
                "url": f"https://127.0.0.1:{port}/validate",
                "caBundle": base64.b64encode(ca).decode(),
            }
        cluster.applier.apply(registration)
        yield process
    finally:
        process.stop()


@pytest.fixture(scope="module")
def api(cluster: Cluster) -> Any:
    """Typed clients with the admin's credentials: the test plays users and controllers."""
    from kubernetes import client

    return SimpleNamespace(
        core=client.CoreV1Api(cluster.admin),
        apps=client.AppsV1Api(cluster.admin),
        batch=client.BatchV1Api(cluster.admin),
        custom=client.CustomObjectsApi(cluster.admin),
        coordination=client.CoordinationV1Api(cluster.admin),
    )


@pytest.fixture(scope="module")
def leading(operator: OperatorProcess, api: Any) -> OperatorProcess:
    """The operator once it holds the Lease and has created the engine."""
    wait_for(lambda: lease_holder(api), timeout=30, what="the operator to hold the Lease")
    # /healthz answers before the operator has created the engine: it may not exist yet.
    wait_for(
        lambda: (engine_if_any(api.custom) or {}).get("status"),
        timeout=30,
        what="the engine's status",
    )
    return operator


def lease_holder(api: Any) -> str:
    from kubernetes import client

    try:
        lease = api.coordination.read_namespaced_lease(DEFAULT_LEASE_NAME, RELEASE_NAMESPACE)
    except client.ApiException as error:
        if error.status == 404:
            return ""
        raise
    return str(lease.spec.holder_identity or "")


def osvc(name: str, spec: dict[str, Any]) -> dict[str, Any]:
    return builders.service(name, spec)


def create_osvc(api: Any, name: str, spec: dict[str, Any]) -> None:
    api.custom.create_namespaced_custom_object(
        GROUP, VERSION, WORK_NAMESPACE, "orchestratedservices", osvc(name, spec)
    )


def read_osvc(api: Any, name: str) -> dict[str, Any] | None:
    from kubernetes import client

    try:
        found: dict[str, Any] = api.custom.get_namespaced_custom_object(
            GROUP, VERSION, WORK_NAMESPACE, "orchestratedservices", name
        )
    except client.ApiException as error:
        if error.status == 404:
            return None
        raise
    return found


def health(api: Any, name: str) -> str | None:
    found = read_osvc(api, name)
    return ((found or {}).get("status") or {}).get("health")


def stateful_set(name: str, replicas: int) -> dict[str, Any]:
    labels = {"app": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "serviceName": name,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{"name": "app", "image": "busybox:1.36"}]},
            },
        },
    }


def events(api: Any, name: str, reason: str) -> list[Any]:
    found = api.core.list_namespaced_event(
        WORK_NAMESPACE, field_selector=f"involvedObject.name={name}"
    ).items
    return [e for e in found if e.reason == reason]


# --- scenarios -------------------------------------------------------------------------------


def test_the_webhook_reviews_with_the_operators_identity(
    leading: OperatorProcess, api: Any
) -> None:
    """A cycle of dependsOn is only seen by listing the namespace's services: refused, the
    webhook could list them with the chart's rules."""
    from kubernetes.client import ApiException

    def create_with_warnings(name: str, depends_on: str, dry_run: bool = False) -> list[str]:
        body = osvc(name, {"dependsOn": [depends_on]})
        return create(api.custom, WORK_NAMESPACE, "orchestratedservices", body, dry_run=dry_run)

    # The configuration takes a moment to load and a create before that is not reviewed:
    # dry runs wait for it, leaving nothing behind that the real create would collide with.
    wait_for(
        lambda: create_with_warnings("ring-a", "ring-b", dry_run=True),
        what="a dry-run review with a warning",
    )
    warnings = create_with_warnings("ring-a", "ring-b")
    assert any("ring-b" in w for w in warnings)
    with pytest.raises(ApiException) as cycle:
        create_with_warnings("ring-b", "ring-a")
    assert cycle.value.status == 422
    assert "dependsOn would close a cycle" in json.loads(str(cycle.value.body))["message"]
    passed.add("webhook")


def test_discovery_creates_updates_and_deletes_a_workloads_service(
    leading: OperatorProcess, api: Any
) -> None:
    body = deployment("catalog", 1)
    body["metadata"]["labels"] = {"orchestration.eoe.dev/managed": "true"}
    api.apps.create_namespaced_deployment(WORK_NAMESPACE, body)
    wait_for(lambda: read_osvc(api, "catalog"), what="the discovered OrchestratedService")
    wait_for(lambda: events(api, "catalog", "ServiceDiscovered"), what="a ServiceDiscovered Event")
    api.apps.patch_namespaced_deployment(
        "catalog",
        WORK_NAMESPACE,
        {"metadata": {"labels": {"orchestration.eoe.dev/service-type": "web"}}},
    )
    wait_for(
        lambda: ((read_osvc(api, "catalog") or {}).get("spec") or {}).get("serviceType") == "web",
        what="the discovered service updated",
    )
    api.apps.patch_namespaced_deployment(
        "catalog",
        WORK_NAMESPACE,
        {"metadata": {"labels": {"orchestration.eoe.dev/managed": None}}},
    )
    wait_for(lambda: read_osvc(api, "catalog") is None, what="the discovered service deleted")
    passed.add("discovery")


def test_a_failed_primary_fails_over_to_a_stateful_standby(
    leading: OperatorProcess, api: Any, cluster: Cluster
) -> None:
    primary = Primary()
    try:
        api.apps.create_namespaced_deployment(WORK_NAMESPACE, deployment("pay", 2))
        set_ready(cluster.admin, WORK_NAMESPACE, "pay", 2, 2)
        api.apps.create_namespaced_stateful_set(WORK_NAMESPACE, stateful_set("pay-standby", 0))
        api.core.create_namespaced_service(
            WORK_NAMESPACE, builders.kube_service("pay", {"app": "pay"})
        )
        create_osvc(
            api,
            "pay",
            {
                "workloadRef": {"kind": "Deployment", "name": "pay"},
                "healthCheck": {
                    "http": {"url": primary.url},
                    "periodSeconds": 1,
                    "timeoutSeconds": 1,
                    "failureThreshold": 2,
                },
                "failover": {
                    "standbyRef": {"kind": "StatefulSet", "name": "pay-standby"},
                    "serviceRef": {"name": "pay"},
                },
            },
        )
        wait_for(lambda: health(api, "pay") == "HEALTHY", what="pay HEALTHY")
        primary.stop()
        wait_for(
            lambda: (
                api.core.read_namespaced_service("pay", WORK_NAMESPACE).spec.selector
                == {"app": "pay-standby"}
            ),
            what="the Service's selector on the standby",
        )
    finally:
        primary.stop()
    standby = api.apps.read_namespaced_stateful_set("pay-standby", WORK_NAMESPACE)
    assert standby.spec.replicas == 2  # the primary's count
    wait_for(lambda: events(api, "pay", "FailedOver"), what="a FailedOver Event")
    passed.add("failover")


def test_replicas_below_the_minimum_are_scaled_up(
    leading: OperatorProcess, api: Any, cluster: Cluster
) -> None:
    api.apps.create_namespaced_deployment(WORK_NAMESPACE, deployment("web", 1))
    set_ready(cluster.admin, WORK_NAMESPACE, "web", 1, 1)
    create_osvc(
        api,
        "web",
        {
            "workloadRef": {"kind": "Deployment", "name": "web"},
            "healthCheck": {"periodSeconds": 1},
            "scaling": {"minReplicas": 2, "maxReplicas": 3, "targetLatencyMs": 100},
        },
    )
    wait_for(
        lambda: api.apps.read_namespaced_deployment("web", WORK_NAMESPACE).spec.replicas == 2,
        what="web raised to minReplicas",
    )
    passed.add("autoscaling")


def patch_targets() -> dict[tuple[str, str], tuple[dict[str, Any], dict[str, Any]]]:
    """For each kind the patch step allows: an object to create, and a merge patch for it.
    A kind added to the allow-list without a line here fails the workflow test, which is
    the moment to decide whether the chart should grant it."""
    app = {"app": "api"}
    pod_template = {
        "metadata": {"labels": app},
        "spec": {"containers": [{"name": "app", "image": "busybox:1.36"}]},
    }
    annotate = {"metadata": {"annotations": {"example.com/patched": "yes"}}}
    return {
        ("apps/v1", "Deployment"): (deployment("api", 1), annotate),
        ("apps/v1", "StatefulSet"): (stateful_set("db", 1), annotate),
        ("apps/v1", "DaemonSet"): (
            {
                "apiVersion": "apps/v1",
                "kind": "DaemonSet",
                "metadata": {"name": "agent"},
                "spec": {"selector": {"matchLabels": app}, "template": pod_template},
            },
            annotate,
        ),
        ("v1", "ConfigMap"): (
            {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "settings"}},
            {"data": {"mode": "maintenance"}},
        ),
        ("v1", "Service"): (builders.kube_service("api", {"app": "api"}), annotate),
        ("batch/v1", "CronJob"): (
            {
                "apiVersion": "batch/v1",
                "kind": "CronJob",
                "metadata": {"name": "nightly"},
                "spec": {"schedule": "0 3 * * *", "jobTemplate": {"spec": JOB_TEMPLATE}},
            },
            {"spec": {"suspend": True}},
        ),
        ("autoscaling/v2", "HorizontalPodAutoscaler"): (
            {
                "apiVersion": "autoscaling/v2",
                "kind": "HorizontalPodAutoscaler",
                "metadata": {"name": "api"},
                "spec": {
                    "scaleTargetRef": {
                        "apiVersion": "apps/v1",
                        "kind": "Deployment",
                        "name": "api",
                    },
                    "minReplicas": 1,
                    "maxReplicas": 3,
                },
            },
            {"spec": {"maxReplicas": 4}},
        ),
        ("policy/v1", "PodDisruptionBudget"): (
            {
                "apiVersion": "policy/v1",
                "kind": "PodDisruptionBudget",
                "metadata": {"name": "api"},
                "spec": {"minAvailable": 1, "selector": {"matchLabels": app}},
            },
            {"spec": {"minAvailable": 0}},
        ),
        (API_VERSION, "OrchestratedService"): (
            {**osvc("api", {"workloadRef": {"kind": "Deployment", "name": "api"}})},
            {"spec": {"displayName": "API (patched)"}},
        ),
    }


WORKFLOW = "maintenance"


def test_a_workflow_runs_every_kind_of_step_that_touches_the_cluster(
    leading: OperatorProcess, api: Any, cluster: Cluster
) -> None:
    targets = patch_targets()
    assert set(targets) == set(PATCHABLE_KINDS), "the allow-list changed: see patch_targets()"
    for body, _ in targets.values():
        cluster.applier.apply(body, namespace=WORK_NAMESPACE)
    # A service to fail over by a step (traffic switch of Deployments this time).
    api.apps.create_namespaced_deployment(WORK_NAMESPACE, deployment("cart", 1))
    set_ready(cluster.admin, WORK_NAMESPACE, "cart", 1, 1)
    api.apps.create_namespaced_deployment(WORK_NAMESPACE, deployment("cart-standby", 0))
    api.core.create_namespaced_service(
        WORK_NAMESPACE, builders.kube_service("cart", {"app": "cart"})
    )
    create_osvc(
        api,
        "cart",
        {
            "workloadRef": {"kind": "Deployment", "name": "cart"},
            "healthCheck": {"periodSeconds": 1},
            "failover": {
                "standbyRef": {"kind": "Deployment", "name": "cart-standby"},
                "serviceRef": {"name": "cart"},
            },
        },
    )
    wait_for(lambda: health(api, "cart") == "HEALTHY", what="cart HEALTHY")
    steps: list[dict[str, Any]] = [
        {
            "name": "scale-db",
            "action": "scale",
            "params": {"workloadRef": {"kind": "StatefulSet", "name": "db"}, "replicas": 2},
        },
        {
            "name": "restart-api",
            "action": "restart",
            "params": {"workloadRef": {"kind": "Deployment", "name": "api"}},
        },
        gate("migrate"),
        {"name": "fail-over-cart", "action": "failover", "params": {"service": "cart"}},
    ]
    for (api_version, kind), (body, patch) in targets.items():
        steps.append(
            {
                "name": f"patch-{kind.lower()}",
                "action": "patch",
                "params": {
                    "target": {
                        "apiVersion": api_version,
                        "kind": kind,
                        "name": body["metadata"]["name"],
                    },
                    "patch": patch,
                },
            }
        )
    api.custom.create_namespaced_custom_object(
        GROUP, VERSION, WORK_NAMESPACE, "orchestrationworkflows", workflow(WORKFLOW, steps)
    )
    job = wait_for(
        lambda: api.batch.list_namespaced_job(WORK_NAMESPACE).items, what="the step's Job"
    )[0]
    finish_job(cluster.admin, WORK_NAMESPACE, job.metadata.name)
    status = wait_phase(api.custom, WORK_NAMESPACE, WORKFLOW, {"Succeeded", "Failed"})
    failed = [s for s in status.get("steps") or [] if s.get("phase") != "Succeeded"]
    assert status["phase"] == "Succeeded", failed
    assert api.apps.read_namespaced_stateful_set("db", WORK_NAMESPACE).spec.replicas == 2
    restarted = api.apps.read_namespaced_deployment("api", WORK_NAMESPACE).spec.template
    assert "kubectl.kubernetes.io/restartedAt" in (restarted.metadata.annotations or {})
    assert api.core.read_namespaced_config_map("settings", WORK_NAMESPACE).data == {
        "mode": "maintenance"
    }
    selector = api.core.read_namespaced_service("cart", WORK_NAMESPACE).spec.selector
    assert selector == {"app": "cart-standby"}
    passed.add("workflow")


def test_deleting_the_workflow_deletes_its_jobs(leading: OperatorProcess, api: Any) -> None:
    assert api.batch.list_namespaced_job(WORK_NAMESPACE).items, "the workflow test's Job"
    api.custom.delete_namespaced_custom_object(
        GROUP, VERSION, WORK_NAMESPACE, "orchestrationworkflows", WORKFLOW
    )
    wait_for(
        lambda: not api.batch.list_namespaced_job(WORK_NAMESPACE).items,
        what="the workflow's Jobs deleted",
    )
    passed.add("cleanup")


def test_a_finished_workflow_past_its_ttl_is_deleted(leading: OperatorProcess, api: Any) -> None:
    from kubernetes.client import ApiException

    name = "short-lived"
    api.custom.create_namespaced_custom_object(
        GROUP,
        VERSION,
        WORK_NAMESPACE,
        "orchestrationworkflows",
        workflow(
            name,
            [{"name": "a", "action": "delay", "params": {"seconds": 0}}],
            ttlSecondsAfterFinished=0,
        ),
    )

    def gone() -> bool:
        try:
            api.custom.get_namespaced_custom_object(
                GROUP, VERSION, WORK_NAMESPACE, "orchestrationworkflows", name
            )
        except ApiException as error:
            if error.status == 404:
                return True
            raise
        return False

    wait_for(gone, what="the finished workflow deleted by the operator (its TTL is 0)")
    passed.add("retention")


def test_the_halt_notification_reads_its_token_from_the_named_secret(
    leading: OperatorProcess, api: Any
) -> None:
    api.core.create_namespaced_secret(
        SECRET_NAMESPACE, {"metadata": {"name": TOKEN_SECRET}, "stringData": {"token": "s3cret"}}
    )
    hook = AlertWebhook()
    patch = {
        "notification": {
            "webhookUrl": hook.url,
            "tokenSecretRef": {"namespace": SECRET_NAMESPACE, "name": TOKEN_SECRET, "key": "token"},
        },
        "halt": True,
        "haltReason": "RBAC drill",
    }
    try:
        api.custom.patch_cluster_custom_object(
            GROUP, VERSION, "orchestrationengines", "default", {"spec": patch}
        )
        wait_for(lambda: hook.received, what="the webhook called")
        assert hook.received[0][0] == "Bearer s3cret"
        # The notifier and the status write run side by side: either may land first.
        wait_for(
            lambda: condition(engine(api.custom), "EmergencyHalt").get("status") == "True",
            what="the halt in the engine's status",
        )
    finally:
        api.custom.patch_cluster_custom_object(
            GROUP, VERSION, "orchestrationengines", "default", {"spec": {"halt": False}}
        )
        hook.close()
    wait_for(
        lambda: condition(engine(api.custom), "EmergencyHalt").get("status") == "False",
        what="the halt cleared",
    )
    passed.add("notification")


def test_the_leader_renews_its_lease(leading: OperatorProcess, api: Any) -> None:
    lease = api.coordination.read_namespaced_lease(DEFAULT_LEASE_NAME, RELEASE_NAMESPACE)
    assert f"_{leading.pid}_" in lease.spec.holder_identity
    renewed = lease.spec.renew_time
    wait_for(
        lambda: (
            api.coordination.read_namespaced_lease(
                DEFAULT_LEASE_NAME, RELEASE_NAMESPACE
            ).spec.renew_time
            != renewed
        ),
        timeout=10,
        what="a renewal",
    )
    passed.add("lease")


# --- the verdict --------------------------------------------------------------------------


def test_the_operator_never_logged_a_refusal(leading: OperatorProcess) -> None:
    text = leading.log_path.read_text(errors="replace")
    # A 403 as a status, not the milliseconds of a timestamp ("09:10:29,403").
    refusal = re.compile(r"[Ff]orbidden|(?<![,.:\d])\b403\b")
    refusals = [line for line in text.splitlines() if refusal.search(line)]
    assert not refusals, "\n".join(refusals[:20])


def audit_events(cluster: Cluster) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    with cluster.audit_log.open() as fh:
        for line in fh:
            with contextlib.suppress(json.JSONDecodeError):
                events.append(json.loads(line))
    return [e for e in events if (e.get("user") or {}).get("username") == cluster.username]


def triple_of(event: dict[str, Any]) -> Triple | None:
    ref = event.get("objectRef")
    if not ref or not ref.get("resource"):
        return None  # a non-resource request (discovery, /version): open to every user
    resource = ref["resource"]
    if ref.get("subresource"):
        resource = f"{resource}/{ref['subresource']}"
    return (ref.get("apiGroup") or "", resource, event["verb"])


def test_every_granted_permission_was_used_and_none_was_missing(
    leading: OperatorProcess, cluster: Cluster
) -> None:
    missing_scenarios = SCENARIOS - passed
    assert not missing_scenarios, (
        f"run the whole module: scenarios {sorted(missing_scenarios)} did not pass, and the "
        "audit log is only complete after all of them"
    )
    leading.stop()  # a clean stop releases the Lease: its last requests are in the log too
    events = audit_events(cluster)
    assert events, f"no audit events for {cluster.username}"
    refused = sorted(
        {
            (triple_of(e), (e.get("objectRef") or {}).get("name"))
            for e in events
            if (e.get("responseStatus") or {}).get("code") == 403
        },
        key=str,
    )
    assert not refused, f"refused requests: {refused}"
    used = {
        triple
        for e in events
        if (triple := triple_of(e)) is not None
        and (e.get("responseStatus") or {}).get("code") != 401
    }
    rules = granted(cluster.docs)
    unused = {t for t in rules - used if t not in NOT_EXERCISED}
    assert not unused, f"granted but never used by the operator: {sorted(unused)}"
    stale = {t for t in NOT_EXERCISED if t not in rules or t in used}
    assert not stale, f"NOT_EXERCISED lists rules that are not granted or were used: {stale}"
    # And the other way round: every request the operator made is one of the rules.
    ungranted = used - rules
    assert not ungranted, f"used but not in the chart's rules: {sorted(ungranted)}"
