"""Absurd but valid input: whatever the API server accepts, the operator stays up and keeps
serving the other objects (issue 17, section 3; docs/fmea.md, "Absurd but valid input").

Sent to the real API server, as raw JSON so that nothing on the client side reshapes it:

- explicit rows: the two reported values (``deadlineSeconds: 9223372036854775807``,
  ``cpu: "9e9999999999"``), 10,000 steps, the most steps and dependencies allowed, params
  nested 9,000 deep, objects just under and over the API server's size limit, unicode and
  control characters where users write text;
- hypothesis-generated workflow and service specs drawn from a space far wider than the
  schema (huge and negative integers, floats, quantities from the grammar and beyond it,
  unicode and control characters, nested params). Each is sent; what the server refuses must
  come with a message, what it accepts must be seen by the operator (a status with its
  generation).

Throughout, beside them (fmea_inputs_support.Fleet): two good services (TCP and HTTP
checks) must stay HEALTHY and never leave it, and a good workflow created after each part
must Succeed with each step once. At the end the operator is still running and its log
holds no traceback.
"""

from __future__ import annotations

import json
import ssl
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from fmea_inputs_support import GROUP, VERSION, Fleet, OperatorProcess, condition, pick, wait_for
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from orchestration_engine.api.common import QUANTITY
from orchestration_engine.plumbing.nesting import allow_api_server_nesting

pytestmark = pytest.mark.cluster

# The test reads objects nested as deep as the API server stores them, as the operator does.
allow_api_server_nesting()

PLURALS = {"workflow": "orchestrationworkflows", "service": "orchestratedservices"}
KINDS = {"workflow": "OrchestrationWorkflow", "service": "OrchestratedService"}
SEEN_TIMEOUT_S = 30
HUGE = 2**63 - 1


class RawApi:
    """POSTs JSON text as it is written (the Python client would re-encode it, and cannot
    encode nesting deeper than its recursion limit)."""

    def __init__(self, kube_api: Any) -> None:
        configuration = kube_api.configuration
        self.server = str(configuration.host).rstrip("/")
        self.authorization = str(configuration.api_key.get("BearerToken", ""))
        self.context = ssl.create_default_context(cafile=configuration.ssl_ca_cert)

    def create(self, namespace: str, kind: str, text: str) -> tuple[int, str]:
        return self._call("POST", f"/namespaces/{namespace}/{PLURALS[kind]}", text)

    def get(self, namespace: str, kind: str, name: str) -> dict[str, Any]:
        """Read with json.loads, not the Python client: its recursive deserialisation of an
        object nested 9,000 deep holds the GIL for seconds, and the good services' endpoints
        live in this process (a check of theirs timed out so, once)."""
        code, text = self._call("GET", f"/namespaces/{namespace}/{PLURALS[kind]}/{name}")
        assert code == 200, (code, text[:500])
        return json.loads(text)  # type: ignore[no-any-return]

    def _call(self, method: str, path: str, text: str | None = None) -> tuple[int, str]:
        request = urllib.request.Request(
            f"{self.server}/apis/{GROUP}/{VERSION}{path}",
            data=text.encode() if text is not None else None,
            method=method,
            headers={"Authorization": self.authorization, "Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, context=self.context, timeout=60) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode(errors="replace")


def document(kind: str, name: str, spec_json: str) -> str:
    return (
        f'{{"apiVersion":"{GROUP}/{VERSION}","kind":"{KINDS[kind]}",'
        f'"metadata":{{"name":"{name}"}},"spec":{spec_json}}}'
    )


def message_of(text: str) -> str:
    try:
        return str(json.loads(text).get("message", text))
    except ValueError:
        return text


@dataclass
class Absurd:
    fleet: Fleet
    raw: RawApi
    seen: list[tuple[str, str]]  # accepted objects: (kind, name)

    def send(self, kind: str, name: str, spec: dict[str, Any] | str) -> tuple[int, str]:
        spec_json = spec if isinstance(spec, str) else json.dumps(spec, allow_nan=False)
        code, text = self.raw.create(self.fleet.namespace, kind, document(kind, name, spec_json))
        if code < 300:
            self.seen.append((kind, name))
        return code, text

    def get(self, kind: str, name: str) -> dict[str, Any]:
        return self.raw.get(self.fleet.namespace, kind, name)

    def wait_seen(self, kind: str, name: str) -> dict[str, Any]:
        """The operator wrote a status for this object's generation: it has handled it."""

        def seen() -> dict[str, Any] | None:
            obj = self.get(kind, name)
            status = obj.get("status") or {}
            generation = obj["metadata"].get("generation")
            return obj if status.get("observedGeneration") == generation else None

        return wait_for(seen, timeout=SEEN_TIMEOUT_S, what=f"{kind} {name} seen by the operator")


@pytest.fixture(scope="module")
def absurd(
    custom: Any,
    kube_api: Any,
    module_namespace: str,
    module_operator: OperatorProcess,
) -> Iterator[Absurd]:
    fleet = Fleet(custom, kube_api, module_namespace, module_operator)
    try:
        wait_for(lambda: _engine(fleet), what="the engine `default`")
        fleet.start_good_services()
        yield Absurd(fleet, RawApi(kube_api), [])
    finally:
        fleet.close()


def _engine(fleet: Fleet) -> bool:
    from kubernetes.client import ApiException

    try:
        fleet.get("engine", "default")
    except ApiException as error:
        if error.status == 404:
            return False
        raise
    return True


def one_step(**params: Any) -> dict[str, Any]:
    return {"steps": [{"name": "a", "action": "delay", "params": {"seconds": 0, **params}}]}


def deep(depth: int) -> str:
    return '{"a":' * depth + '{"leaf":1}' + "}" * depth


def patch_step_spec(patch_json: str) -> str:
    target = '{"apiVersion":"v1","kind":"ConfigMap","name":"absurd-target"}'
    return (
        '{"steps":[{"name":"a","action":"patch","params":'
        f'{{"target":{target},"patch":{patch_json}}}}}]}}'
    )


# --- explicit rows ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    id: str
    kind: str
    spec: Any  # a mapping, or JSON text
    outcome: str  # rejected | succeeded | stalled | failed
    says: str = ""


# The most steps a workflow may have, the second half each depending on the most steps a
# step may name: two waves, so the row is about size, not about 64 sequential status writes.
WIDEST = {
    "steps": [
        {
            "name": f"s{i}",
            "action": "delay",
            "params": {"seconds": 0},
            "dependsOn": [f"s{j}" for j in range(32)] if i >= 32 else [],
        }
        for i in range(64)
    ]
}

ROWS = [
    Row(
        "deadline-2-63",
        "workflow",
        {**one_step(), "deadlineSeconds": HUGE},
        "rejected",
        "spec.deadlineSeconds in body should be less than or equal to 31536000",
    ),
    Row(
        "cpu-9e9999999999",
        "workflow",
        {**one_step(), "resources": {"cpu": "9e9999999999"}},
        "rejected",
        'spec.resources.cpu: Invalid value: "9e9999999999"',
    ),
    Row(
        "service-cpu-9e9999999999",
        "service",
        {"resources": {"cpu": "9e9999999999"}},
        "rejected",
        'spec.resources.cpu: Invalid value: "9e9999999999"',
    ),
    Row(
        "memory-as-int-2-63",
        "workflow",
        {**one_step(), "resources": {"memory": HUGE}},
        "rejected",
        f"memory {HUGE} is more than 1Ei",
    ),
    Row(
        "steps-10000",
        "workflow",
        {
            "steps": [
                {"name": f"s{i}", "action": "delay", "params": {"seconds": 0}}
                for i in range(10_000)
            ]
        },
        "rejected",
        "spec.steps: Too many: 10000: must have at most 64 items",
    ),
    Row("steps-64-deps-32", "workflow", WIDEST, "succeeded"),
    Row(
        "deadline-a-year",
        "workflow",
        {**one_step(), "deadlineSeconds": 31_536_000, "estimatedDurationSeconds": 31_536_000},
        "succeeded",
    ),
    Row(
        "quantities-at-the-bounds",
        "workflow",
        {**one_step(), "resources": {"cpu": "0", "memory": "0"}},
        "succeeded",
    ),
    Row(
        "params-nested-9000",
        "workflow",
        patch_step_spec(deep(9000)),
        "stalled",
        "Maximum serialization depth exceeded",
    ),
    Row(
        "params-nested-990",
        "workflow",
        patch_step_spec(deep(990)),
        "stalled",
        "spec.steps[0]",
    ),
    Row(
        # Just under the API server's 1.5 MiB object limit (etcd's request limit).
        "body-1400-kib",
        "workflow",
        {"steps": [{"name": "a", "action": "delay", "params": {"seconds": 0}}], "displayName": "x"}
        | {
            "rollback": [
                {
                    "name": "r",
                    "action": "http",
                    "params": {"url": "http://127.0.0.1:1/x", "body": "b" * 1_400_000},
                }
            ]
        },
        "succeeded",
    ),
    Row(
        "body-3-mib",
        "workflow",
        {
            "steps": [
                {
                    "name": "a",
                    "action": "http",
                    "params": {"url": "http://127.0.0.1:1/x", "body": "b" * 3_200_000},
                }
            ]
        },
        "rejected",
        "",
    ),
    Row(
        "dependson-control-characters",
        "workflow",
        {
            "steps": [
                {
                    "name": "a",
                    "action": "delay",
                    "params": {"seconds": 0},
                    "dependsOn": ["gh\u0007st\u202e☃"],
                }
            ]
        },
        "rejected",
        "step 'a' dependsOn 'gh\u0007st\u202e☃'",
    ),
    Row(
        "display-name-unicode-and-controls",
        "workflow",
        {**one_step(), "displayName": "ниц\u0000\u0007\u202e☃\U0001f600\r\n\t"},
        "succeeded",
    ),
    Row(
        "header-with-crlf",
        "workflow",
        {
            "steps": [
                {
                    "name": "a",
                    "action": "http",
                    "params": {
                        "url": "http://127.0.0.1:1/x",
                        "headers": {"X-A": "b\r\nInjected: 1"},
                    },
                }
            ]
        },
        "failed",
        "step a failed",
    ),
    Row(
        "name-unicode",
        "workflow",
        one_step(),
        "rejected",
        "metadata.name",
    ),
]


@pytest.mark.parametrize("row", ROWS, ids=[r.id for r in ROWS])
def test_absurd_value(row: Row, absurd: Absurd) -> None:
    absurd.fleet.add_good_workflow(f"good-{row.id}")
    name = "☃-snowman" if row.id == "name-unicode" else row.id
    code, text = absurd.send(row.kind, name, row.spec)
    if row.outcome == "rejected":
        assert code in (400, 413, 422), (code, text[:500])
        assert message_of(text), text[:500]
        assert row.says in message_of(text), message_of(text)[:2000]
        return
    assert code == 201, (code, message_of(text)[:2000])
    obj = absurd.wait_seen(row.kind, name)
    if row.outcome == "stalled":
        stalled = wait_for(
            lambda: (
                (c := condition(absurd.get(row.kind, name), "Stalled")).get("status") == "True"
                and c
            ),
            timeout=SEEN_TIMEOUT_S,
            what=f"{name} Stalled",
        )
        assert stalled["reason"] == "InvalidSpec", stalled
        assert row.says in stalled["message"], stalled["message"][:2000]
        return
    ended = wait_for(
        lambda: (
            (s := absurd.get(row.kind, name).get("status") or {}).get("phase")
            in {"Succeeded", "Failed", "RolledBack"}
            and s
        ),
        timeout=60,
        what=f"{name} ended",
    )
    expected = {"succeeded": "Succeeded", "failed": "Failed"}[row.outcome]
    assert ended["phase"] == expected, (ended, obj.get("status"))
    if row.says:
        assert row.says in (ended.get("message") or ""), ended


# --- hypothesis-generated specs --------------------------------------------------------------

# Half of each draw is a value the schema takes (small, or at a bound), half is absurd, so
# that many specs are accepted and reach the operator.
INTS = st.one_of(
    st.integers(0, 5),
    st.integers(1, 3),
    st.sampled_from([1, 20, 64, 599, 3600, 10_000, 86_400, 31_536_000]),
    st.integers(-(2**63), 2**63 - 1),
    st.sampled_from([-1, 2**31 - 1, 2**31, 2**53 + 1, HUGE, -(2**63)]),
)
FLOATS = st.one_of(
    st.floats(0.001, 10),
    st.sampled_from([0.5, 1.0, 100.0, 3_600_000.0, 1e-6, 1e15]),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from([0.0, 5e-324, 1e-300, 1e308, -1e308]),
)
TEXT = st.one_of(
    st.text(max_size=40),
    st.text(
        alphabet=st.characters(codec="utf-8", categories=["Cc", "Cf", "So", "Lo"]), max_size=20
    ),
    st.sampled_from(["", "a", "\u0000", "\u202e", "☃" * 300, "x" * 5000]),
)
QUANTITIES = st.one_of(
    st.sampled_from(["0", "1", "500m", "2", "1Gi", "1M", "1Ei", "0.000000001", "999999"]),
    st.integers(0, 1000),
    st.from_regex(QUANTITY, fullmatch=True),
    st.from_regex(
        r"[+]?[0-9]{1,30}(\.[0-9]{0,5})?(([KMGTPE]i)|[numkMGTPE]|([eE][-+]?[0-9]{1,12}))?",
        fullmatch=True,
    ),
    st.sampled_from(["9e9999999999", "1e99", "1000001", "2Ei", "-1"]),
    INTS,
)
JSON = st.recursive(
    st.one_of(st.none(), st.booleans(), INTS, FLOATS, TEXT),
    lambda children: st.one_of(
        st.lists(children, max_size=3), st.dictionaries(TEXT, children, max_size=3)
    ),
    max_leaves=12,
)
NAMES = st.sampled_from(["a", "b", "c"])
# What a tame spec draws: values inside every bound, so it is accepted and the operator runs
# it; its text is still unicode and control characters where the schema takes any text.
TAME = {
    "int": st.integers(1, 20),
    "float": st.floats(0.001, 10),
    "quantity": st.sampled_from(["0", "1", "500m", "2", "1Gi", "1M", "1Ei", "999999", "1n"]),
    "name": NAMES,
    "text": TEXT,
}
WILD = {"int": INTS, "float": FLOATS, "quantity": QUANTITIES, "name": TEXT, "text": TEXT}


def values(draw: st.DrawFn) -> dict[str, st.SearchStrategy[Any]]:
    """One spec in four draws from the wild sets (mostly refused), the rest from the tame
    ones (mostly accepted)."""
    return WILD if draw(st.integers(0, 3)) == 0 else TAME


def maybe(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(st.none(), strategy)


@st.composite
def workflow_specs(draw: st.DrawFn, server_url: str) -> dict[str, Any]:
    v = values(draw)
    INTS, FLOATS, QUANTITIES = v["int"], v["float"], v["quantity"]
    steps = []
    for name in draw(st.lists(NAMES, min_size=1, max_size=3)):
        action = draw(st.sampled_from(["delay", "http", "scale", "patch", "restart", "failover"]))
        params: dict[str, Any] = {
            "delay": {"seconds": draw(st.one_of(FLOATS, INTS, st.just(0)))},
            "http": {
                "url": draw(st.sampled_from([server_url, "http://127.0.0.1:1/x"])),
                "method": draw(st.sampled_from(["GET", "POST", "FETCH"])),
                "headers": draw(st.dictionaries(TEXT, TEXT, max_size=2)),
                "body": draw(JSON),
                "expectedStatus": draw(st.lists(st.one_of(st.just(200), INTS), max_size=2)),
            },
            "scale": {"service": "absent", "replicas": draw(INTS)},
            "patch": {
                "target": {"apiVersion": "v1", "kind": "ConfigMap", "name": "absent"},
                "patch": draw(st.dictionaries(TEXT, JSON, max_size=3)),
            },
            "restart": {"service": "absent"},
            "failover": {"service": draw(st.sampled_from(["absent", "☃"]))},
        }[action]
        step: dict[str, Any] = {"name": name, "action": action, "params": params}
        if draw(st.booleans()):
            step["dependsOn"] = draw(st.lists(v["name"], max_size=3, unique=True))
        for key, value in (("timeoutSeconds", maybe(INTS)), ("retries", maybe(INTS))):
            drawn = draw(value)
            if drawn is not None:
                step[key] = drawn
        steps.append(step)
    spec: dict[str, Any] = {"steps": steps}
    optional = {
        "deadlineSeconds": INTS,
        "estimatedDurationSeconds": INTS,
        "resources": st.fixed_dictionaries({}, optional={"cpu": QUANTITIES, "memory": QUANTITIES}),
        "displayName": TEXT,
        "priority": st.sampled_from(["LOW", "CRITICAL", "urgent"]),
        "suspend": st.booleans(),
        "successCriteria": st.fixed_dictionaries(
            {"servicesHealthy": st.lists(v["name"], max_size=2)}
        ),
    }
    for key, strategy in optional.items():
        if draw(st.booleans()):
            spec[key] = draw(strategy)
    return spec


@st.composite
def service_specs(draw: st.DrawFn) -> dict[str, Any]:
    v = values(draw)
    INTS, FLOATS, QUANTITIES = v["int"], v["float"], v["quantity"]
    check = draw(
        st.one_of(
            st.fixed_dictionaries(
                {"tcp": st.fixed_dictionaries({"host": st.just("127.0.0.1"), "port": INTS})}
            ),
            st.fixed_dictionaries(
                {
                    "http": st.fixed_dictionaries(
                        {
                            "url": st.just("http://127.0.0.1:1/h"),
                            "expectedStatus": st.lists(INTS, max_size=2),
                        }
                    )
                }
            ),
            st.just({}),
        )
    )
    for key in ("periodSeconds", "timeoutSeconds", "failureThreshold", "successThreshold"):
        if draw(st.booleans()):
            check[key] = draw(INTS)
    if draw(st.booleans()):
        check["warningLatencyMs"] = draw(FLOATS)
    spec: dict[str, Any] = {"healthCheck": check}
    optional = {
        "resources": st.fixed_dictionaries({}, optional={"cpu": QUANTITIES, "memory": QUANTITIES}),
        "displayName": TEXT,
        "scaling": st.fixed_dictionaries(
            {"maxReplicas": INTS},
            optional={
                "minReplicas": INTS,
                "targetLatencyMs": FLOATS,
                "scaleUpStabilizationSeconds": INTS,
                "scaleDownStabilizationSeconds": INTS,
                "prometheus": st.fixed_dictionaries(
                    {"url": st.just("http://127.0.0.1:1/p"), "query": TEXT, "target": FLOATS}
                ),
            },
        ),
        "sla": st.fixed_dictionaries(
            {}, optional={"availabilityPercent": FLOATS, "latencyMs": FLOATS}
        ),
        "failover": st.fixed_dictionaries(
            {
                "standbyRef": st.just({"kind": "Deployment", "name": "absent"}),
                "serviceRef": st.just({"name": "absent"}),
            },
            optional={"timeoutSeconds": INTS, "failbackDelaySeconds": INTS},
        ),
    }
    for key, strategy in optional.items():
        if draw(st.booleans()):
            spec[key] = draw(strategy)
    return spec


EXAMPLES = pick(25, 200)


def test_generated_specs_never_break_the_operator(absurd: Absurd) -> None:
    counts = {"sent": 0, "accepted": 0}
    server_url = absurd.fleet.http.url("/generated")

    @given(
        kind=st.sampled_from(["workflow", "service"]),
        data=st.data(),
    )
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def send_one(kind: str, data: st.DataObject) -> None:
        spec = data.draw(workflow_specs(server_url) if kind == "workflow" else service_specs())
        name = f"gen-{kind[0]}-{counts['sent']}"
        counts["sent"] += 1
        code, text = absurd.send(kind, name, spec)
        if code < 300:
            counts["accepted"] += 1
        else:
            assert code in (400, 422), (code, text[:1000])
            assert message_of(text), text[:1000]

    send_one()
    # Every accepted object was seen by the operator: a status for its generation.
    for kind, name in list(absurd.seen):
        if name.startswith("gen-"):
            absurd.wait_seen(kind, name)
    print(f"generated specs: {counts['sent']} sent, {counts['accepted']} accepted")
    assert counts["sent"] == EXAMPLES


def test_good_objects_beside_the_absurd_ones_are_unaffected(absurd: Absurd) -> None:
    """Run last: every good workflow Succeeded with each step once, the good services never
    left HEALTHY, and the operator is up with no traceback in its log."""

    fleet = absurd.fleet
    fleet.add_good_workflow("good-last")
    fleet.assert_good_workflows_succeeded()
    for name in fleet.good_services:
        fleet.assert_good_service_unchanged(name)
    fleet.assert_operator_clean()
