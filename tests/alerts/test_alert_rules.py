"""The chart's alert rules: valid for Prometheus (`promtool check rules`), behaving as their
promtool unit tests in this directory say (`promtool test rules`), each tested both firing
and not firing, documented in docs/alerts.md, and reading only metrics the operator exports."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from promql_support import (
    ALERT_TESTS_DIR,
    ALERTS_DOC,
    ALERTS_FILE,
    exported_metric_names,
    metric_names,
    promtool,
)

SEVERITIES = {"critical", "warning"}
RUNBOOK_PREFIX = "https://github.com/eoe-dev/orchestration-engine/blob/main/docs/alerts.md#"


def rules() -> list[dict[str, Any]]:
    document = yaml.safe_load(ALERTS_FILE.read_text())
    return [rule for group in document["groups"] for rule in group["rules"]]


def alerts() -> list[dict[str, Any]]:
    return [rule for rule in rules() if "alert" in rule]


def promtool_test_files() -> list[Path]:
    return sorted(ALERT_TESTS_DIR.glob("*.yaml"))


def run_promtool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [promtool(), *args],
        cwd=ALERT_TESTS_DIR.parents[1],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_rules_file_is_valid_for_prometheus() -> None:
    result = run_promtool("check", "rules", str(ALERTS_FILE))
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_promtool_unit_tests_pass() -> None:
    files = promtool_test_files()
    assert files, f"no promtool tests in {ALERT_TESTS_DIR}"
    result = run_promtool("test", "rules", *map(str, files))
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_alert_is_tested_firing_and_not_firing() -> None:
    firing: set[str] = set()
    quiet: set[str] = set()
    for path in promtool_test_files():
        for case in yaml.safe_load(path.read_text())["tests"]:
            for check in case.get("alert_rule_test") or []:
                (firing if check.get("exp_alerts") else quiet).add(check["alertname"])
    names = {rule["alert"] for rule in alerts()}
    assert names - firing == set(), "alerts never tested firing"
    assert names - quiet == set(), "alerts never tested not firing"
    assert (firing | quiet) - names == set(), "tests of alerts that do not exist"


@pytest.mark.parametrize("rule", alerts(), ids=lambda rule: rule["alert"])
def test_every_alert_has_a_wait_a_severity_and_its_annotations(rule: dict[str, Any]) -> None:
    assert "for" in rule, "say how long the condition must hold, even if 0m"
    assert rule["labels"]["severity"] in SEVERITIES
    annotations = rule["annotations"]
    assert {"summary", "description", "runbook_url"} <= set(annotations)
    anchor = rule["alert"].lower()
    assert annotations["runbook_url"] == RUNBOOK_PREFIX + anchor


def test_every_alert_has_its_section_in_the_user_guide() -> None:
    headings = set(re.findall(r"^##+ (\S+)\s*$", ALERTS_DOC.read_text(), re.MULTILINE))
    assert {rule["alert"] for rule in alerts()} - headings == set()


def test_the_rules_read_only_metrics_the_operator_exports() -> None:
    exported = exported_metric_names()
    recorded = {rule["record"] for rule in rules() if "record" in rule}
    unknown = {
        rule.get("alert") or rule["record"]: sorted(
            metric_names(rule["expr"]) - exported - recorded
        )
        for rule in rules()
    }
    assert {name: names for name, names in unknown.items() if names} == {}


def test_the_user_guide_quotes_every_expression_as_shipped() -> None:
    def squeezed(text: str) -> str:
        return re.sub(r"\s+", "", text)

    guide = squeezed(ALERTS_DOC.read_text())
    stale = [
        rule.get("alert") or rule["record"]
        for rule in rules()
        if squeezed(rule["expr"]) not in guide
    ]
    assert stale == [], "update docs/alerts.md"
