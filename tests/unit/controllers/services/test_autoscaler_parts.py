"""The autoscaler's pure parts: reading a Prometheus answer, keeping recommendations."""

from __future__ import annotations

from typing import Any

import pytest

from orchestration_engine.controllers.services.autoscaler import prometheus_value
from orchestration_engine.core.scaling import Recommendation
from orchestration_engine.core.scaling_ladder import remember


def vector(*values: str) -> dict[str, Any]:
    return {
        "status": "success",
        "data": {
            "resultType": "vector",
            "result": [{"metric": {}, "value": [1.0, v]} for v in values],
        },
    }


def test_one_series_or_a_scalar() -> None:
    assert prometheus_value(vector("35.5")) == 35.5
    assert (
        prometheus_value(
            {"status": "success", "data": {"resultType": "scalar", "result": [1.0, "7"]}}
        )
        == 7.0
    )
    assert prometheus_value(vector()) == 0.0


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (vector("1", "2"), "2 series; aggregate it to one"),
        (vector("NaN"), "returned nan"),
        ({"status": "error", "error": "parse error at char 4"}, "parse error at char 4"),
        ("not json", "not a Prometheus API answer"),
        ({"status": "success", "data": {"resultType": "matrix", "result": []}}, "'matrix'"),
    ],
)
def test_anything_else_is_a_clear_error(body: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        prometheus_value(body)


def test_a_run_of_equal_recommendations_keeps_its_latest() -> None:
    history: list[Recommendation] = []
    for at, replicas in [(0.0, 3), (1.0, 3), (2.0, 4), (3.0, 4), (4.0, 3)]:
        remember(history, Recommendation(at, replicas))
    assert history == [Recommendation(1.0, 3), Recommendation(3.0, 4), Recommendation(4.0, 3)]
