"""Benchmark: what a SIGKILL and a SIGTERM cost the metrics store, at 1,000 services' rate.

A child process runs a StoreWriter on a SQLite file and submits health_checks rows at 100 a
second (1,000 services checked every 10 s), writing each row's number to stdout once
submitted. The parent kills it after a few seconds, with SIGKILL (an OOM kill, a liveness
restart, a node losing power to the process but not the disk) or SIGTERM (an eviction, an
update: the writer drains for up to 10 s, spills the rest, and the next writer replays the
spill file), then starts a fresh writer on the same file, as the restarted pod does, and counts
which submitted rows are in the database.

Run: `python tests/bench/bench_store_kill.py` (about a minute). The figures are in
docs/fmea.md ("Store sizing").
"""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from orchestration_engine.store import StoreWriter, upgrade

RATE = 100  # rows a second
RUNS = 5
KILL_AFTER_S = 3.0


async def child(url: str) -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    writer = StoreWriter(url)
    await writer.start()
    number = 0
    started = time.monotonic()
    while not stop.is_set():
        number += 1
        writer.submit(
            "health_checks",
            {
                "timestamp": datetime.now(UTC),
                "namespace": "shop",
                "service": f"svc-{number % 1000:04d}",
                "ok": True,
                "latency_ms": 12.0,
                "health": "HEALTHY",
                "message": str(number),
            },
        )
        os.write(1, f"{number}\n".encode())
        await asyncio.sleep(max(0.0, started + number / RATE - time.monotonic()))
    await writer.stop()


async def replay(url: str) -> None:
    async with StoreWriter(url) as writer:
        await writer.flush()


def one_run(signum: int) -> tuple[int, int]:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "store.db"
        url = f"sqlite:///{path}"
        asyncio.run(upgrade(url))
        process = subprocess.Popen(
            [sys.executable, __file__, "--child", url], stdout=subprocess.PIPE, text=True
        )
        time.sleep(KILL_AFTER_S)
        process.send_signal(signum)
        out, _ = process.communicate(timeout=30)
        submitted = int(out.split()[-1])
        asyncio.run(replay(url))
        with sqlite3.connect(path) as connection:
            stored = {int(m) for (m,) in connection.execute("SELECT message FROM health_checks")}
        return submitted, len(set(range(1, submitted + 1)) - stored)


def main() -> None:
    for name, signum in (("SIGKILL", signal.SIGKILL), ("SIGTERM", signal.SIGTERM)):
        lost = [one_run(signum)[1] for _ in range(RUNS)]
        print(
            f"{name}: rows lost per kill at {RATE}/s over {RUNS} runs: {lost}"
            f" (median {statistics.median(lost)}, max {max(lost)})"
        )


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--child":
        asyncio.run(child(sys.argv[2]))
    else:
        main()
