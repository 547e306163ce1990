"""The operator's side of the probe worker (probes/worker.py): a scheduler whose checks run
in a child process.

``upsert`` and ``remove`` are sent to the worker as they happen; results come back as lines
and go to ``on_result`` in the operator's loop. The worker's targets are kept here too, so a
worker that dies is started again with all of them; its results never block anything.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import sys
from collections.abc import Callable
from dataclasses import asdict
from datetime import datetime
from typing import Any

from orchestration_engine.core.prober_health import FailureKind
from orchestration_engine.plumbing.lifecycle import Lifecycle
from orchestration_engine.plumbing.supervision import supervise
from orchestration_engine.probes.result import CheckResult
from orchestration_engine.probes.target import ProbeTarget

log = logging.getLogger(__name__)

Key = tuple[str, str]
RESTART_DELAY_SECONDS = 1.0


class RemoteProbeScheduler(Lifecycle):
    def __init__(
        self,
        on_result: Callable[[Key, CheckResult], None],
        *,
        max_connections: int = 32,
        command: list[str] | None = None,
    ) -> None:
        self._on_result = on_result
        self._command = command or [
            sys.executable,
            "-m",
            "orchestration_engine.probes.worker",
            "--max-connections",
            str(max_connections),
        ]
        self._targets: dict[Key, tuple[ProbeTarget, float]] = {}
        self._process: asyncio.subprocess.Process | None = None
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self.restarts = 0
        self.results = 0

    def __len__(self) -> int:
        return len(self._targets)

    def __contains__(self, key: object) -> bool:
        return key in self._targets

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def upsert(self, key: Key, target: ProbeTarget, period_s: float) -> None:
        if self._targets.get(key) == (target, period_s):
            return
        self._targets[key] = (target, period_s)
        self._send(_upsert(key, target, period_s))

    def remove(self, key: Key) -> None:
        if self._targets.pop(key, None) is not None:
            self._send({"op": "remove", "key": list(key)})

    def _send(self, command: dict[str, Any]) -> None:
        process = self._process
        if process is None or process.stdin is None or process.stdin.is_closing():
            return  # the worker (re)starts with every target
        process.stdin.write(json.dumps(command, separators=(",", ":")).encode() + b"\n")

    async def start(self) -> None:
        self._stopping = False
        await self._spawn()
        self._task = supervise("probe-worker", self._supervise)

    async def stop(self) -> None:
        self._stopping = True
        process = self._process
        if process is not None and process.stdin is not None:
            process.stdin.close()  # end of input: the worker stops its checks and exits
            try:
                await asyncio.wait_for(process.wait(), 5)
            except TimeoutError:
                process.kill()
                await process.wait()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _spawn(self) -> None:
        self._process = await asyncio.create_subprocess_exec(
            *self._command,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            limit=2**20,
        )
        for key, (target, period) in self._targets.items():
            self._send(_upsert(key, target, period))

    async def _supervise(self) -> None:
        while True:
            process = self._process
            assert process is not None
            assert process.stdout is not None
            while line := await process.stdout.readline():
                self._deliver(line)
            code = await process.wait()
            if self._stopping:
                return
            self.restarts += 1
            log.error("probe worker exited with %s; starting it again", code)
            await asyncio.sleep(RESTART_DELAY_SECONDS)
            await self._spawn()

    def _deliver(self, line: bytes) -> None:
        try:
            document = json.loads(line)
            key: Key = (document["key"][0], document["key"][1])
            result = CheckResult(
                ok=bool(document["ok"]),
                latency_ms=document["latency_ms"],
                message=str(document["message"]),
                checked_at=datetime.fromisoformat(document["at"]),
                kind=FailureKind(document["kind"]) if document.get("kind") else None,
            )
        except (ValueError, KeyError, TypeError) as error:
            log.error("unreadable line from the probe worker: %s", error)
            return
        if key not in self._targets:
            return  # removed while its check was in flight
        self.results += 1
        try:
            self._on_result(key, result)
        except Exception:
            log.exception("handling the result of %s/%s failed", *key)


def _upsert(key: Key, target: ProbeTarget, period_s: float) -> dict[str, Any]:
    body = asdict(target)
    body["expected_status"] = list(target.expected_status)
    return {"op": "upsert", "key": list(key), "target": body, "period": period_s}
