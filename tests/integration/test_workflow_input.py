"""Bad workflows are rejected with a message naming the problem, by the API server where its
schema can tell, by the operator otherwise; good workflows beside them run unaffected."""

from __future__ import annotations

from typing import Any

import pytest
from integration_support import OperatorProcess
from workflow_support import conditions, create, delay, wait_phase, workflow

pytestmark = pytest.mark.cluster


@pytest.mark.parametrize(
    ("steps", "named"),
    [
        pytest.param(
            [delay("a", 0, dependsOn=["ghost"])],
            "a step's dependsOn names a step that does not exist",
            id="unknown-step-in-dependsOn",
        ),
        pytest.param(
            [{"name": "a", "action": "teleport", "params": {}}],
            "teleport",
            id="unknown-action",
        ),
        pytest.param(
            [{"name": "a", "action": "job", "params": {}}],
            "a job step needs params.template",
            id="job-without-template",
        ),
        pytest.param(
            [delay("a", 0, retries=-1)],
            "retries",
            id="negative-retries",
        ),
    ],
)
def test_the_api_server_rejects_what_its_schema_can_tell(
    module_operator: OperatorProcess,
    custom: Any,
    namespace: str,
    steps: list[dict[str, Any]],
    named: str,
) -> None:
    from kubernetes.client import ApiException

    with pytest.raises(ApiException) as raised:
        create(custom, namespace, workflow("bad", steps))
    assert raised.value.status == 422
    assert named in raised.value.body
    create(custom, namespace, workflow("good", [delay("a", 0)]))
    wait_phase(custom, namespace, "good", "Succeeded")


def test_a_cycle_is_stalled_and_the_good_one_beside_it_runs(
    module_operator: OperatorProcess, custom: Any, namespace: str
) -> None:
    create(
        custom,
        namespace,
        workflow(
            "cyclic",
            [
                delay("a", 0, dependsOn=["c"]),
                delay("b", 0, dependsOn=["a"]),
                delay("c", 0, dependsOn=["b"]),
            ],
        ),
    )
    create(custom, namespace, workflow("good", [delay("a", 0)]))
    wait_phase(custom, namespace, "good", "Succeeded")
    stalled = wait_phase(custom, namespace, "cyclic", "Pending")
    found = conditions(stalled)
    assert found["Stalled"]["status"] == "True"
    assert found["Ready"]["status"] == "False"
    assert found["Ready"]["reason"] == "InvalidSpec"
    assert "dependsOn forms a cycle" in found["Stalled"]["message"]
    assert any(
        path in found["Stalled"]["message"]
        for path in ("a -> c -> b -> a", "c -> b -> a -> c", "b -> a -> c -> b")
    )
    assert "steps" not in stalled or all(s["attempts"] == 0 for s in stalled["steps"])


def test_steps_cannot_change_once_the_workflow_exists(
    module_operator: OperatorProcess, custom: Any, namespace: str
) -> None:
    from kubernetes.client import ApiException

    from orchestration_engine.api.common import GROUP, VERSION

    create(custom, namespace, workflow("fixed", [delay("a", 0)]))
    with pytest.raises(ApiException) as raised:
        custom.patch_namespaced_custom_object(
            GROUP,
            VERSION,
            namespace,
            "orchestrationworkflows",
            "fixed",
            {"spec": {"steps": [delay("b", 0)]}},
        )
    assert raised.value.status == 422
    assert "create a new workflow" in raised.value.body
