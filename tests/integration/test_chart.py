"""The Helm chart: it lints, renders what the values ask for, and what it renders is accepted
by a real API server — applied server-side with strict field validation, and the operator's
pod admitted under the "restricted" Pod Security Standard.

Rendering needs helm (`make helm`) but no cluster; the tests that apply manifests use the
session's control plane. Kinds from projects the test API server does not have (the
Prometheus Operator's ServiceMonitor and PrometheusRule, cert-manager's Issuer and
Certificate) are applied against stand-in CRDs (chart-standin-crds.yaml) that carry the
upstream fields the chart uses, so strict validation still catches a misplaced field. The
ValidatingWebhookConfiguration alone is applied with dry-run: stored, it would send every
custom object written by the rest of the session to a webhook that nobody serves here.
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from chart_support import (
    ALL_OPTIONS_VALUES,
    CHART_DIR,
    Applier,
    chart_crds,
    granted,
    helm,
    of_kind,
    one,
    render,
    wait_established,
)
from integration_support import wait_for

from orchestration_engine.actions.patch import PATCHABLE_KINDS
from orchestration_engine.api.common import GROUP

STANDIN_CRDS = Path(__file__).resolve().with_name("chart-standin-crds.yaml")
RESTRICTED = "pod-security.kubernetes.io/enforce"


def container(deployment: dict[str, Any]) -> dict[str, Any]:
    containers = deployment["spec"]["template"]["spec"]["containers"]
    assert [c["name"] for c in containers] == ["operator"]
    return dict(containers[0])


def env_of(deployment: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {e["name"]: e for e in container(deployment).get("env") or []}


def group_of(api_version: str) -> str:
    return api_version.rpartition("/")[0]


# --- lint ---------------------------------------------------------------------------------


@pytest.mark.parametrize("values", [[], [ALL_OPTIONS_VALUES]], ids=["default", "all-options"])
def test_the_chart_lints_strictly(values: list[Path]) -> None:
    args = [arg for path in values for arg in ("--values", str(path))]
    helm("lint", str(CHART_DIR), *args)
    result = helm("lint", "--strict", str(CHART_DIR), *args)
    assert "0 chart(s) failed" in result.stdout


@pytest.mark.parametrize(
    ("assignments", "named"),
    [
        (["replicas=3"], "replicas"),
        (["image.tga=v1"], "tga"),
        (["leaderElection.enabled=false"], "enabled"),
        (["replicaCount=1", "leaderElection.enabled=false"], "enabled"),
        (["persistence.size=lots"], "size"),
        (["database.maxSize=most"], "maxSize"),
        (["spreadAcrossNodes=sometimes"], "spreadAcrossNodes"),
        (["webhook.failurePolicy=Maybe"], "failurePolicy"),
        (["notification.tokenSecrets[0].namespace=Not_A_Namespace"], "namespace"),
    ],
)
def test_the_schema_rejects_bad_values(assignments: list[str], named: str) -> None:
    args = [arg for assignment in assignments for arg in ("--set", assignment)]
    result = helm("template", "eoe", str(CHART_DIR), *args, check=False)
    assert result.returncode != 0
    assert "values don't meet the specifications of the schema" in result.stderr
    assert named in result.stderr


def test_leader_election_timings_must_be_ordered() -> None:
    result = helm(
        "template", "eoe", str(CHART_DIR),
        "--set", "leaderElection.renewDeadlineSeconds=20",
        check=False,
    )  # fmt: skip
    assert result.returncode != 0
    assert "retryPeriodSeconds < renewDeadlineSeconds < leaseDurationSeconds" in result.stderr


# --- what the default values render ------------------------------------------------------


def test_default_values_render_one_hardened_leader_elected_pod_on_a_persistent_store() -> None:
    docs = render()
    assert sorted({d["kind"] for d in docs}) == [
        "ClusterRole",
        "ClusterRoleBinding",
        "Deployment",
        "PersistentVolumeClaim",
        "Role",
        "RoleBinding",
        "Service",
        "ServiceAccount",
    ]
    deployment = one(docs, "Deployment")
    spec = deployment["spec"]
    assert spec["replicas"] == 1
    # A ReadWriteOnce volume: the old pod goes (and releases the Lease) before the new one.
    assert spec["strategy"] == {"type": "Recreate"}
    pod = spec["template"]["spec"]
    operator = container(deployment)
    assert operator["args"][:2] == ["run", "--all-namespaces"]
    assert "--leader-elect" in operator["args"]
    assert env_of(deployment)["POD_NAMESPACE"]["valueFrom"] == {
        "fieldRef": {"fieldPath": "metadata.namespace"}
    }
    assert env_of(deployment)["ORCHESTRATION_DATABASE_URL"]["value"] == (
        "sqlite:////var/lib/orchestration-engine/orchestration.db"
    )
    mounts = {m["name"]: m["mountPath"] for m in operator["volumeMounts"]}
    assert mounts == {"tmp": "/tmp", "store": "/var/lib/orchestration-engine"}
    claim = one(docs, "PersistentVolumeClaim")
    assert {v["name"]: v for v in pod["volumes"]}["store"] == {
        "name": "store",
        "persistentVolumeClaim": {"claimName": claim["metadata"]["name"]},
    }
    assert claim["spec"]["accessModes"] == ["ReadWriteOnce"]
    assert claim["spec"]["resources"]["requests"]["storage"] == "2Gi"
    assert "storageClassName" not in claim["spec"]  # the cluster's default class
    # The budget follows the volume; the spill file goes beside the SQLite file on it.
    assert "--store-max-size=80%" in operator["args"]
    assert not [a for a in operator["args"] if a.startswith("--store-spill-path")]
    security = operator["securityContext"]
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"] == {"drop": ["ALL"]}
    assert security["seccompProfile"] == {"type": "RuntimeDefault"}
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == 65532
    assert pod["automountServiceAccountToken"] is True
    assert one(docs, "ServiceAccount")["automountServiceAccountToken"] is False
    ports = {p["name"]: p["containerPort"] for p in operator["ports"]}
    assert ports == {"metrics": 8080, "health": 8081}
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        assert operator[probe]["httpGet"] == {"path": "/healthz", "port": "health"}
    assert operator["resources"]["requests"]
    assert operator["resources"]["limits"]
    anti = pod["affinity"]["podAntiAffinity"]
    assert anti["preferredDuringSchedulingIgnoredDuringExecution"]
    assert not of_kind(docs, "PodDisruptionBudget")  # one replica: it would block drains
    service = one(docs, "Service")
    assert service["spec"]["ports"] == [
        {"name": "metrics", "port": 8080, "targetPort": "metrics", "protocol": "TCP"}
    ]
    # The Lease's Role is in the release namespace and names the one Lease it may renew.
    role = one(docs, "Role")
    assert role["metadata"]["namespace"] == "eoe-system"
    assert {"leases"} == {r for rule in role["rules"] for r in rule["resources"]}


CONFIGURATIONS = {
    "default": [],
    "sqlite-emptydir": ["persistence.enabled=false"],
    "sqlite-emptydir-pair": ["persistence.enabled=false", "replicaCount=2"],
    "sqlite-existing-claim": ["persistence.existingClaim=mine"],
    "postgresql-one": ["database.existingSecret.name=db"],
    "postgresql-pair": ["database.existingSecret.name=db", "replicaCount=2"],
    "zero-replicas": ["replicaCount=0"],
    "leader-election-true": ["leaderElection.enabled=true"],
}


@pytest.mark.parametrize(
    "values", [*CONFIGURATIONS.values(), "all-options"], ids=[*CONFIGURATIONS, "all-options"]
)
def test_leader_election_is_on_in_every_configuration(values: list[str] | str) -> None:
    docs = render(ALL_OPTIONS_VALUES) if values == "all-options" else render(set_values=values)
    deployment = one(docs, "Deployment")
    assert "--leader-elect" in container(deployment)["args"]
    assert [
        r["metadata"]["name"] for r in of_kind(docs, "Role") if "leader" in r["metadata"]["name"]
    ]
    strategy = deployment["spec"]["strategy"]
    if of_kind(docs, "PersistentVolumeClaim") or "persistence.existingClaim=mine" in values:
        assert strategy == {"type": "Recreate"}
    else:
        # Rolling, one pod more at most: the new pod stands by until the old one has released
        # the Lease, and none is taken away before its replacement is ready.
        assert strategy["rollingUpdate"] == {"maxSurge": 1, "maxUnavailable": 0}


def test_election_cannot_be_turned_off_and_says_why() -> None:
    # Past the schema (a values file cannot reach the template with false), the template says
    # why; kept for schemas relaxed by a fork.
    template = (CHART_DIR / "templates" / "deployment.yaml").read_text()
    assert "leaderElection.enabled=false is not possible" in template
    result = helm(
        "template", "eoe", str(CHART_DIR), "--set", "leaderElection.enabled=false", check=False
    )
    assert result.returncode != 0
    assert "leaderElection/enabled" in result.stderr


def test_sqlite_on_a_claim_refuses_a_second_replica_saying_to_use_postgresql() -> None:
    result = helm("template", "eoe", str(CHART_DIR), "--set", "replicaCount=2", check=False)
    assert result.returncode != 0
    assert "replicaCount > 1 needs PostgreSQL (database.existingSecret)" in result.stderr


def test_an_existing_claim_or_a_storage_class_is_used_as_given() -> None:
    docs = render(set_values=["persistence.existingClaim=mine"])
    assert not of_kind(docs, "PersistentVolumeClaim")
    volumes = {v["name"]: v for v in one(docs, "Deployment")["spec"]["template"]["spec"]["volumes"]}
    assert volumes["store"]["persistentVolumeClaim"] == {"claimName": "mine"}
    for given, expected in (("-", ""), ("fast-ssd", "fast-ssd")):
        claim = one(
            render(set_values=[f"persistence.storageClass={given}"]), "PersistentVolumeClaim"
        )
        assert claim["spec"]["storageClassName"] == expected
    claim = one(render(set_values=["persistence.size=20Gi"]), "PersistentVolumeClaim")
    assert claim["spec"]["resources"]["requests"]["storage"] == "20Gi"


def test_without_persistence_the_budget_is_80_percent_of_the_emptydir_limit() -> None:
    docs = render(set_values=["persistence.enabled=false", "database.sqlite.sizeLimit=512Mi"])
    assert not of_kind(docs, "PersistentVolumeClaim")
    deployment = one(docs, "Deployment")
    volumes = {v["name"]: v for v in deployment["spec"]["template"]["spec"]["volumes"]}
    assert volumes["store"]["emptyDir"] == {"sizeLimit": "512Mi"}
    assert f"--store-max-size={512 * 2**20 * 4 // 5}" in container(deployment)["args"]


def test_postgresql_keeps_the_spill_file_on_the_pod_volume_and_has_no_budget_unless_given() -> None:
    docs = render(set_values=["database.existingSecret.name=db", "replicaCount=2"])
    assert not of_kind(docs, "PersistentVolumeClaim")
    assert one(docs, "PodDisruptionBudget")["spec"]["minAvailable"] == 1
    deployment = one(docs, "Deployment")
    args = container(deployment)["args"]
    assert "--store-spill-path=/var/lib/orchestration-engine/store.spill.jsonl" in args
    assert not [a for a in args if a.startswith("--store-max-size")]
    mounts = {m["name"]: m["mountPath"] for m in container(deployment)["volumeMounts"]}
    assert mounts["store"] == "/var/lib/orchestration-engine"
    volumes = {v["name"]: v for v in deployment["spec"]["template"]["spec"]["volumes"]}
    assert volumes["store"]["emptyDir"] == {"sizeLimit": "1Gi"}
    budgeted = render(set_values=["database.existingSecret.name=db", "database.maxSize=20Gi"])
    assert "--store-max-size=20Gi" in container(one(budgeted, "Deployment"))["args"]


def test_rbac_has_no_wildcards_and_covers_the_patch_steps_allow_list() -> None:
    docs = render()
    for doc in of_kind(docs, "ClusterRole") + of_kind(docs, "Role"):
        for rule in doc["rules"]:
            for key in ("apiGroups", "resources", "verbs", "resourceNames"):
                assert "*" not in (rule.get(key) or []), f"{doc['metadata']['name']}: {rule}"
            assert not rule.get("nonResourceURLs")
    rules = granted(docs)
    for api_version, kind in PATCHABLE_KINDS:
        plural = PATCHABLE_KINDS[(api_version, kind)].plural
        assert (group_of(api_version), plural, "patch") in rules, kind
    # Not one Secret unless named.
    assert not [t for t in rules if t[1] == "secrets"]
    assert (GROUP, "orchestrationworkflows", "patch") not in rules  # the operator owns status


def test_token_secrets_become_one_role_per_namespace_naming_exactly_them() -> None:
    docs = render(ALL_OPTIONS_VALUES)
    secret_roles = {
        doc["metadata"]["namespace"]: doc["rules"]
        for doc in of_kind(docs, "Role")
        if any("secrets" in rule["resources"] for rule in doc["rules"])
    }
    assert secret_roles == {
        "eoe-system": [
            {
                "apiGroups": [""],
                "resources": ["secrets"],
                "resourceNames": ["eoe-webhook"],
                "verbs": ["get"],
            }
        ],
        "ops": [
            {
                "apiGroups": [""],
                "resources": ["secrets"],
                "resourceNames": ["another-token", "pager-token"],
                "verbs": ["get"],
            }
        ],
    }
    bindings = [b for b in of_kind(docs, "RoleBinding") if b["metadata"]["name"].endswith("token")]
    assert {b["metadata"]["namespace"] for b in bindings} == {"eoe-system", "ops"}
    for binding in bindings:
        assert binding["subjects"] == [
            {
                "kind": "ServiceAccount",
                "name": "eoe-orchestration-engine",
                "namespace": "eoe-system",
            }
        ]


def test_all_options_render_every_optional_part() -> None:
    docs = render(ALL_OPTIONS_VALUES)
    deployment = one(docs, "Deployment")
    operator = container(deployment)
    assert deployment["spec"]["replicas"] == 3
    assert operator["image"].endswith("@sha256:" + "0123456789abcdef" * 4)
    assert env_of(deployment)["ORCHESTRATION_DATABASE_URL"]["valueFrom"] == {
        "secretKeyRef": {"name": "eoe-database", "key": "url"}
    }
    mounts = {m["name"]: m["mountPath"] for m in operator["volumeMounts"]}
    # The store is PostgreSQL: no claim, the pod's volume holds the spill file.
    assert mounts["store"] == "/var/lib/orchestration-engine"
    assert not of_kind(docs, "PersistentVolumeClaim")
    assert "--store-max-size=20Gi" in operator["args"]
    cert_dir = mounts["webhook-cert"]
    assert f"--webhook-cert-dir={cert_dir}" in operator["args"]
    assert "--webhook-port=9443" in operator["args"]
    assert {"--no-emergency-halt", "--max-workflows=20", "--halt-settle-seconds=120"} <= set(
        operator["args"]
    )
    assert {p["name"]: p["containerPort"] for p in operator["ports"]}["webhook"] == 9443
    pod = deployment["spec"]["template"]["spec"]
    assert pod["affinity"]["podAntiAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]

    monitor = one(docs, "ServiceMonitor")
    assert monitor["spec"]["endpoints"][0]["port"] == "metrics"
    assert monitor["spec"]["endpoints"][0]["honorLabels"] is True  # the alerts rely on it
    metrics_service = next(
        d for d in of_kind(docs, "Service") if d["spec"]["ports"][0]["name"] == "metrics"
    )
    selector = monitor["spec"]["selector"]["matchLabels"]
    assert selector.items() <= metrics_service["metadata"]["labels"].items()

    rules_file = yaml.safe_load((CHART_DIR / "rules" / "alerts.yaml").read_text())
    assert one(docs, "PrometheusRule")["spec"]["groups"] == rules_file["groups"]

    dashboards = one(docs, "ConfigMap")
    assert dashboards["metadata"]["labels"]["grafana_dashboard"] == "1"
    on_disk = {p.name: p.read_text() for p in (CHART_DIR / "dashboards").glob("*.json")}
    assert dashboards["data"].keys() == on_disk.keys()
    for name, text in on_disk.items():
        assert dashboards["data"][name] == text.rstrip("\n")

    policy = one(docs, "NetworkPolicy")
    ingress_ports = [p["port"] for rule in policy["spec"]["ingress"] for p in rule["ports"]]
    assert ingress_ports == ["metrics", "health", "webhook"]
    egress_ports = {p["port"] for rule in policy["spec"]["egress"] for p in rule.get("ports", [])}
    assert {53, 443, 5432, 80, 8080, 9090} <= egress_ports

    webhook = one(docs, "ValidatingWebhookConfiguration")
    certificate = one(docs, "Certificate")
    assert webhook["metadata"]["annotations"]["cert-manager.io/inject-ca-from"] == (
        f"eoe-system/{certificate['metadata']['name']}"
    )
    hook = webhook["webhooks"][0]
    assert hook["clientConfig"]["service"]["path"] == "/validate"
    assert hook["clientConfig"]["service"]["port"] == 9443
    assert hook["rules"][0]["resources"] == [
        "orchestratedservices",
        "orchestrationworkflows",
        "orchestrationengines",
    ]
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes["webhook-cert"]["secret"]["secretName"] == certificate["spec"]["secretName"]
    assert one(docs, "Issuer")["spec"] == {"selfSigned": {}}


def test_an_existing_issuer_replaces_the_self_signed_one() -> None:
    docs = render(
        set_values=[
            "webhook.enabled=true",
            "webhook.certManager.issuerRef.name=company-ca",
            "webhook.certManager.issuerRef.kind=ClusterIssuer",
        ]
    )
    assert not of_kind(docs, "Issuer")
    assert one(docs, "Certificate")["spec"]["issuerRef"] == {
        "name": "company-ca",
        "kind": "ClusterIssuer",
        "group": "cert-manager.io",
    }


@pytest.mark.parametrize("values", [[], [ALL_OPTIONS_VALUES]], ids=["default", "all-options"])
def test_container_args_are_flags_of_orchestration_engine_run(values: list[Path]) -> None:
    import typer

    from orchestration_engine.cli.main import app

    command: Any = typer.main.get_command(app)
    run = command.commands["run"]
    known = {opt for param in run.params for opt in (*param.opts, *param.secondary_opts)}
    args = container(one(render(*values), "Deployment"))["args"]
    assert args[0] == "run"
    unknown = [a for a in args[1:] if a.split("=", 1)[0] not in known]
    assert not unknown, f"not options of `orchestration-engine run`: {unknown}"


def test_chart_crds_are_installed_by_helm_and_equal_the_repository_crds() -> None:
    rendered = [d for d in render(include_crds=True) if d["kind"] == "CustomResourceDefinition"]
    assert sorted(d["metadata"]["name"] for d in rendered) == sorted(
        d["metadata"]["name"] for d in chart_crds()
    )


# --- against the API server ----------------------------------------------------------------


@pytest.fixture
def applier(kube_api: Any, crds: None, tmp_path: Path) -> Applier:
    return Applier(kube_api, tmp_path / "discovery.json")


@pytest.fixture
def standin_crds(applier: Applier, kube_api: Any) -> None:
    docs = [d for d in yaml.safe_load_all(STANDIN_CRDS.read_text()) if d]
    applier.apply_all(docs)
    wait_established(kube_api, [d["metadata"]["name"] for d in docs])


def ensure_namespace(kube_api: Any, name: str) -> None:
    from kubernetes import client

    with contextlib.suppress(client.ApiException):  # 409: it exists
        core: Any = client.CoreV1Api(kube_api)
        core.create_namespace({"metadata": {"name": name}})


def test_default_manifests_apply_server_side(
    applier: Applier, kube_api: Any, namespace: str
) -> None:
    docs = render(namespace=namespace, release=f"r{namespace[-6:]}", include_crds=True)
    applied = applier.apply_all(docs)
    assert [a["kind"] for a in applied] == [d["kind"] for d in docs]
    stored = next(a for a in applied if a["kind"] == "Deployment")
    assert stored["metadata"]["namespace"] == namespace
    assert container(stored)["securityContext"]["readOnlyRootFilesystem"] is True


def test_all_options_manifests_apply_server_side(
    applier: Applier, kube_api: Any, namespace: str, standin_crds: None
) -> None:
    ensure_namespace(kube_api, "ops")
    docs = render(ALL_OPTIONS_VALUES, namespace=namespace, release=f"r{namespace[-6:]}")
    webhooks = of_kind(docs, "ValidatingWebhookConfiguration")
    stored = applier.apply_all([d for d in docs if d not in webhooks])
    assert {s["kind"] for s in stored} >= {
        "ServiceMonitor",
        "PrometheusRule",
        "Issuer",
        "Certificate",
        "NetworkPolicy",
        "ConfigMap",
    }
    assert len(webhooks) == 1
    checked = applier.apply(webhooks[0], dry_run=True)
    assert checked["webhooks"][0]["clientConfig"]["service"]["namespace"] == namespace


def test_an_unknown_field_is_rejected_by_the_strict_apply(
    applier: Applier, namespace: str, standin_crds: None
) -> None:
    """The control for the two tests above: strict validation does reject a stray field."""
    from kubernetes.client import ApiException

    monitor = one(render(ALL_OPTIONS_VALUES, namespace=namespace), "ServiceMonitor")
    monitor["spec"]["endpoints"][0]["intervall"] = "15s"
    with pytest.raises(ApiException) as rejected:
        applier.apply(monitor, dry_run=True)
    # Server-side apply refuses to build a typed patch with an undeclared field (a 500 whose
    # message names it); strict validation would answer 400 for a plain create.
    message = json.loads(str(rejected.value.body))["message"]
    assert ".spec.endpoints[0].intervall: field not declared in schema" in message


def test_helm_installs_upgrades_and_uninstalls_the_chart(
    control_plane: Any, kube_api: Any, crds: None, namespace: str
) -> None:
    """helm's own path, as a user runs it: its CRD handling, its release record, NOTES."""
    release = f"r{namespace[-6:]}"
    common = ["--kubeconfig", str(control_plane.kubeconfig), "--namespace", namespace]
    installed = helm("install", release, str(CHART_DIR), *common)
    assert "kubectl get oeng default" in installed.stdout  # NOTES.txt rendered
    assert "The operator can read no Secret" in installed.stdout
    upgraded = helm(
        "upgrade", release, str(CHART_DIR), *common,
        "--set", "notification.tokenSecrets[0].name=hook-token",
    )  # fmt: skip
    assert f"{namespace}/hook-token" in upgraded.stdout
    listed = helm("list", *common, "--output", "json")
    assert [r["revision"] for r in json.loads(listed.stdout)] == ["2"]
    assert "PersistentVolumeClaim" in installed.stdout  # the store's claim, named in NOTES
    helm("uninstall", release, *common)
    # The claim carries kubernetes.io/pvc-protection, which kube-controller-manager removes
    # once no pod uses it; the test control plane has no controller manager, so the test
    # stands in for it. Then the claim is gone with the release, as everything else is.
    from kubernetes import client

    core: Any = client.CoreV1Api(kube_api)
    claims = core.list_namespaced_persistent_volume_claim(namespace).items
    assert [c.metadata.name for c in claims] == [f"{release}-orchestration-engine-store"]
    for claim in claims:
        core.patch_namespaced_persistent_volume_claim(
            claim.metadata.name, namespace, {"metadata": {"finalizers": None}}
        )
    wait_for(
        lambda: not core.list_namespaced_persistent_volume_claim(namespace).items,
        what="the store's claim deleted with the release",
    )


def test_an_upgrade_from_the_emptydir_pair_to_the_claim_switches_the_strategy(
    control_plane: Any, kube_api: Any, crds: None, namespace: str
) -> None:
    """The chart's earlier default (two replicas, SQLite on emptyDirs, a rolling update)
    upgraded to this one: the API server takes the switch to Recreate (helm must drop
    rollingUpdate, which Recreate forbids), and back."""
    from kubernetes import client

    release = f"r{namespace[-6:]}"
    common = ["--kubeconfig", str(control_plane.kubeconfig), "--namespace", namespace]
    apps: Any = client.AppsV1Api(kube_api)
    name = f"{release}-orchestration-engine"
    old = ["--set", "persistence.enabled=false", "--set", "replicaCount=2"]
    helm("install", release, str(CHART_DIR), *common, *old)
    assert apps.read_namespaced_deployment(name, namespace).spec.strategy.type == "RollingUpdate"
    # Without values, helm would reuse the release's: reset them to the chart's defaults.
    helm("upgrade", release, str(CHART_DIR), *common, "--reset-values")
    stored = apps.read_namespaced_deployment(name, namespace).spec
    assert (stored.strategy.type, stored.strategy.rolling_update, stored.replicas) == (
        "Recreate",
        None,
        1,
    )
    helm("upgrade", release, str(CHART_DIR), *common, *old)
    assert apps.read_namespaced_deployment(name, namespace).spec.strategy.type == "RollingUpdate"
    helm("uninstall", release, *common)
    core: Any = client.CoreV1Api(kube_api)
    for claim in core.list_namespaced_persistent_volume_claim(namespace).items:
        # kube-controller-manager's pvc-protection controller is not in the test control plane.
        core.patch_namespaced_persistent_volume_claim(
            claim.metadata.name, namespace, {"metadata": {"finalizers": None}}
        )


def pod_from(deployment: dict[str, Any], name: str) -> dict[str, Any]:
    template = deployment["spec"]["template"]
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": template["metadata"]["labels"]},
        "spec": template["spec"],
    }


@pytest.fixture
def restricted_namespace(kube_api: Any, namespace: str) -> str:
    from kubernetes import client

    core: Any = client.CoreV1Api(kube_api)
    core.patch_namespace(namespace, {"metadata": {"labels": {RESTRICTED: "restricted"}}})
    return namespace


@pytest.mark.parametrize("values", [[], [ALL_OPTIONS_VALUES]], ids=["default", "all-options"])
def test_the_operator_pod_is_admitted_under_restricted_pod_security(
    kube_api: Any, restricted_namespace: str, values: list[Path]
) -> None:
    from kubernetes import client

    deployment = one(render(*values, namespace=restricted_namespace), "Deployment")
    core: Any = client.CoreV1Api(kube_api)
    created = core.create_namespaced_pod(
        restricted_namespace, pod_from(deployment, "operator"), dry_run="All"
    )
    assert created.spec.containers[0].security_context.read_only_root_filesystem is True


def test_a_privileged_pod_is_refused_in_the_same_namespace(
    kube_api: Any, restricted_namespace: str
) -> None:
    """The negative control: the namespace really enforces the restricted profile."""
    from kubernetes import client

    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "privileged"},
        "spec": {
            "containers": [
                {
                    "name": "main",
                    "image": "busybox:1.36",
                    "securityContext": {"privileged": True},
                }
            ]
        },
    }
    core: Any = client.CoreV1Api(kube_api)
    with pytest.raises(client.ApiException) as refused:
        core.create_namespaced_pod(restricted_namespace, pod, dry_run="All")
    assert refused.value.status == 403
    assert 'violates PodSecurity "restricted' in json.loads(str(refused.value.body))["message"]
