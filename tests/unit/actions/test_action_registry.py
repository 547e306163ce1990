"""Every step action has a function, and run_action hands it the step's typed params."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, cast

import pytest

from orchestration_engine.actions.base import ActionDeps, StepContext
from orchestration_engine.actions.registry import ACTIONS, run_action
from orchestration_engine.api.workflow import DelayParams, Step, StepAction

DEPS = cast(ActionDeps, cast(Any, None))


def test_every_action_has_a_function() -> None:
    assert set(ACTIONS) == set(StepAction)


async def test_run_action_dispatches_with_typed_params() -> None:
    step = Step.model_validate({"name": "pause", "action": "delay", "params": {"seconds": 5}})
    ctx = StepContext(
        namespace="shop",
        workflow="nightly",
        workflow_uid="uid-1",
        step="pause",
        attempt=1,
        started_at=datetime.now(UTC) - timedelta(minutes=1),  # already over: returns at once
    )
    assert await run_action(DEPS, ctx, step) == "waited 5s"


async def test_wrong_params_model_is_a_programming_error() -> None:
    ctx = StepContext("shop", "nightly", "uid-1", "s", 1, datetime.now(UTC))
    with pytest.raises(TypeError, match="takes ScaleParams"):
        await ACTIONS[StepAction.SCALE](DEPS, ctx, DelayParams(seconds=1))
