"""The ``watch`` command's loop: four list-then-watch streams (the engine, the services, the
workflows and their Events) keep one in-memory picture, and every change redraws it — a rich
``Live`` on a terminal, one plain-text frame per change otherwise (pipes, logs, CI).

Watches rather than polling, so the screen moves as soon as the operator writes and an idle
cluster costs nothing. What is drawn is decided by cli/watch_view.py, from plain dicts.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from rich.console import Console
from rich.live import Live

from orchestration_engine.api.common import API_VERSION
from orchestration_engine.api.engine import PLURAL as ENGINES
from orchestration_engine.api.engine import SINGLETON_NAME
from orchestration_engine.api.service import PLURAL as SERVICES
from orchestration_engine.api.workflow import PLURAL as WORKFLOWS
from orchestration_engine.cli import watch_view
from orchestration_engine.kube import follow
from orchestration_engine.kube.client import ApiClient, make_api_client
from orchestration_engine.kube.follow import Change, ChangeType, Source, describe, list_items

ENGINE, SERVICE, WORKFLOW, EVENT = "engine", "services", "workflows", "events"
SOURCES = (ENGINE, SERVICE, WORKFLOW, EVENT)
# A burst of changes (a workflow admitting its steps) becomes one redraw.
SETTLE_SECONDS = 0.2
# Events kept in memory; the screen shows the newest watch_view.MAX_EVENTS.
KEEP_EVENTS = 200


class WatchFailed(RuntimeError):
    """The cluster could not be read at the start: nothing to show."""


def sources(api: ApiClient, namespace: str | None) -> dict[str, Source]:
    return {
        ENGINE: follow.custom_objects(
            api, ENGINES, None, field_selector=f"metadata.name={SINGLETON_NAME}"
        ),
        SERVICE: follow.custom_objects(api, SERVICES, namespace),
        WORKFLOW: follow.custom_objects(api, WORKFLOWS, namespace),
        EVENT: follow.events(
            api, namespace, field_selector=f"involvedObject.apiVersion={API_VERSION}"
        ),
    }


def _key(obj: Mapping[str, Any]) -> str:
    meta = obj.get("metadata") or {}
    return str(meta.get("uid") or f"{meta.get('namespace')}/{meta.get('name')}")


class Picture:
    """What is known of each source, kept current from its changes."""

    def __init__(self) -> None:
        self.objects: dict[str, dict[str, dict[str, Any]]] = {s: {} for s in SOURCES}

    def apply(self, source: str, change: Change) -> None:
        known = self.objects[source]
        if change.type is ChangeType.RESET:
            known.clear()
        for obj in change.items:
            if change.type is ChangeType.DELETED:
                known.pop(_key(obj), None)
            else:
                known[_key(obj)] = obj
        if source == EVENT and len(known) > KEEP_EVENTS:
            keep = {_key(e) for e in watch_view.newest_events(list(known.values()), KEEP_EVENTS)}
            for key in [k for k in known if k not in keep]:
                del known[key]

    def snapshot(self, namespace: str | None, note: str | None = None) -> watch_view.Snapshot:
        engines = list(self.objects[ENGINE].values())
        return watch_view.Snapshot(
            engine=engines[0] if engines else None,
            services=list(self.objects[SERVICE].values()),
            workflows=list(self.objects[WORKFLOW].values()),
            events=list(self.objects[EVENT].values()),
            namespace=namespace,
            note=note,
        )


def _title(view: watch_view.Frame) -> str:
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    return f"orchestration-engine watch: {view.scope} at {now}"


def _write(lines: list[str]) -> None:
    sys.stdout.write("\n".join(lines) + "\n")
    sys.stdout.flush()


async def watch_once(console: Console, namespace: str | None) -> None:
    """One frame from a list call of each source."""
    try:
        api = await make_api_client()
    except Exception as error:  # no kubeconfig, a broken one: said plainly
        raise WatchFailed(describe(error)) from None
    try:
        picture = Picture()
        for name, source in sources(api, namespace).items():
            try:
                items, _ = await list_items(api, source)
            except Exception as error:
                raise WatchFailed(f"{name}: {describe(error)}") from None
            picture.apply(name, Change(ChangeType.RESET, tuple(items)))
    finally:
        await api.close()
    view = watch_view.frame(picture.snapshot(namespace))
    if console.is_terminal:
        console.print(watch_view.render(view, live=False))
    else:
        _write(watch_view.plain(view))


async def watch_live(console: Console, namespace: str | None) -> None:
    """Redraw on every change until SIGINT or SIGTERM."""
    try:
        api = await make_api_client()
    except Exception as error:
        raise WatchFailed(describe(error)) from None
    picture = Picture()
    synced: set[str] = set()
    problems: dict[str, str] = {}
    wake = asyncio.Event()
    stop = asyncio.Event()
    fatal: list[str] = []

    async def pump(name: str, source: Source) -> None:
        async for change in follow.follow(api, source):
            if change.type is ChangeType.ERROR:
                if name not in synced:  # never read at all: give up with the reason
                    fatal.append(f"{name}: {change.error}")
                    stop.set()
                    return
                problems[name] = str(change.error)
            else:
                problems.pop(name, None)
                picture.apply(name, change)
                synced.add(name)
            wake.set()

    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    stop_waiter = asyncio.create_task(stop.wait())
    tasks = [
        asyncio.create_task(pump(name, source), name=f"watch-{name}")
        for name, source in sources(api, namespace).items()
    ]
    terminal = console.is_terminal
    live = Live(console=console, auto_refresh=False, redirect_stdout=False) if terminal else None
    last: list[str] | None = None
    try:
        with live if live is not None else contextlib.nullcontext():
            while not stop.is_set():
                wake_waiter = asyncio.create_task(wake.wait())
                await asyncio.wait({wake_waiter, stop_waiter}, return_when=asyncio.FIRST_COMPLETED)
                wake_waiter.cancel()
                if stop.is_set():
                    break
                await asyncio.sleep(SETTLE_SECONDS)
                wake.clear()
                if synced != set(SOURCES):
                    continue
                note = None
                if problems:
                    note = "watch interrupted, retrying: " + "; ".join(
                        f"{k}: {v}" for k, v in sorted(problems.items())
                    )
                view = watch_view.frame(picture.snapshot(namespace, note))
                if live is not None:
                    live.update(watch_view.render(view), refresh=True)
                    continue
                body = watch_view.plain(view)
                if body[1:] == last:  # nothing shown changed (only an unshown field did)
                    continue
                separator = [""] if last is not None else []
                last = body[1:]
                try:
                    _write([*separator, _title(view), *last])
                except BrokenPipeError:  # the reader went away (`| head`): a normal end
                    with contextlib.suppress(OSError):
                        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
                    break
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)
        for task in (*tasks, stop_waiter):
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await api.close()
    if fatal:
        raise WatchFailed("; ".join(fatal))
