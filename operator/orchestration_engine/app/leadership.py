"""Run the operator only while this instance leads (``run --leader-elect``).

A standby answers its liveness probe and serves its metrics (``eoe_leader`` 0) but does
nothing else; it waits on the Lease (kube/lease.py). Once leader, it runs the operator until
the operator stops (SIGTERM: kopf stops, then the lease is released so the standby takes
over at once) or leadership is lost.

Leadership lost means the process exits at once with code 1, as controller-runtime does: the
operator's in-memory state (queues, runners, caches) belongs to a leadership that is over,
and a graceful stop would write (the engine's COMPLETED, workflow states) while the new
leader already acts. A crash is a case the operator is built to survive; the Deployment
restarts the process and it rejoins as a standby with nothing carried over.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import NoReturn

import prometheus_client
from aiohttp import web

from orchestration_engine.app.settings import OperatorSettings
from orchestration_engine.kube.client import make_api_client
from orchestration_engine.kube.lease import LeaseElector
from orchestration_engine.kube.transport import TransportSettings
from orchestration_engine.plumbing.metrics import LEADER

log = logging.getLogger(__name__)

LOST_EXIT_CODE = 1


async def run_as_leader(
    settings: OperatorSettings,
    run: Callable[[asyncio.Event], Awaitable[None]],
    *,
    stop: asyncio.Event,
) -> None:
    """Stand by until leader, then ``run(leader_stop)``; return when ``stop`` is set (or
    ``run`` returns) after releasing the lease. Lost leadership ends the process."""
    if settings.metrics_port:
        # Here, not in the operator: a standby's metrics must be scraped too. The caller
        # passes the operator settings with no metrics port, or it would bind this one again.
        prometheus_client.start_http_server(settings.metrics_port)
    api = await make_api_client(
        TransportSettings(request_timeout_s=settings.kube_request_timeout_seconds)
    )
    try:
        elector = LeaseElector(
            api,
            namespace=settings.leader_election_namespace or "default",
            name=settings.leader_election_id,
            lease_duration_s=settings.lease_duration_seconds,
            renew_deadline_s=settings.renew_deadline_seconds,
            retry_period_s=settings.retry_period_seconds,
        )
        LEADER.set(0)
        async with standby_health(settings.health_port):
            if not await _acquire_unless_stopped(elector, stop):
                return
        # The standby's server is closed now: kopf's liveness endpoint takes the same port.
        await _lead(elector, run, stop)
    finally:
        LEADER.set(0)
        await api.close()


async def _acquire_unless_stopped(elector: LeaseElector, stop: asyncio.Event) -> bool:
    acquiring = asyncio.create_task(elector.acquire(), name="lease acquisition")
    stopping = asyncio.create_task(stop.wait(), name="standby stop")
    try:
        await asyncio.wait({acquiring, stopping}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (acquiring, stopping):
            task.cancel()
        await asyncio.gather(acquiring, stopping, return_exceptions=True)
    if stop.is_set():
        # An acquisition that landed just now (or was cancelled in flight) is handed back.
        await elector.release()
        log.info("leader election: stopped while standing by")
        return False
    acquiring.result()  # acquire() only returns once leader; anything else is a bug, raised
    return True


async def _lead(
    elector: LeaseElector, run: Callable[[asyncio.Event], Awaitable[None]], stop: asyncio.Event
) -> None:
    LEADER.set(1)
    leader_stop = asyncio.Event()
    watchdog = Watchdog(elector)
    watchdog.start()
    # Both tasks exist before the operator starts: kopf cancels, when it stops, every task
    # created while it ran, and the lease must be renewed until the operator has stopped.
    holding = asyncio.create_task(elector.hold(leader_stop), name="lease renewal")
    forwarding = asyncio.create_task(_forward(stop, leader_stop), name="leader stop")
    running = asyncio.create_task(_call(run, leader_stop), name="operator")
    try:
        await asyncio.wait({holding, running}, return_when=asyncio.FIRST_COMPLETED)
        if holding.done():  # lost, or (a bug) renewal failed outright: either way, no lease
            stand_down(elector)
    finally:
        watchdog.stop()
        for task in (holding, forwarding):
            task.cancel()
        if not running.done():  # only when we are cancelled ourselves
            running.cancel()
        await asyncio.gather(holding, forwarding, running, return_exceptions=True)
        LEADER.set(0)
        # Also after the operator failed: the standby should not wait for the lease to expire.
        await elector.release()
    running.result()  # the operator's own failure, if any, after the lease is handed over


async def _call(run: Callable[[asyncio.Event], Awaitable[None]], stop: asyncio.Event) -> None:
    await run(stop)


async def _forward(source: asyncio.Event, target: asyncio.Event) -> None:
    await source.wait()
    target.set()


def stand_down(elector: LeaseElector) -> NoReturn:
    LEADER.set(0)
    log.critical(
        "leader election: leadership of lease %s lost; exiting (code %d) so that nothing of "
        "this leader's state outlives it; a restart rejoins as a standby",
        elector.where,
        LOST_EXIT_CODE,
    )
    _exit_now(LOST_EXIT_CODE)


def _exit_now(code: int) -> NoReturn:
    """No ``finally`` blocks, no graceful shutdown: they would act for a leadership that is
    over. Only the log is flushed, so the reason is on record."""
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(code)


class Watchdog(threading.Thread):
    """Ends the process if the leader is past its renew deadline and still has not stood down.

    The renewal task notices a missed deadline only when the event loop runs it; a loop busy
    for seconds (a big listing, a slow handler) would let a stale leader go on acting. A
    thread gets the interpreter every few milliseconds whatever the loop does.
    """

    def __init__(self, elector: LeaseElector, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__(name="leader watchdog", daemon=True)
        self._elector = elector
        self._clock = clock
        self._stopped = threading.Event()
        # Past the renewal task's own deadline, so that it normally speaks first, and still
        # well before the lease can be taken.
        self._grace_s = (
            min(elector.retry_period_s, elector.lease_duration_s - elector.renew_deadline_s) / 2
        )
        self._interval_s = max(0.01, self._grace_s / 2)

    def run(self) -> None:
        while not self._stopped.wait(self._interval_s):
            elector = self._elector
            if elector.leading and self._clock() > elector.valid_until + self._grace_s:
                log.critical(
                    "leader election: the event loop missed the renew deadline of lease %s",
                    elector.where,
                )
                stand_down(elector)

    def stop(self) -> None:
        self._stopped.set()


@contextlib.asynccontextmanager
async def standby_health(port: int) -> AsyncIterator[None]:
    """``/healthz`` answers 200 while standing by: a standby is healthy, and a liveness probe
    that failed on it would have the kubelet restart it forever."""
    if not port:
        yield
        return

    async def healthz(_: web.Request) -> web.Response:
        return web.json_response({"leader": False})

    app = web.Application()
    app.router.add_get("/healthz", healthz)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        # All interfaces, as kopf's liveness endpoint: the kubelet probes the pod's address.
        await web.TCPSite(runner, "0.0.0.0", port).start()  # noqa: S104
        yield
    finally:
        await runner.cleanup()


def stop_on_signals() -> asyncio.Event:
    """An event that SIGTERM and SIGINT set. Once leader, kopf installs its own handlers, which
    stop the operator; ``run_as_leader`` then releases the lease."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    return stop
