"""The chart's alert rules in a real Prometheus scraping a real operator: a manual emergency
halt, raised with the CLI as a user would, fires OrchestrationEngineEmergencyHalt after its
`for`, and `resume` resolves it.

The rules file is the chart's own, unchanged: the alert waits 30 s, short enough to hold a
halt that long here, and a copy with the wait removed would test a rule nobody ships. The
promtool tests in tests/alerts/ cover the other alerts on synthetic series."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from integration_support import GROUP, ROOT, VERSION, OperatorProcess, wait_for
from prometheus_support import PrometheusServer

pytestmark = pytest.mark.cluster

ALERTS_FILE = ROOT / "charts" / "orchestration-engine" / "rules" / "alerts.yaml"
HALT_ALERT = "OrchestrationEngineEmergencyHalt"


def rule_wait_seconds(alert: str) -> float:
    """The alert's `for`, read from the rules file so the test follows a change to it."""
    units = {"s": 1, "m": 60, "h": 3600}
    for group in yaml.safe_load(ALERTS_FILE.read_text())["groups"]:
        for rule in group["rules"]:
            if rule.get("alert") == alert:
                text = str(rule["for"])
                return float(text[:-1]) * units[text[-1]]
    raise AssertionError(f"{alert} is not in {ALERTS_FILE}")


@pytest.fixture
def operator_and_prometheus(
    control_plane: Any, crds: None, namespace: str, tmp_path: Path
) -> Iterator[tuple[OperatorProcess, PrometheusServer]]:
    # The operator of the test's namespace alone (FAILED services other tests leave behind
    # must not raise a halt of their own), the engine's spec deciding about the halt.
    operator = OperatorProcess(
        control_plane.kubeconfig,
        tmp_path / "operator",
        "--namespace",
        namespace,
        "--monitoring-interval-seconds",
        "1",
        emergency_halt=None,
    )
    prometheus: PrometheusServer | None = None
    try:
        operator.wait_ready()
        prometheus = PrometheusServer(
            tmp_path / "prometheus", [f"127.0.0.1:{operator.metrics_port}"], [ALERTS_FILE]
        )
        prometheus.wait_ready()
        yield operator, prometheus
    finally:
        if prometheus is not None:
            prometheus.stop()
        operator.stop()


def cli(*args: str, kubeconfig: Path) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "orchestration_engine", *args],
        env={**os.environ, "KUBECONFIG": str(kubeconfig)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_a_manual_halt_fires_the_emergency_halt_alert_and_resume_resolves_it(
    operator_and_prometheus: tuple[OperatorProcess, PrometheusServer],
    control_plane: Any,
    custom: Any,
) -> None:
    operator, prometheus = operator_and_prometheus
    with logs_on_timeout(operator, prometheus):
        fire_and_resolve(prometheus, control_plane.kubeconfig, custom)


@contextlib.contextmanager
def logs_on_timeout(operator: OperatorProcess, prometheus: PrometheusServer) -> Iterator[None]:
    """A wait that timed out says what both processes logged meanwhile."""
    try:
        yield
    except TimeoutError as error:
        raise TimeoutError(
            f"{error}\n--- operator ---\n{operator.log()}\n--- prometheus ---\n{prometheus.log()}"
        ) from error


def fire_and_resolve(prometheus: PrometheusServer, kubeconfig: Path, custom: Any) -> None:
    wait_for(
        lambda: prometheus.query('up{job="orchestration-engine"} == 1'),
        timeout=30,
        what="Prometheus scraping the operator",
    )
    groups = prometheus.api("rules")["groups"]
    assert any(rule.get("name") == HALT_ALERT for g in groups for rule in g["rules"])
    wait_for(
        lambda: prometheus.query('eoe_emergency_halt{reason="none"} == 0'),
        timeout=30,
        what="the halt metric scraped, no halt",
    )
    assert prometheus.alerts(HALT_ALERT) == []

    cli("halt", "--reason", "alert drill", kubeconfig=kubeconfig)
    try:
        wait_for(
            lambda: prometheus.query('eoe_emergency_halt{reason="Manual"} == 1'),
            timeout=30,
            what="the halt in the scraped metric",
        )
        # Pending first: the rule waits its `for` before it fires.
        pending = wait_for(lambda: prometheus.alerts(HALT_ALERT), timeout=10, what="pending")
        assert [a["state"] for a in pending] == ["pending"], pending
        firing = wait_for(
            lambda: [a for a in prometheus.alerts(HALT_ALERT) if a["state"] == "firing"],
            timeout=rule_wait_seconds(HALT_ALERT) + 30,
            interval=0.5,
            what=f"{HALT_ALERT} firing",
        )
        (alert,) = firing
        assert alert["labels"]["reason"] == "Manual"
        assert alert["labels"]["severity"] == "critical"
        assert alert["annotations"]["summary"] == "Emergency halt in force: Manual"
        assert alert["annotations"]["runbook_url"].endswith("docs/alerts.md#" + HALT_ALERT.lower())

        cli("resume", kubeconfig=kubeconfig)
        # The operator replaces the Manual series with reason none; Prometheus marks it stale
        # at the next scrape and the alert resolves at the next evaluation.
        wait_for(
            lambda: not prometheus.alerts(HALT_ALERT), timeout=30, what=f"{HALT_ALERT} resolved"
        )
        assert prometheus.query('eoe_emergency_halt{reason="none"} == 0')
    finally:
        # Whatever failed above, later tests must not find the engine halted.
        custom.patch_cluster_custom_object(
            GROUP,
            VERSION,
            "orchestrationengines",
            "default",
            {"spec": {"halt": False, "haltReason": None}},
        )
