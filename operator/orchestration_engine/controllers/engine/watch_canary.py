"""The watch canary (core/watch_liveness.py): a heartbeat written into the engine's status
every ``interval``, seen back through the engine's watch, judged by the liveness probe.

The heartbeat is a merge patch of one field (``status.heartbeatTime``), sent directly rather
than through the coalescing status writer: the canary needs to know when the API server
accepted it, and the keeper's own patches never touch that field. Each heartbeat goes over a
connection of its own, so a stuck connection of the shared pool can neither delay it nor pass
for a stalled watch. One write (and one TLS handshake) per interval, default a minute, is the
whole cost.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from orchestration_engine.core import watch_liveness as core
from orchestration_engine.kube.client import ApiClient
from orchestration_engine.kube.engine_object import EngineObject
from orchestration_engine.kube.errors import KubeError
from orchestration_engine.plumbing.periodic import Periodic, every

log = logging.getLogger(__name__)

WRITE_TIMEOUT_S = 10.0


class WatchCanary:
    def __init__(
        self,
        connect: Callable[[], Awaitable[ApiClient]],
        *,
        interval_s: float = 60.0,
        stall_after_s: float = 180.0,
        monotonic: Callable[[], float] = time.monotonic,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._connect = connect
        self.interval_s = interval_s
        self.stall_after_s = stall_after_s
        self._monotonic = monotonic
        self._now = now
        self.state = core.CanaryState()
        self._task = Periodic("watch-canary", every(lambda: self.interval_s, self.beat))

    def observed(self, body: Mapping[str, Any]) -> None:
        """An engine watch event (the handler calls this for every one)."""
        token = core.heartbeat_of(body)
        if token is not None:
            self.state = core.seen(self.state, token, self._monotonic())

    def probe(self) -> str:
        """For the liveness probe: a description when alive; raises when stalled."""
        alive, why = core.verdict(self.state, self._monotonic(), self.stall_after_s)
        if not alive:
            raise RuntimeError(why)
        return why

    async def beat(self) -> bool:
        """One heartbeat; False when the API server did not accept it."""
        token = core.token_at(self._now())
        self.state = core.sent(self.state, token, self._monotonic())
        try:
            api = await self._connect()
            try:
                await asyncio.wait_for(
                    EngineObject(api).patch_status(core.heartbeat_patch(token)["status"]),
                    timeout=WRITE_TIMEOUT_S,
                )
            finally:
                await api.close()
        except (KubeError, OSError, TimeoutError) as error:
            log.info("watch canary: heartbeat not written (%s)", getattr(error, "reason", error))
            self.state = core.refused(self.state)
            return False
        self.state = core.written(self.state, token, self._monotonic())
        return True

    async def start(self) -> None:
        await self._task.start()

    async def stop(self) -> None:
        await self._task.stop()
