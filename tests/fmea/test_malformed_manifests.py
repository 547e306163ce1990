"""Fifty malformed manifests of the three kinds, applied beside good objects against the real
API server with the operator running.

Each row ends one of two ways, and the message a user reads names the problem:
- rejected by the API server (schema, CEL, strict decoding: 400 or 422), nothing stored;
- accepted, then shown by the operator: ``Stalled`` (what CEL cannot see: cycles, missing
  dependencies, params of another action, URLs the model refuses), or the kind's own verdict
  at run time (a workflow ``Failed``, a service ``FAILED``, a workflow ``Pending`` on a
  missing dependency), or the unknown field pruned and the object running normally.
Invalid YAML text cannot reach the server as an object: ``orchestration-engine plan -f``
refuses it with exit code 1 and a message, and the server, sent the raw text as
``application/yaml``, answers 400.

Beside every row a good workflow (``delay`` and ``http`` steps) is created in the same
namespace, and two good services (a TCP and an HTTP check on 127.0.0.1) are checked all along;
the last test asserts that all of them reached their normal states, untouched by the bad
input (docs/fmea.md, "Bad input"). All 50 rows run in both the short and the full mode.
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from fmea_inputs_support import (
    GROUP,
    OUTCOME_TIMEOUT_S,
    PLURALS,
    VERSION,
    Fleet,
    OperatorProcess,
    condition,
    delay,
    wait_for,
)

pytestmark = pytest.mark.cluster


@dataclass(frozen=True)
class Bad:
    """One malformed manifest and what a user sees for it.

    ``objects``: the spec of each object the row creates (two for a cycle between objects,
    whose names replace ``@a`` and ``@b`` in specs and messages), the YAML text for a
    ``yaml`` row, the merge patch of the engine's spec for an ``engine`` row."""

    id: str
    category: str
    kind: str  # yaml | service | workflow | engine
    objects: tuple[Any, ...]
    outcome: str  # rejected | stalled | failed | waiting | pruned
    says: str
    code: int = 422
    reason: str = ""  # the condition's reason, for stalled and waiting
    strict: bool = False  # sent with fieldValidation=Strict, as kubectl apply sends it
    plan_says: str = ""  # yaml rows: what `orchestration-engine plan -f` prints
    name: str = ""  # the object's name when it is itself the problem
    pruned: str = ""  # pruned rows: the field the server dropped
    tags: dict[str, str] = field(default_factory=dict)


def steps_of(*steps: dict[str, Any]) -> dict[str, Any]:
    return {"steps": list(steps)}


def step(name: str, action: str, **params: Any) -> dict[str, Any]:
    return {"name": name, "action": action, "params": params}


HEADER = "apiVersion: orchestration.eoe.dev/v1alpha1\nkind: OrchestrationWorkflow\n"
A_STEP = "{name: a, action: delay, params: {seconds: 1}}"

ROWS: list[Bad] = [
    # --- invalid YAML text -----------------------------------------------------------------
    Bad(
        "yaml-unclosed-flow-mapping",
        "invalid YAML",
        "yaml",
        (HEADER + "metadata: {name: yaml-a\nspec: {}\n",),
        "rejected",
        "did not find expected ',' or '}'",
        code=400,
        plan_says="expected ',' or '}'",
    ),
    Bad(
        "yaml-bad-indentation",
        "invalid YAML",
        "yaml",
        (HEADER + "metadata:\n  name: yaml-b\n spec:\n  steps: []\n",),
        "rejected",
        "did not find expected key",
        code=400,
        plan_says="expected <block end>, but found '<block mapping start>'",
    ),
    Bad(
        "yaml-tab-indentation",
        "invalid YAML",
        "yaml",
        (HEADER + "metadata:\n\tname: yaml-c\n",),
        "rejected",
        "found character that cannot start any token",
        code=400,
        plan_says="found character '\\t' that cannot start any token",
    ),
    Bad(
        "yaml-undefined-alias",
        "invalid YAML",
        "yaml",
        (HEADER + "metadata: {name: yaml-d}\nspec: *steps\n",),
        "rejected",
        "unknown anchor 'steps' referenced",
        code=400,
        plan_says="found undefined alias 'steps'",
    ),
    Bad(
        "yaml-not-a-mapping",
        "invalid YAML",
        "yaml",
        ("- name: yaml-e\n- kind: OrchestrationWorkflow\n",),
        "rejected",
        "cannot unmarshal array",
        code=400,
        plan_says="document 1 is not a mapping",
    ),
    Bad(
        "yaml-duplicate-key",
        "invalid YAML",
        "yaml",
        (
            HEADER
            + "metadata: {name: yaml-f}\nspec:\n"
            + f"  steps: [{A_STEP}]\n"
            + "  steps: [{name: b, action: delay, params: {seconds: 1}}]\n",
        ),
        "rejected",
        'key "steps" already set in map',
        code=400,
        plan_says="found duplicate key 'steps'",
    ),
    # --- OrchestratedService ---------------------------------------------------------------
    Bad(
        "svc-period-not-a-number",
        "wrong type",
        "service",
        ({"healthCheck": {"periodSeconds": "ten"}},),
        "rejected",
        "spec.healthCheck.periodSeconds in body must be of type integer",
    ),
    Bad(
        "svc-port-as-string",
        "wrong type",
        "service",
        ({"healthCheck": {"tcp": {"host": "db", "port": "5432"}}},),
        "rejected",
        "spec.healthCheck.tcp.port in body must be of type integer",
    ),
    Bad(
        "svc-depends-on-not-a-list",
        "wrong type",
        "service",
        ({"dependsOn": "postgres"},),
        "rejected",
        "spec.dependsOn in body must be of type array",
    ),
    Bad(
        "svc-priority-lowercase",
        "bad enum value",
        "service",
        ({"priority": "critical"},),
        "rejected",
        'spec.priority: Unsupported value: "critical"',
    ),
    Bad(
        "svc-expected-status-700",
        "out-of-range number",
        "service",
        ({"healthCheck": {"http": {"url": "http://web/", "expectedStatus": [700]}}},),
        "rejected",
        "spec.healthCheck.http.expectedStatus[0] in body should be less than or equal to 599",
    ),
    Bad(
        "svc-min-above-max-replicas",
        "minReplicas > maxReplicas",
        "service",
        ({"scaling": {"minReplicas": 5, "maxReplicas": 2}},),
        "rejected",
        "spec.scaling: Invalid value: minReplicas must not exceed maxReplicas",
    ),
    Bad(
        "svc-tcp-without-host",
        "missing required field",
        "service",
        ({"healthCheck": {"tcp": {"port": 5432}}},),
        "rejected",
        "spec.healthCheck.tcp.host: Required value",
    ),
    Bad(
        "svc-scaling-without-max",
        "missing required field",
        "service",
        ({"scaling": {"minReplicas": 2}},),
        "rejected",
        "spec.scaling.maxReplicas: Required value",
    ),
    Bad(
        "svc-negative-min-replicas",
        "negative replicas",
        "service",
        ({"scaling": {"minReplicas": -1, "maxReplicas": 3}},),
        "rejected",
        "spec.scaling.minReplicas in body should be greater than or equal to 0",
    ),
    Bad(
        "svc-memory-negative",
        "invalid quantity",
        "service",
        ({"resources": {"memory": "-1Gi"}},),
        "rejected",
        'spec.resources.memory: Invalid value: "-1Gi"',
    ),
    Bad(
        "svc-url-with-space",
        "invalid URL",
        "service",
        ({"healthCheck": {"http": {"url": "http://pay ments/healthz"}}},),
        "rejected",
        'spec.healthCheck.http.url: Invalid value: "http://pay ments/healthz": url must be '
        "an absolute http:// or https:// URL",
    ),
    Bad(
        "svc-unknown-field-strict",
        "unknown field",
        "service",
        ({"replicas": 3},),
        "rejected",
        'strict decoding error: unknown field "spec.replicas"',
        code=400,
        strict=True,
    ),
    Bad(
        "svc-unknown-field-pruned",
        "unknown field",
        "service",
        (
            {
                "replicas": 3,
                "healthCheck": {"tcp": {"host": "127.0.0.1", "port": "@port"}, "periodSeconds": 1},
            },
        ),
        "pruned",
        "HEALTHY",
        pruned="replicas",
    ),
    Bad(
        "svc-url-without-host",
        "invalid URL",
        "service",
        ({"healthCheck": {"http": {"url": "http://:8080/healthz"}}},),
        "stalled",
        "spec.healthCheck.http.url: url must be an absolute http:// or https:// URL",
        reason="InvalidSpec",
    ),
    Bad(
        "svc-depends-on-missing",
        "reference to a missing object",
        "service",
        ({"dependsOn": ["ghost-svc"]},),
        "stalled",
        "dependsOn names services that do not exist: ghost-svc",
        reason="DependencyMissing",
    ),
    Bad(
        "svc-depends-on-cycle",
        "dependsOn cycle",
        "service",
        ({"dependsOn": ["@b"]}, {"dependsOn": ["@a"]}),
        "stalled",
        "dependsOn forms a cycle: @a -> @b -> @a",
        reason="DependencyCycle",
    ),
    Bad(
        "svc-workload-missing",
        "reference to a missing object",
        "service",
        (
            {
                "workloadRef": {"kind": "Deployment", "name": "no-such-deployment"},
                "healthCheck": {"periodSeconds": 1},
            },
        ),
        "failed",
        "Deployment no-such-deployment does not exist",
    ),
    # --- OrchestrationEngine -----------------------------------------------------------------
    Bad(
        "engine-second-not-default",
        "second engine",
        "engine",
        ({},),
        "rejected",
        "the OrchestrationEngine is a singleton and must be named 'default'",
        name="second",
    ),
    Bad(
        "engine-max-workflows-zero",
        "out-of-range number",
        "engine",
        ({"maxConcurrentWorkflows": 0},),
        "rejected",
        "spec.maxConcurrentWorkflows in body should be greater than or equal to 1",
    ),
    Bad(
        "engine-interval-as-string",
        "wrong type",
        "engine",
        ({"monitoringIntervalSeconds": "30s"},),
        "rejected",
        "spec.monitoringIntervalSeconds in body must be of type integer",
    ),
    Bad(
        "engine-capacity-cpu-lots",
        "invalid quantity",
        "engine",
        ({"capacity": {"cpu": "lots"}},),
        "rejected",
        'spec.capacity.cpu: Invalid value: "lots"',
    ),
    Bad(
        "engine-strategy-unknown",
        "bad enum value",
        "engine",
        ({"optimizationStrategy": "FASTEST"},),
        "rejected",
        'spec.optimizationStrategy: Unsupported value: "FASTEST"',
    ),
    Bad(
        "engine-webhook-not-a-url",
        "invalid URL",
        "engine",
        ({"notification": {"webhookUrl": "hooks.example.com/halt"}},),
        "rejected",
        "spec.notification.webhookUrl in body should match",
    ),
    Bad(
        "engine-secret-ref-incomplete",
        "missing required field",
        "engine",
        ({"notification": {"webhookUrl": "http://x/", "tokenSecretRef": {"name": "t"}}},),
        "rejected",
        "spec.notification.tokenSecretRef.namespace: Required value",
    ),
    # --- OrchestrationWorkflow ---------------------------------------------------------------
    Bad(
        "wf-delay-seconds-string",
        "wrong type",
        "workflow",
        (steps_of(step("a", "delay", seconds="soon")),),
        "rejected",
        "spec.steps[0].params.seconds in body must be of type number",
    ),
    Bad(
        "wf-misspelt-depends-on-strict",
        "unknown field",
        "workflow",
        (steps_of(delay("a", 0), delay("b", 0, dependOn=["a"])),),
        "rejected",
        'strict decoding error: unknown field "spec.steps[1].dependOn"',
        code=400,
        strict=True,
    ),
    Bad(
        "wf-negative-delay",
        "out-of-range number",
        "workflow",
        (steps_of(delay("a", -1)),),
        "rejected",
        "spec.steps[0].params.seconds in body should be greater than or equal to 0",
    ),
    Bad(
        "wf-deadline-zero",
        "out-of-range number",
        "workflow",
        ({**steps_of(delay("a", 0)), "deadlineSeconds": 0},),
        "rejected",
        "spec.deadlineSeconds in body should be greater than or equal to 1",
    ),
    Bad(
        "wf-retries-too-many",
        "out-of-range number",
        "workflow",
        (steps_of(delay("a", 0, retries=50)),),
        "rejected",
        "spec.steps[0].retries in body should be less than or equal to 20",
    ),
    Bad(
        "wf-cpu-lots",
        "invalid quantity",
        "workflow",
        ({**steps_of(delay("a", 0)), "resources": {"cpu": "lots"}},),
        "rejected",
        'spec.resources.cpu: Invalid value: "lots"',
    ),
    Bad(
        "wf-type-unknown",
        "bad enum value",
        "workflow",
        ({**steps_of(delay("a", 0)), "workflowType": "cleanup"},),
        "rejected",
        'spec.workflowType: Unsupported value: "cleanup"',
    ),
    Bad(
        "wf-http-method-unknown",
        "bad enum value",
        "workflow",
        (steps_of(step("a", "http", url="http://x/", method="FETCH")),),
        "rejected",
        'spec.steps[0].params.method: Unsupported value: "FETCH"',
    ),
    Bad(
        "wf-step-without-action",
        "missing required field",
        "workflow",
        (steps_of({"name": "a", "params": {"seconds": 1}}),),
        "rejected",
        "spec.steps[0].action: Required value",
    ),
    Bad(
        "wf-no-steps",
        "missing required field",
        "workflow",
        ({"priority": "HIGH"},),
        "rejected",
        "spec.steps: Required value",
    ),
    Bad(
        "wf-scale-negative-replicas",
        "negative replicas",
        "workflow",
        (steps_of(step("a", "scale", service="payments", replicas=-2)),),
        "rejected",
        "spec.steps[0].params.replicas in body should be greater than or equal to 0",
    ),
    Bad(
        "wf-duplicate-rollback-names",
        "duplicate step names",
        "workflow",
        ({**steps_of(delay("a", 0)), "rollback": [delay("undo", 0), delay("undo", 0)]},),
        "rejected",
        "spec.rollback: Invalid value: rollback step names must be unique",
    ),
    Bad(
        "wf-bad-object-name",
        "invalid name",
        "workflow",
        (steps_of(delay("a", 0)),),
        "rejected",
        'metadata.name: Invalid value: "Nightly_Backup"',
        name="Nightly_Backup",
    ),
    Bad(
        "wf-step-self-dependency",
        "step cycle",
        "workflow",
        (steps_of(delay("a", 0, dependsOn=["a"])),),
        "stalled",
        "dependsOn forms a cycle: a -> a (each step depends on the next)",
        reason="InvalidSpec",
    ),
    Bad(
        "wf-step-cycle",
        "step cycle",
        "workflow",
        (steps_of(delay("a", 0, dependsOn=["b"]), delay("b", 0, dependsOn=["a"])),),
        "stalled",
        "dependsOn forms a cycle: a -> b -> a",
        reason="InvalidSpec",
    ),
    Bad(
        "wf-depends-on-cycle",
        "dependsOn cycle",
        "workflow",
        (
            {**steps_of(delay("a", 0)), "dependsOn": ["@b"]},
            {**steps_of(delay("a", 0)), "dependsOn": ["@a"]},
        ),
        "stalled",
        "dependsOn forms a cycle: @a -> @b -> @a (each workflow depends on the next)",
        reason="InvalidSpec",
    ),
    Bad(
        "wf-params-of-another-action",
        "params of another action",
        "workflow",
        (steps_of(step("a", "delay", seconds=1, replicas=3)),),
        "stalled",
        "step 'a' (delay): params.replicas: Extra inputs are not permitted",
        reason="InvalidSpec",
    ),
    Bad(
        "wf-http-ftp-url",
        "invalid URL",
        "workflow",
        (steps_of(step("a", "http", url="ftp://files/backup.tar")),),
        "stalled",
        "step 'a' (http): params.url: String should match pattern",
        reason="InvalidSpec",
    ),
    Bad(
        "wf-scale-missing-service",
        "reference to a missing object",
        "workflow",
        (steps_of(step("a", "scale", service="ghost-svc", replicas=1)),),
        "failed",
        "step a failed: OrchestratedService ghost-svc not found",
    ),
    Bad(
        "wf-depends-on-missing-workflow",
        "reference to a missing object",
        "workflow",
        ({**steps_of(delay("a", 0)), "dependsOn": ["ghost-wf"]},),
        "waiting",
        "waits for workflow ghost-wf, which does not exist",
        reason="DependencyNotFound",
    ),
]
assert len(ROWS) == 50, len(ROWS)
assert len({r.id for r in ROWS}) == len(ROWS)


# --- the fleet the bad rows are applied beside -----------------------------------------------


@pytest.fixture(scope="module")
def fleet(
    custom: Any, kube_api: Any, module_namespace: str, module_operator: OperatorProcess
) -> Iterator[Fleet]:
    fleet = Fleet(custom, kube_api, module_namespace, module_operator)
    try:
        wait_for(lambda: _exists(fleet, "engine", "default"), what="the engine `default`")
        fleet.start_good_services()
        yield fleet
    finally:
        fleet.close()


def _exists(fleet: Fleet, kind: str, name: str) -> bool:
    from kubernetes.client import ApiException

    try:
        fleet.get(kind, name)
    except ApiException as error:
        if error.status == 404:
            return False
        raise
    return True


# --- the rows ---------------------------------------------------------------------------------


def names_of(row: Bad) -> list[str]:
    if row.name:
        return [row.name]
    if len(row.objects) == 1:
        return [row.id]
    return [f"{row.id}-{letter}" for letter in "ab"[: len(row.objects)]]


def fill(value: Any, names: list[str], fleet: Fleet) -> Any:
    """``@a``/``@b``: the row's object names; ``@port``: the good TCP listener's port."""
    text = json.dumps(value)
    for letter, name in zip("ab", names, strict=False):
        text = text.replace(f"@{letter}", name)
    text = text.replace('"@port"', str(fleet.listener.port))
    return json.loads(text)


def api_message(error: Any) -> str:
    try:
        return str(json.loads(error.body)["message"])
    except (TypeError, ValueError, KeyError):
        return str(error.body)


@pytest.mark.parametrize("row", ROWS, ids=[r.id for r in ROWS])
def test_bad_input(row: Bad, fleet: Fleet, tmp_path: Path) -> None:
    fleet.add_good_workflow(f"good-{row.id}")
    if row.kind == "yaml":
        check_yaml(row, fleet, tmp_path)
    elif row.kind == "engine":
        check_engine(row, fleet)
    else:
        check_object(row, fleet)


def check_yaml(row: Bad, fleet: Fleet, tmp_path: Path) -> None:
    (text,) = row.objects
    path = tmp_path / f"{row.id}.yaml"
    path.write_text(text)
    plan = subprocess.run(
        [sys.executable, "-m", "orchestration_engine", "plan", "-f", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "COLUMNS": "300"},
        check=False,
    )
    assert plan.returncode == 1, plan.stdout + plan.stderr
    assert f"invalid: {path}" in plan.stderr, plan.stderr
    assert row.plan_says in plan.stderr, plan.stderr

    # What `kubectl apply` sends: the document as YAML, strict field validation.
    api = fleet.kube_api
    response = api.call_api(
        *api.param_serialize(
            "POST",
            f"/apis/{GROUP}/{VERSION}/namespaces/{fleet.namespace}/orchestrationworkflows",
            query_params=[("fieldValidation", "Strict")],
            header_params={"Content-Type": "application/yaml", "Accept": "application/json"},
            body=text,
            auth_settings=["BearerToken"],
        )
    )
    response.read()
    body = response.data.decode()
    assert response.status == row.code, body
    assert row.says in json.loads(body)["message"], body


def check_engine(row: Bad, fleet: Fleet) -> None:
    from kubernetes.client import ApiException

    (spec,) = row.objects
    before = fleet.get("engine", "default")

    def apply() -> None:
        if row.name:
            fleet.create("engine", row.name, spec)
        else:
            fleet.custom.patch_cluster_custom_object(
                GROUP, VERSION, PLURALS["engine"], "default", {"spec": spec}
            )

    with pytest.raises(ApiException) as raised:
        apply()
    assert raised.value.status == row.code, raised.value.body
    assert row.says in api_message(raised.value)
    assert fleet.get("engine", "default")["spec"] == before["spec"], "a rejected change landed"
    if row.name:
        assert not _exists(fleet, "engine", row.name)


def check_object(row: Bad, fleet: Fleet) -> None:
    from kubernetes.client import ApiException

    names = names_of(row)
    says = fill(row.says, names, fleet)
    if row.outcome == "rejected":
        ((name, spec),) = zip(names, row.objects, strict=True)
        with pytest.raises(ApiException) as raised:
            fleet.create(row.kind, name, fill(spec, names, fleet), strict=row.strict)
        assert raised.value.status == row.code, raised.value.body
        assert says in api_message(raised.value)
        assert not _exists(fleet, row.kind, name), "a rejected object was stored"
        return

    for name, spec in zip(names, row.objects, strict=True):
        created = fleet.create(row.kind, name, fill(copy.deepcopy(spec), names, fleet))
        if row.pruned:
            assert row.pruned not in created["spec"], created["spec"]
    for name in names:
        shown = wait_for(
            lambda n=name: shows(row, fleet.get(row.kind, n)),
            timeout=OUTCOME_TIMEOUT_S,
            what=f"{row.kind} {name}: {row.outcome}",
        )
        expected = says
        if len(names) == 2 and name == names[1]:
            # Each object of a cycle names it starting from itself.
            expected = says.replace(names[0], "\0").replace(names[1], names[0])
            expected = expected.replace("\0", names[1])
        assert expected in shown, shown


def shows(row: Bad, obj: dict[str, Any]) -> str | None:
    """The message the object shows once it shows the row's outcome, else None."""
    status = obj.get("status") or {}
    if row.outcome == "stalled":
        stalled, ready = condition(obj, "Stalled"), condition(obj, "Ready")
        # A cycle between objects shows DependencyMissing until its second object exists.
        if stalled.get("status") != "True" or stalled.get("reason") != row.reason:
            return None
        assert ready["status"] == "False", ready
        assert ready["reason"] == row.reason, ready
        if row.kind == "workflow":
            assert status.get("phase") == "Pending", status
            assert all(s.get("attempts", 0) == 0 for s in status.get("steps") or [])
        return str(stalled["message"])
    if row.outcome == "failed" and row.kind == "workflow":
        if status.get("phase") != "Failed":
            return None
        succeeded = condition(obj, "Succeeded")
        assert succeeded["status"] == "False", succeeded
        assert succeeded["reason"] == "StepFailed", succeeded
        return str(succeeded["message"])
    if row.outcome == "failed":  # a service
        if status.get("health") != "FAILED":
            return None
        ready = condition(obj, "Ready")
        assert ready["status"] == "False", ready
        return str(ready["message"])
    if row.outcome == "waiting":
        admitted = condition(obj, "Admitted")
        if status.get("phase") != "Pending" or admitted.get("reason") != row.reason:
            return None
        assert condition(obj, "Stalled").get("status") == "False"
        return str(admitted["message"])
    if row.outcome == "pruned":
        return str(status.get("health")) if status.get("health") == row.says else None
    raise AssertionError(f"unknown outcome {row.outcome}")


# --- the good ones beside them ---------------------------------------------------------------


def test_good_objects_beside_the_bad_ones_are_unaffected(fleet: Fleet) -> None:
    """Run last: every good workflow Succeeded with each step once, the good services stayed
    HEALTHY all along, and the operator is still up."""
    fleet.add_good_workflow("good-last")  # created after all the bad input
    fleet.assert_good_workflows_succeeded()
    for name in fleet.good_services:
        obj = fleet.assert_good_service_unchanged(name)
        assert obj["status"]["consecutiveFailures"] == 0
        assert condition(obj, "Stalled")["status"] == "False"
    fleet.assert_operator_clean()
