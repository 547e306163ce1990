"""``orchestration-engine run``: the operator, with its settings from flags, environment and file.

Each option that sets an ``OperatorSettings`` field is named in ``RUN_OPTION_FIELDS`` and
defaults to None ("not given"), so that ``resolve()`` can put flags above the environment and
the config file; the defaults live in ``app/settings.py`` alone, and the help texts quote them.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Annotated, Any

import typer

from orchestration_engine.app.settings import OperatorSettings, SettingsError, resolve
from orchestration_engine.cli.consoles import err

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
