"""The original engine's Python API, on top of the operator.

``EnterpriseOrchestrationEngine`` runs the operator in a background thread (its own event
loop), with the SQLite store under ``<workspace>/databases/``; its configuration becomes the
``OrchestrationEngine`` object's spec. Scripts written against the original keep working::

    engine = EnterpriseOrchestrationEngine(workspace_path=".", config=OrchestrationConfiguration())
    engine.start_enterprise_orchestration()   # {"status": "success", ...}
    report = engine.get_orchestration_report()
    engine.stop_enterprise_orchestration()
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from orchestration_engine.app.settings import OperatorSettings
from orchestration_engine.cli.report_sources import build_report
from orchestration_engine.kube.client import make_api_client
from orchestration_engine.kube.engine_object import EngineObject


@dataclass
class OrchestrationConfiguration:
    """The original engine's settings, with its defaults."""

    monitoring_interval: int = 30
    optimization_interval: int = 300
    failover_timeout: int = 60
    max_concurrent_workflows: int = 10
    enable_quantum_optimization: bool = True
    enable_ai_decision_making: bool = True
    auto_scaling_enabled: bool = True
    predictive_scaling: bool = True
    enable_real_time_monitoring: bool = True
    emergency_halt_enabled: bool = True
    database_path: str = "orchestration.db"
    max_orchestration_duration: int = 86400

    def engine_spec(self) -> dict[str, Any]:
        """The OrchestrationEngine spec these settings stand for."""
        return {
            "monitoringIntervalSeconds": self.monitoring_interval,
            "optimizationIntervalSeconds": self.optimization_interval,
            "failoverTimeoutSeconds": self.failover_timeout,
            "maxConcurrentWorkflows": self.max_concurrent_workflows,
            "enableQuantumOptimization": self.enable_quantum_optimization,
            "enableAIDecisionMaking": self.enable_ai_decision_making,
            "autoScalingEnabled": self.auto_scaling_enabled,
            "predictiveScaling": self.predictive_scaling,
            "realTimeMonitoring": self.enable_real_time_monitoring,
            "emergencyHaltEnabled": self.emergency_halt_enabled,
            "maxOrchestrationDurationSeconds": self.max_orchestration_duration,
        }


async def _apply_engine_spec(spec: dict[str, Any]) -> None:
    api = await make_api_client()
    try:
        await EngineObject(api).set_spec(spec)
    finally:
        await api.close()


class EnterpriseOrchestrationEngine:
    def __init__(
        self,
        workspace_path: str | os.PathLike[str] | None = None,
        config: OrchestrationConfiguration | None = None,
        *,
        namespaces: list[str] | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._monotonic = monotonic
        self.workspace_path = Path(workspace_path or os.getcwd())
        self.config = config or OrchestrationConfiguration()
        self.namespaces = namespaces or []
        database = self.workspace_path / "databases" / self.config.database_path
        self.database_url = f"sqlite:///{database}"
        self.orchestration_id: str | None = None
        self.orchestration_active = False
        self.start_time: datetime | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._error: BaseException | None = None

    def start_enterprise_orchestration(self, timeout: float = 60.0) -> dict[str, Any]:
        """Start the operator in the background; returns once it is watching the cluster."""
        if self.orchestration_active:
            return {"status": "already_active", "orchestration_id": self.orchestration_id}
        try:
            (self.workspace_path / "databases").mkdir(parents=True, exist_ok=True)
            asyncio.run(_apply_engine_spec(self.config.engine_spec()))
        except Exception as error:  # the caller gets a status, as with the original
            return {"status": "failed", "error": str(error)}
        self.orchestration_id = uuid.uuid4().hex
        self._stop.clear()
        self._ready.clear()
        self._error = None
        settings = OperatorSettings(
            namespaces=self.namespaces,
            database_url=self.database_url,
            metrics_port=0,
            health_port=0,
            quantum=self.config.enable_quantum_optimization,
            ai=self.config.enable_ai_decision_making,
            max_workflows=self.config.max_concurrent_workflows,
            monitoring_interval=self.config.monitoring_interval,
        )
        self._thread = threading.Thread(
            target=self._run, args=(settings,), name="orchestration-engine", daemon=True
        )
        self._thread.start()
        deadline = self._monotonic() + timeout
        while not self._ready.wait(0.1):
            if (
                self._error is not None
                or not self._thread.is_alive()
                or self._monotonic() > deadline
            ):
                self._stop.set()
                return {
                    "status": "failed",
                    "error": str(self._error or "the operator did not start in time"),
                }
        self.orchestration_active = True
        self.start_time = datetime.now(UTC)
        return {
            "status": "success",
            "orchestration_id": self.orchestration_id,
            "database": self.database_url,
            "configuration": asdict(self.config),
            "started_at": self.start_time.isoformat(),
        }

    def _run(self, settings: OperatorSettings) -> None:
        from orchestration_engine.app.runtime import operate

        try:
            asyncio.run(
                operate(
                    settings,
                    stop_flag=self._stop,
                    ready_flag=self._ready,
                    orchestration_id=self.orchestration_id,
                )
            )
        except BaseException as error:  # reported by start/stop, never lost in the thread
            self._error = error

    def get_orchestration_report(self) -> dict[str, Any]:
        try:
            return asyncio.run(build_report(self.database_url))
        except Exception as error:
            return {"error": f"Report generation failed: {error}"}

    def stop_enterprise_orchestration(self, timeout: float = 30.0) -> dict[str, Any]:
        if self._thread is None:
            return {"status": "not_active"}
        self._stop.set()
        self._thread.join(timeout)
        stopped = not self._thread.is_alive()
        runtime = (datetime.now(UTC) - self.start_time).total_seconds() if self.start_time else 0.0
        self.orchestration_active = not stopped
        result: dict[str, Any] = {
            "status": "success" if stopped and self._error is None else "failed",
            "orchestration_id": self.orchestration_id,
            "total_runtime": runtime,
            "final_state": "COMPLETED" if stopped else "STOPPING",
        }
        if self._error is not None:
            result["error"] = str(self._error)
        if stopped:
            self._thread = None
        return result
