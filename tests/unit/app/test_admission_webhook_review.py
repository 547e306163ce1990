"""The admission webhook's review of one object never fails the request (issue 17, §3).

An exception from the review used to become an HTTP 500, which the API server reports as
``failed calling webhook`` without a reason; the object is now refused with the reason, and
specs the API server takes at its limits (params nested 9,000 deep) are reviewed normally.
"""

from __future__ import annotations

from typing import Any

import pytest

from orchestration_engine.app import webhook as admission_webhook
from orchestration_engine.core import admission
from orchestration_engine.plumbing.nesting import allow_api_server_nesting


async def no_neighbours(namespace: str, *, workflows: bool) -> admission.Neighbours:
    return admission.Neighbours()


def request(kind: str, spec: dict[str, Any], name: str = "wf") -> dict[str, Any]:
    return {
        "request": {
            "uid": "u-1",
            "kind": {"kind": kind},
            "namespace": "ns",
            "object": {"metadata": {"name": name}, "spec": spec},
        }
    }


async def test_a_review_that_raises_refuses_the_object_with_the_reason(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def explode(*_: Any) -> admission.Verdict:
        raise RecursionError("maximum recursion depth exceeded")

    monkeypatch.setattr(admission, "review_workflow", explode)
    answer = await admission_webhook.review(
        request("OrchestrationWorkflow", {"steps": []}), no_neighbours
    )
    response = answer["response"]
    assert response["allowed"] is False
    assert response["uid"] == "u-1"
    assert "RecursionError: maximum recursion depth exceeded" in response["status"]["message"]


async def test_params_nested_as_deep_as_the_api_server_stores_are_refused_by_name() -> None:
    allow_api_server_nesting()
    nested: dict[str, Any] = {"leaf": 1}
    for _ in range(9000):
        nested = {"a": nested}
    spec = {
        "steps": [
            {
                "name": "a",
                "action": "patch",
                "params": {
                    "target": {"apiVersion": "v1", "kind": "ConfigMap", "name": "x"},
                    "patch": nested,
                },
            }
        ]
    }
    answer = await admission_webhook.review(request("OrchestrationWorkflow", spec), no_neighbours)
    response = answer["response"]
    assert response["allowed"] is False
    assert "spec.steps[0]" in response["status"]["message"]
