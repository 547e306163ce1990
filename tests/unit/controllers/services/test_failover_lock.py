"""One switch per service at a time, whoever asks (automatic failover, failback, a step)."""

from __future__ import annotations

import asyncio
from typing import Any

from orchestration_engine.api.service import ServiceSpec
from orchestration_engine.controllers.services.failover import ServiceFailover

SPEC = ServiceSpec.model_validate(
    {
        "workloadRef": {"kind": "Deployment", "name": "web"},
        "failover": {
            "standbyRef": {"kind": "Deployment", "name": "web-standby"},
            "serviceRef": {"name": "web"},
        },
    }
)


class _Monitor:
    def __init__(self) -> None:
        self.recorded: list[str] = []

    def spec_of(self, namespace: str, name: str) -> ServiceSpec | None:
        return SPEC

    def record_failover(self, key: Any, to: str, message: str = "") -> None:
        self.recorded.append(to)


class _Switch:
    """A traffic switch that holds until the test lets it finish, counting overlaps."""

    def __init__(self) -> None:
        self.running = 0
        self.most = 0
        self.gates: list[asyncio.Event] = []
        self.started = asyncio.Event()

    async def __call__(
        self, api: Any, namespace: str, name: str, spec: Any, to: str, **_: Any
    ) -> str:
        gate = asyncio.Event()
        self.gates.append(gate)
        self.running += 1
        self.most = max(self.most, self.running)
        self.started.set()
        try:
            await gate.wait()
        finally:
            self.running -= 1
        return f"switched to {to}"


async def _release_next(switch: _Switch) -> None:
    """Let the switch that is running finish, then wait until the next one starts (or none is
    waiting any more)."""
    for _ in range(100):
        open_gates = [g for g in switch.gates if not g.is_set()]
        if open_gates:
            break
        await asyncio.sleep(0)
    for gate in switch.gates:
        if not gate.is_set():
            gate.set()
            break


async def test_a_caller_arriving_as_a_switch_ends_waits_for_the_one_already_queued() -> None:
    """Three callers: one switching, one queued behind it, one arriving just as the first ends.
    The lock used to be dropped from the table when the first finished (nobody held it at that
    instant), so the third made a new lock and switched beside the queued one."""
    monitor = _Monitor()
    switch = _Switch()
    failover = ServiceFailover(None, monitor, lambda: 5.0, switch=switch)  # type: ignore[arg-type]
    first = asyncio.create_task(failover("shop", "web", "standby"))
    await switch.started.wait()
    second = asyncio.create_task(failover("shop", "web", "primary"))
    for _ in range(5):
        await asyncio.sleep(0)
    switch.gates[0].set()
    await first
    third = asyncio.create_task(failover("shop", "web", "standby"))
    for _ in range(20):
        await asyncio.sleep(0)
    assert switch.most == 1, "two switches of one service ran at once"
    while not (second.done() and third.done()):
        await _release_next(switch)
        await asyncio.sleep(0)
    assert switch.most == 1
    assert monitor.recorded == ["standby", "primary", "standby"]
    assert failover.locks_held() == 0


async def test_many_callers_switch_one_at_a_time_and_leave_no_lock_behind() -> None:
    monitor = _Monitor()
    switch = _Switch()
    failover = ServiceFailover(None, monitor, lambda: 5.0, switch=switch)  # type: ignore[arg-type]
    tasks = [
        asyncio.create_task(failover("shop", "web", "standby" if i % 2 else "primary"))
        for i in range(8)
    ]
    other = asyncio.create_task(failover("shop", "api", "standby"))
    while not all(t.done() for t in tasks):
        await _release_next(switch)
        await asyncio.sleep(0)
        if len(tasks) < 12:
            tasks.append(asyncio.create_task(failover("shop", "web", "standby")))
    await _release_next(switch)
    await other
    # The other service's switch ran beside web's, which is allowed: one per service.
    assert switch.most == 2
    assert failover.locks_held() == 0


async def test_a_cancelled_waiter_does_not_break_the_exclusion() -> None:
    monitor = _Monitor()
    switch = _Switch()
    failover = ServiceFailover(None, monitor, lambda: 5.0, switch=switch)  # type: ignore[arg-type]
    first = asyncio.create_task(failover("shop", "web", "standby"))
    await switch.started.wait()
    waiting = asyncio.create_task(failover("shop", "web", "primary"))
    await asyncio.sleep(0)
    waiting.cancel()
    await asyncio.gather(waiting, return_exceptions=True)
    later = asyncio.create_task(failover("shop", "web", "primary"))
    for _ in range(10):
        await asyncio.sleep(0)
    assert switch.most == 1
    switch.gates[0].set()
    await first
    while not later.done():
        await _release_next(switch)
        await asyncio.sleep(0)
    assert switch.most == 1
    assert failover.locks_held() == 0
