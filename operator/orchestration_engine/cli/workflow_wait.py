"""``wait`` and ``apply --wait``: follow workflows through their watch until each finishes,
show their steps as they advance, and turn the outcome into an exit code a script can use.

Exit codes: 0 every workflow Succeeded; 1 one Failed, RolledBack or was Cancelled (its
failing step's message is printed); 2 the timeout passed first; 3 nothing to wait for (the
workflow does not exist or was deleted, the cluster cannot be read, an invalid file).
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import Callable, Coroutine, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.text import Text

from orchestration_engine.api.workflow import KIND
from orchestration_engine.api.workflow import PLURAL as WORKFLOWS
from orchestration_engine.kube.client import ApiClient, make_api_client
from orchestration_engine.kube.follow import ChangeType, custom_objects, describe, follow
from orchestration_engine.kube.namespace import default_namespace

EXIT_SUCCEEDED = 0
EXIT_FAILED = 1
EXIT_TIMEOUT = 2
EXIT_ERROR = 3
EXIT_INTERRUPTED = 130
OUTCOMES = {
    "Succeeded": EXIT_SUCCEEDED,
    "Failed": EXIT_FAILED,
    "RolledBack": EXIT_FAILED,
    "Cancelled": EXIT_FAILED,
}

Key = tuple[str, str]  # namespace, name


class WaitFailed(RuntimeError):
    """Nothing to wait for: said plainly, exit code 3."""


# --- what a change means, in words (pure) ----------------------------------------------------


def label(key: Key) -> str:
    return f"{key[0]}/{key[1]}"


def succeeded_steps(status: Mapping[str, Any]) -> int:
    return sum(1 for s in status.get("steps") or [] if s.get("phase") == "Succeeded")


def _step_word(step: Mapping[str, Any]) -> str:
    phase = str(step.get("phase") or "Pending")
    if phase == "Running":
        return f"Running (attempt {step.get('attempts') or 1})"
    message = step.get("message")
    return f"{phase}: {message}" if message else phase


def changes(key: Key, old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    """One line per thing that moved between two statuses of a workflow: its phase (a
    finished one is left to ``outcome``), then its steps."""
    lines = []
    phase = new.get("phase") or "Pending"
    if (phase != (old.get("phase") or "Pending") or not old) and phase not in OUTCOMES:
        extra = ""
        if phase == "Queued" and new.get("queuePosition") is not None:
            extra = f" (position {new['queuePosition']})"
        if new.get("message"):
            extra += f": {new['message']}"
        lines.append(f"{label(key)}: {phase}{extra}")
    for stage, prefix in (("steps", "step"), ("rollbackSteps", "rollback step")):
        before = {s.get("name"): s for s in old.get(stage) or []}
        for step in new.get(stage) or []:
            seen = before.get(step.get("name")) or {}
            moved = (step.get("phase"), step.get("attempts")) != (
                seen.get("phase"),
                seen.get("attempts"),
            )
            if moved and (seen or step.get("phase") not in (None, "Pending")):
                lines.append(f"{label(key)}: {prefix} {step.get('name')} {_step_word(step)}")
    return lines


def outcome(key: Key, status: Mapping[str, Any], total: int) -> list[str]:
    """The final word on a finished workflow; a failure names each failing step."""
    phase = status.get("phase")
    done = f"{succeeded_steps(status)}/{total} steps succeeded"
    if phase == "Succeeded":
        return [f"{label(key)} Succeeded ({done})"]
    lines = [f"{label(key)} {phase} ({done}): {status.get('message') or 'no message'}"]
    for stage, prefix in (("steps", "step"), ("rollbackSteps", "rollback step")):
        for step in status.get(stage) or []:
            if step.get("phase") == "Failed":
                lines.append(f"  failed {prefix} {step.get('name')}: {step.get('message')}")
    return lines


# --- showing it ------------------------------------------------------------------------------


class Reporter(Protocol):
    def say(self, text: str, style: str = "") -> None: ...

    def show(self, key: Key, status: Mapping[str, Any], total: int) -> None: ...


class PlainReporter:
    """One line per change, no colour: logs and CI."""

    def say(self, text: str, style: str = "") -> None:
        sys.stdout.write(text + "\n")
        sys.stdout.flush()

    def show(self, key: Key, status: Mapping[str, Any], total: int) -> None:
        pass


class RichReporter:
    """A progress bar per workflow (steps succeeded of all), the changes printed above it."""

    def __init__(self, console: Console) -> None:
        self.progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("steps"),
            TimeElapsedColumn(),
            console=console,
        )
        self.tasks: dict[Key, TaskID] = {}

    def say(self, text: str, style: str = "") -> None:
        self.progress.console.print(Text(text, style=style), highlight=False)

    def show(self, key: Key, status: Mapping[str, Any], total: int) -> None:
        running = [s["name"] for s in status.get("steps") or [] if s.get("phase") == "Running"]
        phase = str(status.get("phase") or "Pending")
        description = f"{label(key)} [bold]{phase}[/bold]"
        if running:
            description += f" {', '.join(running)}"
        if key not in self.tasks:
            self.tasks[key] = self.progress.add_task(description, total=max(total, 1))
        self.progress.update(
            self.tasks[key],
            description=description,
            total=max(total, 1),
            completed=succeeded_steps(status),
        )


@contextlib.contextmanager
def reporter_for(console: Console) -> Iterator[Reporter]:
    if not console.is_terminal:
        yield PlainReporter()
        return
    rich = RichReporter(console)
    with rich.progress:
        yield rich


# --- following ---------------------------------------------------------------------------


@dataclass
class Tracked:
    status: dict[str, Any] = field(default_factory=dict)
    total: int = 0
    seen: bool = False


async def follow_workflows(
    api: ApiClient, keys: list[Key], timeout: float | None, reporter: Reporter
) -> int:
    """Wait for every workflow to finish; the exit code of the worst outcome."""
    tracked = {key: Tracked() for key in keys}
    queue: asyncio.Queue[tuple[Key, Any]] = asyncio.Queue()

    async def pump(key: Key) -> None:
        namespace, name = key
        source = custom_objects(api, WORKFLOWS, namespace, field_selector=f"metadata.name={name}")
        async for change in follow(api, source):
            await queue.put((key, change))

    tasks = [asyncio.create_task(pump(key)) for key in keys]
    pending = set(keys)
    codes: dict[Key, int] = {}
    try:
        async with asyncio.timeout(timeout):
            while pending:
                key, change = await queue.get()
                if key not in pending:
                    continue
                state = tracked[key]
                if change.type is ChangeType.ERROR:
                    if not state.seen:
                        raise WaitFailed(f"could not read {KIND} {label(key)}: {change.error}")
                    reporter.say(f"{label(key)}: watch interrupted, retrying: {change.error}")
                    continue
                if change.type is ChangeType.DELETED or not change.items:
                    if state.seen:
                        raise WaitFailed(f"{KIND} {label(key)} was deleted while waiting")
                    raise WaitFailed(f"no {KIND} {key[1]} in namespace {key[0]}")
                obj = change.items[-1]
                state.seen = True
                state.total = len((obj.get("spec") or {}).get("steps") or [])
                status = obj.get("status") or {}
                moved = changes(key, state.status, status)
                state.status = status
                reporter.show(key, status, state.total)
                for line in moved:
                    reporter.say(line)
                phase = status.get("phase")
                if phase in OUTCOMES:
                    pending.discard(key)
                    codes[key] = OUTCOMES[phase]
                    for line in outcome(key, status, state.total):
                        reporter.say(line, "green" if codes[key] == EXIT_SUCCEEDED else "red")
    except TimeoutError:
        for key in sorted(pending):
            state = tracked[key]
            reporter.say(
                f"timed out after {timeout:g}s waiting for {label(key)} "
                f"(phase {state.status.get('phase') or 'Pending'}, "
                f"{succeeded_steps(state.status)}/{state.total} steps succeeded)",
                "yellow",
            )
        return EXIT_FAILED if EXIT_FAILED in codes.values() else EXIT_TIMEOUT
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
    return max(codes.values(), default=EXIT_SUCCEEDED)


async def wait_for(
    keys: list[Key], timeout: float | None, console: Console, api: ApiClient | None = None
) -> int:
    """Follow ``keys`` with a fresh API client unless one is given."""
    own = api is None
    if api is None:
        try:
            api = await make_api_client()
        except Exception as error:
            raise WaitFailed(f"could not reach the cluster: {describe(error)}") from None
    try:
        with reporter_for(console) as reporter:
            return await follow_workflows(api, keys, timeout, reporter)
    finally:
        if own:
            await api.close()


def run_wait(
    name: str, namespace: str | None, timeout: float | None, out: Console, err: Console
) -> int:
    """The ``wait`` command: its exit code."""
    key = (namespace or default_namespace(), name)
    return run_guarded(lambda: wait_for([key], timeout, out), err)


def run_guarded(main: Callable[[], Coroutine[Any, Any, int]], err: Console) -> int:
    """Run a coroutine factory; WaitFailed and Ctrl-C become messages and exit codes."""
    try:
        return int(asyncio.run(main()))
    except WaitFailed as error:
        err.print(f"[red]error:[/red] {escape(str(error))}", highlight=False, soft_wrap=True)
        return EXIT_ERROR
    except KeyboardInterrupt:
        err.print("interrupted; the workflows go on running in the cluster")
        return EXIT_INTERRUPTED
