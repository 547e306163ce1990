"""The ``orchestration-engine`` command line (typer): the application and its commands' options.

A command's logic lives in its own module (``run``, ``plan``, ``report_sources`` and
``report_view``, ``halt``, ``watch_live``, ``apply``, ``workflow_wait``, ``backup``), imported
when the command runs: ``--help`` must not pay for the Kubernetes client.
"""

from __future__ import annotations

import asyncio
import json
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from orchestration_engine import __version__
from orchestration_engine.api import crd
from orchestration_engine.app.settings import SettingsError, resolve
from orchestration_engine.cli.consoles import OutputFormat, err, out
from orchestration_engine.cli.plan import plan
from orchestration_engine.cli.run import run
from orchestration_engine.plumbing.nesting import allow_api_server_nesting

app = typer.Typer(
    name="orchestration-engine",
    help="Enterprise Orchestration Engine: a Kubernetes operator for service health and workflows.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


class Action(StrEnum):
    """The original engine's ``--action`` values."""

    START = "start"
    REPORT = "report"
    STATUS = "status"
    STOP = "stop"


def _version(value: bool) -> None:
    if value:
        out.print(__version__)
        raise typer.Exit()


@app.callback(invoke_without_command=True)
def main_callback(
    ctx: typer.Context,
    action: Annotated[
        Action | None,
        typer.Option(
            "--action", help="The original engine's verbs: start=run, report, status, stop=halt."
        ),
    ] = None,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version.")
    ] = False,
) -> None:
    # Every command may list workflows, and one the API server stores nested 10,000 deep
    # would make Python's JSON decoder fail the whole listing (plumbing/nesting.py).
    allow_api_server_nesting()
    if action is None:
        if ctx.invoked_subcommand is None:
            out.print(ctx.get_help())
        return
    if ctx.invoked_subcommand is not None:
        err.print("--action cannot be combined with a command")
        raise typer.Exit(2)
    if action is Action.START:
        ctx.invoke(run)
    elif action is Action.REPORT:
        ctx.invoke(report)
    elif action is Action.STATUS:
        ctx.invoke(status)
    else:
        ctx.invoke(halt, reason="requested with --action stop")
    raise typer.Exit()


app.command()(run)


DatabaseUrl = Annotated[
    str | None,
    typer.Option("--database-url", help="The metrics store (default: as `run` resolves it)."),
]


def _store_url(database_url: str | None) -> str:
    try:
        return resolve({"database_url": database_url}).database_url
    except SettingsError as error:
        err.print(f"[red]invalid settings:[/red] {error}")
        raise typer.Exit(2) from None


def _build_report(database_url: str | None) -> dict[str, Any]:
    from orchestration_engine.cli.report_sources import ReportUnavailable, build_report

    try:
        return asyncio.run(build_report(_store_url(database_url)))
    except ReportUnavailable as error:
        err.print(f"[red]no report:[/red] {error}")
        raise typer.Exit(1) from None


@app.command()
def report(
    format: Annotated[
        OutputFormat, typer.Option("--format", help="table or json.")
    ] = OutputFormat.TABLE,
    database_url: DatabaseUrl = None,
) -> None:
    """Print the orchestration report (from the cluster and the store)."""
    document = _build_report(database_url)
    if format is OutputFormat.JSON:
        sys.stdout.write(json.dumps(document, indent=2, default=str) + "\n")
        return
    from orchestration_engine.cli.report_view import print_report

    print_report(out, document)


@app.command()
def status(database_url: DatabaseUrl = None) -> None:
    """Print the engine's phase, emergency halt and counts."""
    from orchestration_engine.cli.report_view import print_status

    print_status(out, _build_report(database_url))


def _set_halt(halt: bool, reason: str | None) -> None:
    from orchestration_engine.cli.halt import set_halt

    try:
        message = asyncio.run(set_halt(halt, reason))
    except Exception as error:  # any failure to reach the cluster is reported, not raised
        err.print(f"[red]could not reach the cluster:[/red] {error}")
        raise typer.Exit(1) from None
    out.print(message)


@app.command()
def halt(reason: Annotated[str, typer.Option(help="Why the halt is asked for.")]) -> None:
    """Start a manual emergency halt (sets spec.halt on the engine)."""
    _set_halt(True, reason)


@app.command()
def resume() -> None:
    """Release a manual emergency halt."""
    _set_halt(False, None)


app.command()(plan)


# --- watch, apply, wait: the live view and following workflows (cli/watch_live.py,
# cli/apply.py, cli/workflow_wait.py hold the logic; these only declare the options) ---

WatchNamespace = Annotated[
    str | None, typer.Option("--namespace", "-n", help="Only this namespace (default: all).")
]
WaitNamespace = Annotated[
    str | None,
    typer.Option("--namespace", "-n", help="Default: the kubeconfig context's namespace."),
]
WaitTimeout = Annotated[
    float | None,
    typer.Option("--timeout", min=0, help="Give up after this many seconds (exit 2)."),
]


@app.command()
def watch(
    namespace: WatchNamespace = None,
    once: Annotated[bool, typer.Option("--once", help="Print one frame and exit.")] = False,
) -> None:
    """Show the engine, services, workflows and Events live, from watches (Ctrl-C quits)."""
    from rich.markup import escape

    from orchestration_engine.cli.watch_live import WatchFailed, watch_live, watch_once

    try:
        asyncio.run(watch_once(out, namespace) if once else watch_live(out, namespace))
    except KeyboardInterrupt:  # Ctrl-C before the loop took over the signal: a normal end
        return
    except WatchFailed as error:
        message = f"[red]could not read the cluster:[/red] {escape(str(error))}"
        err.print(message, highlight=False, soft_wrap=True)
        raise typer.Exit(1) from None


@app.command()
def apply(
    file: Annotated[Path, typer.Option("-f", "--file", help="A YAML file of objects.")],
    namespace: WaitNamespace = None,
    wait: Annotated[
        bool, typer.Option("--wait", help="Follow its workflows until they finish.")
    ] = False,
    timeout: WaitTimeout = None,
) -> None:
    """Server-side apply a file; --wait: exit 0/1/2 as its workflows succeed/fail/time out."""
    from orchestration_engine.cli.apply import run_apply

    raise typer.Exit(run_apply(file, namespace, wait, timeout, out, err))


@app.command(name="wait")
def wait_command(
    workflow: Annotated[str, typer.Argument(help="The OrchestrationWorkflow's name.")],
    namespace: WaitNamespace = None,
    timeout: WaitTimeout = None,
) -> None:
    """Follow a workflow to its end: exit 0 Succeeded, 1 Failed, 2 timeout, 3 not found."""
    from orchestration_engine.cli.workflow_wait import run_wait

    raise typer.Exit(run_wait(workflow, namespace, timeout, out, err))


@app.command()
def crds(
    output_dir: Annotated[
        Path | None, typer.Option(help="Write one file per CRD here instead of printing.")
    ] = None,
) -> None:
    """Print the CustomResourceDefinitions (generated from the models)."""
    if output_dir is None:
        sys.stdout.write(crd.render_all())
        return
    output_dir.mkdir(parents=True, exist_ok=True)
    for definition in crd.KINDS:
        (output_dir / crd.crd_file_name(definition)).write_text(crd.render(definition.to_k8s()))
        out.print(f"wrote {output_dir / crd.crd_file_name(definition)}")


# --- backup and restore (cli/backup.py holds the logic; these only declare the options) ---

BackupNamespaces = Annotated[
    list[str] | None,
    typer.Option("--namespace", "-n", help="Only these namespaces (repeatable; default: all)."),
]
BackupObjects = Annotated[
    bool, typer.Option("--objects/--no-objects", help="The custom objects (on).")
]
BackupStore = Annotated[bool, typer.Option("--store/--no-store", help="The metrics store (on).")]


@app.command()
def backup(
    to: Annotated[Path, typer.Option("--to", help="A new or empty directory to write into.")],
    database_url: DatabaseUrl = None,
    namespace: BackupNamespaces = None,
    objects: BackupObjects = True,
    store: BackupStore = True,
) -> None:
    """Save the custom objects and a consistent copy of the metrics store."""
    from orchestration_engine.cli.backup import run_backup

    url = _store_url(database_url) if store else ""
    raise typer.Exit(run_backup(to, url, namespace or [], objects, store, out, err))


@app.command()
def restore(
    from_: Annotated[Path, typer.Option("--from", help="A directory written by `backup`.")],
    database_url: DatabaseUrl = None,
    namespace: BackupNamespaces = None,
    objects: BackupObjects = True,
    store: BackupStore = True,
    force: Annotated[
        bool, typer.Option("--force", help="Replace a store that already holds rows.")
    ] = False,
) -> None:
    """Apply a backup's objects (server-side) and load its store; stop the operator first."""
    from orchestration_engine.cli.backup import run_restore

    url = _store_url(database_url) if store else ""
    raise typer.Exit(run_restore(from_, url, namespace or [], objects, store, force, out, err))


def main() -> None:
    app()
