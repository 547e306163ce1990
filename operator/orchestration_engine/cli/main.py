"""The ``orchestration-engine`` command line (typer)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
from collections.abc import Callable, Coroutine
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from orchestration_engine import __version__
from orchestration_engine.api import crd
from orchestration_engine.app.settings import OperatorSettings, SettingsError, resolve
from orchestration_engine.cli.manifests import ManifestError, load_documents, parse_workflow
from orchestration_engine.core import dag
from orchestration_engine.core.plan import plan_workflow
from orchestration_engine.plumbing.nesting import allow_api_server_nesting

app = typer.Typer(
    name="orchestration-engine",
    help="Enterprise Orchestration Engine: a Kubernetes operator for service health and workflows.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
out = Console()
err = Console(stderr=True)


class Action(StrEnum):
    """The original engine's ``--action`` values."""

    START = "start"
    REPORT = "report"
    STATUS = "status"
    STOP = "stop"


class OutputFormat(StrEnum):
    TABLE = "table"
    JSON = "json"


# The `run` options that set an OperatorSettings field, by parameter name (the field's own name
# unless said). Every option defaults to None, "not given", so that resolve() can put flags
# above the environment and the config file; the defaults live in OperatorSettings alone and
# the help texts quote them from there.
RUN_OPTION_FIELDS: dict[str, str] = {
    "namespace": "namespaces",
    "database_url": "database_url",
    "metrics_port": "metrics_port",
    "health_port": "health_port",
    "quantum": "quantum",
    "ai": "ai",
    "max_workflows": "max_workflows",
    "monitoring_interval_seconds": "monitoring_interval",
    "check_retention_days": "check_retention_days",
    "history_retention_days": "history_retention_days",
    "store_max_size": "store_max_size",
    "store_spill_path": "store_spill_path",
    "status_heartbeat_seconds": "status_heartbeat_seconds",
    "halt_settle_seconds": "halt_settle_seconds",
    "watch_heartbeat_seconds": "watch_heartbeat_seconds",
    "watch_stall_seconds": "watch_stall_seconds",
    "relist_seconds": "relist_seconds",
    "scaling_metrics_interval_seconds": "scaling_metrics_interval_seconds",
    "webhook_port": "webhook_port",
    "webhook_cert_dir": "webhook_cert_dir",
    "probe_process": "probe_process",
    "emergency_halt": "emergency_halt",
    "leader_elect": "leader_election",
    "lease_duration_seconds": "lease_duration_seconds",
    "renew_deadline_seconds": "renew_deadline_seconds",
    "retry_period_seconds": "retry_period_seconds",
    "kube_api_qps": "kube_api_qps",
    "kube_api_burst": "kube_api_burst",
    "kube_request_timeout_seconds": "kube_request_timeout_seconds",
}
# The settings with no `run` option: the ORCHESTRATION_CONFIG file sets them (and
# leader_election_namespace also comes from POD_NAMESPACE).
CONFIG_FILE_ONLY = frozenset(
    {
        "rollup_retention_days",
        "max_concurrent_checks",
        "probes_degraded_clear_seconds",
        "leader_election_namespace",
        "leader_election_id",
    }
)


def default_text(field: str) -> str:
    """An OperatorSettings field's default as the help texts write it: 60, on, off, none."""
    value = OperatorSettings.model_fields[field].get_default(call_default_factory=True)
    if value is True:
        return "on"
    if value is False:
        return "off"
    if value is None:
        return "none"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _help(field: str, text: str, note: str = "") -> str:
    """A `run` option's help, ending in the setting's default: "text (default; note)."."""
    return f"{text} ({'; '.join(filter(None, (default_text(field), note)))})."


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


@app.command()
def run(
    namespace: Annotated[
        list[str] | None,
        typer.Option("--namespace", "-n", help="Watch this namespace (repeatable)."),
    ] = None,
    all_namespaces: Annotated[
        bool, typer.Option("--all-namespaces", "-A", help="Watch every namespace (the default).")
    ] = False,
    database_url: Annotated[
        str | None,
        typer.Option(help=_help("database_url", "sqlite:///path or postgresql://…")),
    ] = None,
    metrics_port: Annotated[
        int | None, typer.Option(help=_help("metrics_port", "Prometheus metrics port"))
    ] = None,
    health_port: Annotated[
        int | None, typer.Option(help=_help("health_port", "Liveness endpoint port"))
    ] = None,
    quantum: Annotated[
        bool | None, typer.Option("--quantum/--no-quantum", help="QUANTUM_ENHANCED optimisation.")
    ] = None,
    ai: Annotated[bool | None, typer.Option("--ai/--no-ai", help="Recommendations.")] = None,
    max_workflows: Annotated[
        int | None, typer.Option(help="Override the engine's maxConcurrentWorkflows.")
    ] = None,
    monitoring_interval_seconds: Annotated[
        int | None,
        typer.Option(help="Override the engine's monitoringIntervalSeconds (MONITORING_INTERVAL)."),
    ] = None,
    check_retention_days: Annotated[
        float | None,
        typer.Option(
            help=_help("check_retention_days", "Keep raw checks this long, then hourly roll-ups")
        ),
    ] = None,
    history_retention_days: Annotated[
        float | None,
        typer.Option(
            help=_help(
                "history_retention_days",
                "Keep events, workflow rows and engine rounds in the store this long",
            )
        ),
    ] = None,
    store_max_size: Annotated[
        str | None,
        typer.Option(
            help=_help(
                "store_max_size",
                "The store's size budget: bytes, 1536Mi, or for SQLite 80% of its volume; the"
                " oldest rows go when it is passed",
            )
        ),
    ] = None,
    store_spill_path: Annotated[
        str | None,
        typer.Option(help="The spill file (beside the SQLite file, or in the temp directory)."),
    ] = None,
    status_heartbeat_seconds: Annotated[
        float | None,
        typer.Option(
            help=_help(
                "status_heartbeat_seconds",
                "How often unchanged services' counters and uptime are written",
            )
        ),
    ] = None,
    halt_settle_seconds: Annotated[
        float | None,
        typer.Option(
            help=_help(
                "halt_settle_seconds",
                "An automatic emergency halt clears after its cause is gone this long",
            )
        ),
    ] = None,
    watch_heartbeat_seconds: Annotated[
        float | None,
        typer.Option(
            help=_help(
                "watch_heartbeat_seconds",
                "How often the liveness canary writes the engine's heartbeat",
            )
        ),
    ] = None,
    watch_stall_seconds: Annotated[
        float | None,
        typer.Option(
            help=_help(
                "watch_stall_seconds",
                "Liveness fails when a heartbeat is not back through the watch this long",
            ),
        ),
    ] = None,
    relist_seconds: Annotated[
        float | None,
        typer.Option(
            help=_help(
                "relist_seconds", "How often each kind is LISTed to find deletions a watch missed"
            )
        ),
    ] = None,
    scaling_metrics_interval_seconds: Annotated[
        float | None,
        typer.Option(
            help=_help(
                "scaling_metrics_interval_seconds", "How often scaling.prometheus queries run"
            )
        ),
    ] = None,
    webhook_port: Annotated[
        int | None,
        typer.Option(
            help=_help(
                "webhook_port", "Serve the validating admission webhook on this port; 0: off"
            )
        ),
    ] = None,
    webhook_cert_dir: Annotated[
        str | None,
        typer.Option(
            help=_help(
                "webhook_cert_dir", "The webhook's tls.crt and tls.key", "re-read when they change"
            )
        ),
    ] = None,
    probe_process: Annotated[
        bool | None,
        typer.Option(
            "--probe-process/--no-probe-process",
            help=_help("probe_process", "Run HTTP and TCP checks in a child process of their own"),
        ),
    ] = None,
    emergency_halt: Annotated[
        bool | None,
        typer.Option(
            "--emergency-halt/--no-emergency-halt",
            help="Override the engine's emergencyHaltEnabled (the manual halt always works).",
        ),
    ] = None,
    leader_elect: Annotated[
        bool | None,
        typer.Option(
            "--leader-elect/--no-leader-elect",
            help=_help(
                "leader_election", "Act only while holding a Lease, so replicas can stand by"
            ),
        ),
    ] = None,
    lease_duration_seconds: Annotated[
        float | None,
        typer.Option(
            help=_help("lease_duration_seconds", "How long a standby waits before taking the lease")
        ),
    ] = None,
    renew_deadline_seconds: Annotated[
        float | None,
        typer.Option(
            help=_help("renew_deadline_seconds", "The leader stops if it cannot renew this long")
        ),
    ] = None,
    retry_period_seconds: Annotated[
        float | None,
        typer.Option(
            help=_help("retry_period_seconds", "How often the lease is renewed or looked at")
        ),
    ] = None,
    # --- the operator's own API client (kube/transport.py) ---
    kube_api_qps: Annotated[
        float | None,
        typer.Option(
            help=_help(
                "kube_api_qps",
                "Client-side limit of API requests per second, as client-go",
                "0: off",
            )
        ),
    ] = None,
    kube_api_burst: Annotated[
        int | None,
        typer.Option(
            help=_help("kube_api_burst", "API requests allowed at once above the QPS limit")
        ),
    ] = None,
    kube_request_timeout_seconds: Annotated[
        float | None,
        typer.Option(
            help=_help(
                "kube_request_timeout_seconds",
                "The most one API request may take; a silent connection fails in 10",
            )
        ),
    ] = None,
    # --- the log (plumbing/logs.py) ---
    log_format: Annotated[
        str | None,
        typer.Option(help="text or json: one JSON object per line (LOG_FORMAT; text)."),
    ] = None,
    log_level: Annotated[
        str | None, typer.Option(help="DEBUG, INFO, WARNING, ERROR (LOG_LEVEL; INFO).")
    ] = None,
    log_level_module: Annotated[
        list[str] | None,
        typer.Option(
            help="MODULE=LEVEL, e.g. orchestration_engine.store=DEBUG or kopf=WARNING "
            "(repeatable; LOG_LEVELS takes a comma-separated list)."
        ),
    ] = None,
) -> None:
    """Run the operator."""
    given = dict(locals())  # the parameters, by name
    if namespace and all_namespaces:
        err.print("--namespace and --all-namespaces exclude each other")
        raise typer.Exit(2)
    try:
        settings = resolve({RUN_OPTION_FIELDS[name]: given[name] for name in RUN_OPTION_FIELDS})
    except SettingsError as error:
        err.print(f"[red]invalid settings:[/red] {error}")
        raise typer.Exit(2) from None
    from orchestration_engine.plumbing import logs

    try:
        logs.configure(logs.resolve_log_settings(log_format, log_level, log_level_module))
    except logs.LogConfigError as error:
        err.print(f"[red]invalid settings:[/red] {error}")
        raise typer.Exit(2) from None
    from orchestration_engine.app.runtime import operate

    if not settings.leader_election:
        from orchestration_engine.plumbing.metrics import LEADER

        LEADER.set(1)  # the one instance always acts
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(_with_webhook(settings, lambda: operate(settings)))
        return
    from orchestration_engine.app.leadership import run_as_leader, stop_on_signals

    # run_as_leader serves the metrics from the standby phase on; the operator must not bind
    # the same port again.
    leading = settings.model_copy(update={"metrics_port": 0})

    async def elected() -> None:
        await run_as_leader(
            settings, lambda stop: operate(leading, stop_flag=stop), stop=stop_on_signals()
        )

    asyncio.run(_with_webhook(settings, elected))


async def _with_webhook(
    settings: OperatorSettings, main: Callable[[], Coroutine[Any, Any, None]]
) -> None:
    """The admission webhook, when enabled, serves on every replica, leader or not."""
    if not settings.webhook_port:
        await main()
        return
    from orchestration_engine.app.webhook import serving
    from orchestration_engine.kube.client import make_api_client

    api = await make_api_client()
    try:
        async with serving(settings.webhook_port, Path(settings.webhook_cert_dir), api):
            await main()
    finally:
        await api.close()


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


@app.command()
def plan(
    file: Annotated[
        Path, typer.Option("-f", "--file", help="A YAML file of OrchestrationWorkflows.")
    ],
    format: Annotated[
        OutputFormat, typer.Option("--format", help="table or json.")
    ] = OutputFormat.TABLE,
) -> None:
    """Validate workflows offline and print their execution order in waves."""
    try:
        documents = load_documents(file)
        plans = []
        for document in documents:
            manifest = parse_workflow(document, str(file))
            try:
                plans.append((manifest, plan_workflow(manifest.spec)))
            except dag.GraphError as error:
                raise ManifestError(
                    f"{file} (OrchestrationWorkflow {manifest.name})",
                    [str(p.message) for p in error.problems],
                ) from None
    except ManifestError as error:
        err.print(f"[red]invalid:[/red] {error.source}")
        for problem in error.problems:
            err.print(f"  - {problem}", markup=False, highlight=False)
        raise typer.Exit(1) from None

    if format is OutputFormat.JSON:
        payload = [
            {"name": m.name, "waves": p.waves, "rollbackOrder": p.rollback_order} for m, p in plans
        ]
        out.print_json(json.dumps(payload))
        return
    for manifest, result in plans:
        out.print(
            f"[bold]{manifest.name}[/bold] (priority {manifest.spec.priority.value}): "
            f"{result.step_count} steps in {len(result.waves)} waves"
        )
        for index, wave in enumerate(result.waves, start=1):
            out.print(f"  wave {index}: {', '.join(wave)}", highlight=False)
        if result.rollback_order:
            out.print(
                f"  rollback (last step first): {', '.join(result.rollback_order)}", highlight=False
            )


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
