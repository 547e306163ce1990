"""The API client's settings: flags reach the transport, nonsense is refused, and a loop that
keeps failing turns the liveness probe red."""

from __future__ import annotations

import kopf
import pytest

from orchestration_engine.app.handlers.engine import loops_alive
from orchestration_engine.app.runtime import kopf_settings, transport_settings
from orchestration_engine.app.settings import SettingsError, resolve
from orchestration_engine.plumbing.supervision import LOOPS, LoopState


def test_flags_reach_the_transport() -> None:
    settings = resolve(
        {"kube_api_qps": 5, "kube_api_burst": 10, "kube_request_timeout_seconds": 4}, env={}
    )
    transport = transport_settings(settings)
    assert (transport.qps, transport.burst, transport.request_timeout_s) == (5, 10, 4)
    timeout = transport.timeout()
    # The read-idle bound never exceeds the whole request's.
    assert (timeout.total, timeout.sock_read, timeout.sock_connect) == (4, 4, 4)


def test_defaults_bound_every_request() -> None:
    timeout = transport_settings(resolve({}, env={})).timeout()
    assert (timeout.total, timeout.sock_read, timeout.sock_connect) == (30, 10, 10)


@pytest.mark.parametrize(
    "flags",
    [{"kube_api_qps": -1}, {"kube_api_burst": 0}, {"kube_request_timeout_seconds": 0}],
)
def test_nonsense_is_refused(flags: dict[str, float]) -> None:
    with pytest.raises(SettingsError):
        resolve(flags, env={})


def test_a_silent_watch_is_given_up_within_a_minute() -> None:
    watching = kopf_settings().watching
    assert watching.server_timeout is not None
    assert watching.client_timeout is not None
    assert watching.server_timeout < watching.client_timeout <= 45


async def test_a_failing_loop_fails_the_liveness_probe() -> None:
    assert "loops running" in await loops_alive()
    LOOPS.states["stuck-test"] = LoopState(
        "stuck-test", started_at=0.0, consecutive=99, last_error="boom", running=False
    )
    try:
        with pytest.raises(kopf.PermanentError, match=r"stuck-test .*boom"):
            await loops_alive()
    finally:
        del LOOPS.states["stuck-test"]
