"""Automatic failover and failback of OrchestratedServices (API.md, Failover).

Event-driven: the monitor calls ``changed`` when a service's health, spec or either workload
changes, and core/failover.py decides. A switch runs as a task (one per service at a time);
a failback waiting out its delay, or a retry waiting out its backoff, is a timer handle, not
a task, so an idle fleet costs nothing.

What is true is read back, never assumed: the first time a service with failover is seen
(at start-up, after a restart), the Service's selector says where its traffic goes, and the
status follows it. A switch sets targets (replicas if at zero, the whole selector), so one
repeated after a crash lands in the same place.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any, Literal

from orchestration_engine.actions.base import StepFailed
from orchestration_engine.controllers.services.failover import ServiceFailover
from orchestration_engine.controllers.services.service_monitor import Key, ServiceMonitor
from orchestration_engine.core import failover as policy
from orchestration_engine.core.health import held_by_inconclusive_checks
from orchestration_engine.kube.client import ApiClient
from orchestration_engine.kube.errors import KubeError
from orchestration_engine.kube.traffic_switch import SwitchFailed, observe_target

log = logging.getLogger(__name__)


@dataclass
class _Track:
    verified: bool = False
    active_seen: policy.Target | None = None
    primary_healthy_since: float | None = None
    last_switch_at: float | None = None
    failures: int = 0
    retry_at: float | None = None
    task: asyncio.Task[None] | None = None
    switching: bool = False
    timer: asyncio.TimerHandle | None = None


class FailoverController:
    def __init__(
        self,
        api: ApiClient,
        monitor: ServiceMonitor,
        switch: ServiceFailover,
        *,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.api = api
        self.monitor = monitor
        self.switch = switch
        self._monotonic = monotonic
        self._tracks: dict[Key, _Track] = {}
        self._closed = False

    def changed(self, key: Key) -> None:
        """A change listener of the monitor: something a decision depends on changed, so a
        failed attempt's backoff no longer applies (a standby created, a Service fixed)."""
        track = self._tracks.get(key)
        if track is not None:
            track.retry_at = None
        self._evaluate(key)

    def switching(self) -> int:
        """Switches under way (for the engine's phase)."""
        return sum(1 for t in self._tracks.values() if t.switching)

    def sweep(self) -> None:
        """Look at every service with failover again, backoffs waived (each engine round of
        an emergency halt)."""
        for key, entry in list(self.monitor.services.items()):
            if entry.spec is not None and entry.spec.failover is not None:
                self.changed(key)

    async def close(self) -> None:
        self._closed = True
        tasks = []
        for track in self._tracks.values():
            if track.timer is not None:
                track.timer.cancel()
            if track.task is not None:
                track.task.cancel()
                tasks.append(track.task)
        await asyncio.gather(*tasks, return_exceptions=True)

    # --- internals ------------------------------------------------------------------------

    def _forget(self, key: Key) -> None:
        track = self._tracks.pop(key, None)
        if track is None:
            return
        if track.timer is not None:
            track.timer.cancel()
        if track.task is not None:
            track.task.cancel()

    def _evaluate(self, key: Key) -> None:
        if self._closed:
            return
        entry = self.monitor.services.get(key)
        if entry is None or entry.spec is None or entry.spec.failover is None:
            self._forget(key)
            return
        track = self._tracks.setdefault(key, _Track())
        if track.task is not None:
            return  # the task looks again when it ends
        if not track.verified:
            track.task = self._start(key, self._verify(key), "verify")
            return
        if held_by_inconclusive_checks(entry.state, entry.inconclusive):
            # The prober suspects itself (controllers/services/prober_watch.py): this service's
            # latest check says nothing about it, so nothing switches, either way, until one does.
            # A failback's delay starts again from a conclusive healthy check.
            track.primary_healthy_since = None
            if track.timer is not None:
                track.timer.cancel()
                track.timer = None
            return
        now = self._monotonic()
        active = policy.target_of(entry.active_target)
        primary_ready = self.monitor.primary_ready(key)
        seen = policy.observe(
            policy.Seen(track.active_seen, track.primary_healthy_since, track.last_switch_at),
            active,
            policy.primary_healthy(entry.state.health, active, primary_ready),
            now,
        )
        track.active_seen, track.primary_healthy_since = seen.active, seen.primary_healthy_since
        track.last_switch_at = seen.last_switch_at
        failover = entry.spec.failover
        verdict = policy.decide(
            policy.FailoverFacts(
                health=entry.state.health,
                active=active,
                automatic_failback=failover.automatic_failback,
                can_fail_back=entry.spec.workload_ref is not None,
                primary_ready=primary_ready,
                primary_healthy_since=track.primary_healthy_since,
                last_switch_at=track.last_switch_at,
                failback_delay_s=float(failover.failback_delay_seconds),
                retry_at=track.retry_at,
            ),
            now,
        )
        if track.timer is not None:
            track.timer.cancel()
            track.timer = None
        if verdict.wake_at is not None:
            delay = max(0.0, verdict.wake_at - now) + 0.01
            # A fresh context: a workflow step's ``transient.within`` deadline (this may run
            # from a failover step's record_failover) must not bound later switches.
            track.timer = asyncio.get_running_loop().call_later(
                delay, self._evaluate, key, context=contextvars.Context()
            )
        if verdict.switch_to is not None:
            track.task = self._start(key, self._switch(key, verdict.switch_to), "switch")

    def _start(self, key: Key, work: Coroutine[Any, Any, None], what: str) -> asyncio.Task[None]:
        task = asyncio.create_task(
            work, name=f"failover-{what}-{key[1]}", context=contextvars.Context()
        )
        task.add_done_callback(lambda _t: self._done(key))
        return task

    def _done(self, key: Key) -> None:
        track = self._tracks.get(key)
        if track is not None:
            track.task = None
            if not self._closed:
                asyncio.get_running_loop().call_soon(self._evaluate, key)

    async def _verify(self, key: Key) -> None:
        entry = self.monitor.services.get(key)
        track = self._tracks.get(key)
        if entry is None or entry.spec is None or track is None:
            return
        try:
            actual = await observe_target(self.api, key[0], entry.spec)
        except KubeError as error:
            log.warning(
                "cannot read where %s/%s sends traffic (%s); trusting its status",
                *key,
                error,
            )
            actual = None
        if actual is not None and actual != entry.active_target:
            log.info("%s/%s: the Service's selector says traffic goes to the %s", *key, actual)
            self.monitor.correct_target(key, actual)
        track.verified = True

    async def _switch(self, key: Key, to: Literal["standby", "primary"]) -> None:
        track = self._tracks.get(key)
        if track is None:
            return
        track.switching = True
        try:
            message = await self.switch(key[0], key[1], to)
        except SwitchFailed as error:
            self._failed(key, track, error.reason, str(error))
        except KubeError as error:
            self._failed(key, track, "ApiError", f"switching to the {to}: {error}")
        except StepFailed as error:
            self._failed(key, track, "SwitchFailed", str(error))
        else:
            log.warning("%s/%s: %s", *key, message)
            track.last_switch_at = self._monotonic()
            track.active_seen = to
            track.failures = 0
            track.retry_at = None
            track.primary_healthy_since = None
        finally:
            track.switching = False

    def _failed(self, key: Key, track: _Track, reason: str, message: str) -> None:
        track.failures += 1
        track.retry_at = policy.next_retry(self._monotonic(), track.failures)
        log.error("%s/%s: failover failed (%s): %s", *key, reason, message)
        self.monitor.set_failover_problem(key, (reason, message))
