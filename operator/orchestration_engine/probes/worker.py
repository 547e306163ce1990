"""The probe worker: HTTP and TCP checks in a process of their own.

The operator's process holds kopf, the caches of every watched object, the store's
batches and the metrics registry; its collector's pauses and a `/metrics` scrape hold the
event loop for milliseconds, and a check that completes during one is timed that much too
slow (measured: 7 ms at p99 over 2,000 services). This process does nothing but check, with
a heap of a few megabytes, so the latency it reports is the service's.

Protocol, one JSON document per line. In (stdin): ``{"op": "upsert", "key": [ns, name],
"target": {...ProbeTarget...}, "period": 10.0}`` and ``{"op": "remove", "key": [ns, name]}``.
Out (stdout): ``{"key": [ns, name], "ok": true, "latency_ms": 1.2, "message": "", "kind":
null, "at": "2026-11-24T10:00:00+00:00"}``. End of input ends the process.

Run as ``python -m orchestration_engine.probes.worker [--max-connections N]``.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import sys
from typing import Any

from orchestration_engine.probes.http import HttpProber
from orchestration_engine.probes.result import CheckResult
from orchestration_engine.probes.scheduler import ProbeScheduler
from orchestration_engine.probes.target import ProbeTarget
from orchestration_engine.probes.tcp import check_tcp

Key = tuple[str, str]


def encode_result(key: Key, result: CheckResult) -> bytes:
    return (
        json.dumps(
            {
                "key": list(key),
                "ok": result.ok,
                "latency_ms": result.latency_ms,
                "message": result.message,
                "kind": result.kind.value if result.kind is not None else None,
                "at": result.checked_at.isoformat(),
            },
            separators=(",", ":"),
        ).encode()
        + b"\n"
    )


async def serve(max_connections: int) -> None:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=2**20)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    transport, protocol = await loop.connect_write_pipe(
        asyncio.streams.FlowControlMixin, sys.stdout
    )
    writer = asyncio.StreamWriter(transport, protocol, None, loop)
    prober = HttpProber(max_connections=max_connections)

    async def run_check(_key: Key, target: ProbeTarget) -> CheckResult:
        if target.kind == "http":
            return await prober.check(target.url, target.expected_status, target.timeout_s)
        return await check_tcp(target.host, target.port, target.timeout_s)

    def on_result(key: Key, result: CheckResult) -> None:
        writer.write(encode_result(key, result))

    scheduler: ProbeScheduler[Key, ProbeTarget] = ProbeScheduler(
        run_check=run_check, on_result=on_result, max_concurrency=max_connections
    )
    await scheduler.start()
    try:
        while line := await reader.readline():
            apply(scheduler, json.loads(line))
            await writer.drain()
    finally:
        await scheduler.stop()
        await prober.close()


def apply(scheduler: ProbeScheduler[Key, ProbeTarget], command: dict[str, Any]) -> None:
    key: Key = (command["key"][0], command["key"][1])
    if command["op"] == "remove":
        scheduler.remove(key)
        return
    target = command["target"]
    target["expected_status"] = tuple(target.get("expected_status", (200,)))
    scheduler.upsert(key, ProbeTarget(**target), float(command["period"]))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--max-connections", type=int, default=32)
    args = parser.parse_args()
    # Little here outlives a check: a higher first threshold lets those objects die young.
    gc.set_threshold(2000, 20, 20)
    try:
        import uvloop
    except ImportError:  # not on every platform: the standard loop works, only slower
        asyncio.run(serve(args.max_connections))
    else:
        # The worker is a loop of small I/O callbacks; uvloop runs them in a fraction of the
        # standard loop's time, which is what the check's tail latency is made of.
        uvloop.run(serve(args.max_connections))


if __name__ == "__main__":
    main()
