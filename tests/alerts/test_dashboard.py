"""The chart's Grafana dashboard: well-formed, every query reading only metrics the operator
exports (a renamed metric would otherwise leave an empty panel nobody notices), and every
metric family the operator exports shown somewhere."""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from promql_support import (
    DASHBOARD_FILE,
    exported_metric_names,
    metric_names,
    operator_families,
    promtool,
)

_LABEL_VALUES = re.compile(r"^\s*label_values\((?:(.*),\s*)?\w+\)\s*$")


def dashboard() -> dict[str, Any]:
    return json.loads(DASHBOARD_FILE.read_text())  # type: ignore[no-any-return]


def panels(items: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """Every panel, including those inside collapsed rows."""
    for item in items:
        yield item
        yield from panels(item.get("panels") or [])


def queries() -> Iterator[tuple[str, str]]:
    """(where, PromQL) for every panel target and every query variable."""
    document = dashboard()
    for panel in panels(document["panels"]):
        for target in panel.get("targets") or []:
            yield f"panel {panel['title']!r} target {target['refId']}", target["expr"]
    for variable in document["templating"]["list"]:
        if variable["type"] != "query":
            continue
        query = variable["query"]
        text = query["query"] if isinstance(query, dict) else query
        # Grafana's label_values(metric, label) is not PromQL: its first argument is.
        matched = _LABEL_VALUES.match(text)
        yield f"variable {variable['name']!r}", (matched.group(1) or "") if matched else text


@pytest.mark.parametrize(
    ("expr", "names"),
    [
        ('sum by (le) (rate(a_bucket{x="y", z=~"$v"}[$__rate_interval]))', {"a_bucket"}),
        ("(a unless a offset 10m) or increase(a[10m]) > 0.25 and on () b >= 5", {"a", "b"}),
        ("histogram_quantile(0.95, sum(rate(c[5m])) by (le, check))", {"c"}),
        ('count(d{health="FAILED"}) or vector(0)', {"d"}),
        ("max by (reason) (e) > bool 1e3", {"e"}),
        ("rec:rule:sum{phase=~'A|B'} / ignoring (phase) group_left () f", {"rec:rule:sum", "f"}),
    ],
)
def test_metric_names_finds_the_selected_metrics_only(expr: str, names: set[str]) -> None:
    assert metric_names(expr) == names


def test_the_dashboard_is_well_formed() -> None:
    document = dashboard()
    assert document["uid"]
    assert document["title"]
    ids = [panel["id"] for panel in panels(document["panels"])]
    assert len(ids) == len(set(ids)), "panel ids must be unique"
    for panel in panels(document["panels"]):
        assert {"h", "w", "x", "y"} <= set(panel["gridPos"]), panel["title"]
        assert panel["gridPos"]["x"] + panel["gridPos"]["w"] <= 24, panel["title"]
        if panel["type"] == "row":
            continue
        # Every panel queries the data source the user picks, never a fixed one.
        assert panel["datasource"]["uid"] == "${datasource}", panel["title"]
        assert panel["targets"], panel["title"]
        refs = [target["refId"] for target in panel["targets"]]
        assert len(refs) == len(set(refs)), panel["title"]
    variables = {v["name"]: v for v in document["templating"]["list"]}
    assert variables["datasource"]["query"] == "prometheus"


def as_promql(query: str) -> str:
    """A Grafana query with its variables filled in as Grafana would: the built-in
    intervals become durations, the dashboard's variables (used in label matchers) regexes."""
    query = re.sub(r"\$__(?:rate_interval|interval|range)\b", "1m", query)
    return re.sub(r"\$\{?\w+\}?", ".*", query)


def test_every_query_is_valid_promql(tmp_path: Path) -> None:
    # promtool parses rules files; each query becomes a recording rule of one.
    rules = [
        {"record": f"dashboard:query_{i}", "expr": as_promql(expr)}
        for i, (_where, expr) in enumerate(queries())
    ]
    path = tmp_path / "dashboard-queries.yaml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    result = subprocess.run(
        [promtool(), "check", "rules", str(path)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_query_reads_only_metrics_the_operator_exports() -> None:
    exported = exported_metric_names()
    unknown = {}
    for where, expr in queries():
        names = metric_names(expr)
        assert names, f"{where} selects no metric: {expr}"
        if names - exported:
            unknown[where] = sorted(names - exported)
    assert unknown == {}


def test_every_operator_metric_family_has_a_panel() -> None:
    shown: set[str] = set()
    for _where, expr in queries():
        shown |= metric_names(expr)
    missing = {
        family
        for family in operator_families()
        if not shown & {family + suffix for suffix in ("", "_bucket", "_count", "_sum")}
    }
    assert missing == set(), "add a panel for each metric the operator exports"
