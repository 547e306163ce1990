"""The operator's run-time settings and where each comes from.

Precedence, highest first: command-line flags, environment variables, the
``ORCHESTRATION_CONFIG`` YAML file, then built-in defaults. (The engine object's ``spec`` sits
between the file and the defaults; it is read at run time by the engine handler.)
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from orchestration_engine.store.url import DEFAULT_DATABASE_URL


class SettingsError(ValueError):
    pass


class OperatorSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    namespaces: list[str] = Field(default_factory=list)  # empty: every namespace
    database_url: str = DEFAULT_DATABASE_URL
    metrics_port: int = Field(default=8080, ge=0, le=65535)
    health_port: int = Field(default=8081, ge=0, le=65535)
    quantum: bool | None = None
    ai: bool | None = None
    max_workflows: int | None = Field(default=None, ge=1)
    monitoring_interval: int | None = Field(default=None, ge=1)
    # Counters, latency and uptime are written at most this often when nothing else changes.
    status_heartbeat_seconds: float = Field(default=60.0, gt=0)
    # Also the HTTP connection pool's size: more checks in flight than connections would only
    # queue inside httpcore, whose pool rescans its queue on every change (quadratic).
    max_concurrent_checks: int = Field(default=32, ge=1)
    # HTTP and TCP checks run in a child process of their own (probes/worker.py), away from
    # the operator's collector pauses and scrapes; off: in the operator's own event loop.
    probe_process: bool = True
    # The validating admission webhook (app/webhook.py): off at 0.
    webhook_port: int = Field(default=0, ge=0, le=65535)
    webhook_cert_dir: str = "/etc/orchestration-engine/webhook"
    # Raw checks older than this are rolled up into hourly rows; roll-ups are kept longer.
    check_retention_days: float = Field(default=7, gt=0)
    rollup_retention_days: float = Field(default=90, gt=0)
    # Events, workflow rows and engine rounds in the store are deleted after this long.
    history_retention_days: float = Field(default=90, gt=0)
    # Retention by size (store/budget.py): bytes, a quantity ("1536Mi") or, for a SQLite
    # file, a share of its volume ("80%"); None: no budget (age retention alone).
    store_max_size: str | int | None = None
    # Where rows wait while the database is unreachable (None: beside the SQLite file, or the
    # temporary directory for PostgreSQL); the chart points it at the store's volume.
    store_spill_path: str | None = None
    # An automatic emergency halt clears once its cause has been gone this long (no flapping).
    halt_settle_seconds: float = Field(default=60.0, gt=0)
    # The liveness probe's watch canary (controllers/engine/watch_canary.py).
    watch_heartbeat_seconds: float = Field(default=60.0, gt=0, le=3600)
    watch_stall_seconds: float = Field(default=180.0, gt=0, le=86400)
    # How often each watched kind is LISTed to find deletions its watch never reported (also
    # after every re-list kopf reports): app/handlers/relist.py.
    relist_seconds: float = Field(default=60.0, gt=0, le=86400)
    # How often ``scaling.prometheus`` queries are run.
    scaling_metrics_interval_seconds: float = Field(default=15.0, gt=0, le=3600)
    # The operator's own API client (kube/transport.py): client-side rate limits, as
    # client-go's QPS and burst (0 QPS: no limit), and the time one request may take.
    kube_api_qps: float = Field(default=50.0, ge=0)
    kube_api_burst: int = Field(default=100, ge=1)
    kube_request_timeout_seconds: float = Field(default=30.0, gt=0, le=600)
    # ProbesDegraded clears once the prober's suspects have stayed low this long
    # (core/prober_health.py; the config file only, for tests and unusually slow fleets).
    probes_degraded_clear_seconds: float = Field(default=30.0, ge=0, le=3600)
    # Overrides the engine's emergencyHaltEnabled when set (None: the engine's spec decides).
    emergency_halt: bool | None = None

    # Leader election on a Lease (app/leadership.py). Off by default, as kubebuilder scaffolds it:
    # one replica needs none, and the chart turns it on when it runs two.
    leader_election: bool = False
    # None: POD_NAMESPACE (the chart sets it from the downward API), else "default".
    leader_election_namespace: str | None = None
    leader_election_id: str = Field(default="orchestration-engine-leader", min_length=1)
    lease_duration_seconds: float = Field(default=15, gt=0)
    renew_deadline_seconds: float = Field(default=10, gt=0)
    retry_period_seconds: float = Field(default=2, gt=0)

    @model_validator(mode="after")
    def _leader_election_timings(self) -> OperatorSettings:
        # A leader stands down at the renew deadline; only a lease that lasts longer than that
        # keeps a standby from taking over while the old leader still acts.
        if not self.renew_deadline_seconds < self.lease_duration_seconds:
            raise ValueError("renew_deadline_seconds must be less than lease_duration_seconds")
        if not self.retry_period_seconds < self.renew_deadline_seconds:
            raise ValueError("retry_period_seconds must be less than renew_deadline_seconds")
        return self

    @model_validator(mode="after")
    def _store_budget(self) -> OperatorSettings:
        from orchestration_engine.store.budget import parse_max_size
        from orchestration_engine.store.url import StoreConfigError, sqlite_path

        _absolute, share = parse_max_size(self.store_max_size)
        if share is not None:
            try:
                on_file = sqlite_path(self.database_url) is not None
            except StoreConfigError:
                on_file = True  # the URL's own error is reported where it is used
            if not on_file:
                raise ValueError(
                    f"store_max_size {self.store_max_size!r}: a share of the volume needs a"
                    " SQLite file; give PostgreSQL a size such as 20Gi"
                )
        return self

    @property
    def clusterwide(self) -> bool:
        return not self.namespaces


def _truthy(text: str) -> bool:
    if text.strip().lower() in ("1", "true", "yes", "on"):
        return True
    if text.strip().lower() in ("0", "false", "no", "off", ""):
        return False
    raise SettingsError(f"expected true or false, got {text!r}")


def from_config_file(path: Path) -> dict[str, Any]:
    try:
        loaded = yaml.safe_load(path.read_text()) or {}
    except OSError as error:
        raise SettingsError(f"ORCHESTRATION_CONFIG {path}: {error.strerror}") from None
    except yaml.YAMLError as error:
        raise SettingsError(f"ORCHESTRATION_CONFIG {path}: invalid YAML: {error}") from None
    if not isinstance(loaded, dict):
        raise SettingsError(f"ORCHESTRATION_CONFIG {path}: expected a mapping of settings")
    # The file may use the CLI's spelling (database-url) or Python's (database_url).
    return {str(k).replace("-", "_"): v for k, v in loaded.items()}


def from_environment(env: Mapping[str, str]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    try:
        if "ORCHESTRATION_DATABASE_URL" in env:
            values["database_url"] = env["ORCHESTRATION_DATABASE_URL"]
        if "QUANTUM_OPTIMIZATION" in env:
            values["quantum"] = _truthy(env["QUANTUM_OPTIMIZATION"])
        if "AI_DECISION_MAKING" in env:
            values["ai"] = _truthy(env["AI_DECISION_MAKING"])
        if "MONITORING_INTERVAL" in env:
            values["monitoring_interval"] = int(env["MONITORING_INTERVAL"])
    except ValueError as error:
        raise SettingsError(f"environment: {error}") from None
    return values


def resolve(flags: Mapping[str, Any], env: Mapping[str, str] | None = None) -> OperatorSettings:
    """Merge the sources in precedence order; ``None`` flags mean "not given"."""
    env = os.environ if env is None else env
    merged: dict[str, Any] = {}
    config_path = env.get("ORCHESTRATION_CONFIG")
    if config_path:
        merged.update(from_config_file(Path(config_path)))
    merged.update(from_environment(env))
    merged.update({k: v for k, v in flags.items() if v is not None and v != []})
    # A default, not an override: POD_NAMESPACE is always set in the pod, and an explicit
    # namespace in the config file must still win over it.
    if merged.get("leader_election_namespace") is None:
        merged["leader_election_namespace"] = env.get("POD_NAMESPACE") or "default"
    try:
        return OperatorSettings.model_validate(merged)
    except ValidationError as error:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors())
        raise SettingsError(problems) from None
