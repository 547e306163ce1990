"""What the alert and dashboard tests share: where the files are, which metric names the
operator exports, and which metric names a PromQL expression reads.

No PromQL parser is at hand in Python (promtool checks syntax, not names), so
``metric_names`` strips what cannot be a metric name (strings, label matchers, ranges,
grouping clauses, Grafana variables, numbers and durations) and keeps the identifiers
that are neither keywords nor called as functions. It only has to be right for the
expressions this project writes, and the tests fail loudly when it is not.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "charts" / "orchestration-engine"
ALERTS_FILE = CHART / "rules" / "alerts.yaml"
DASHBOARD_FILE = CHART / "dashboards" / "orchestration-engine.json"
ALERT_TESTS_DIR = Path(__file__).resolve().parent
ALERTS_DOC = ROOT / "docs" / "alerts.md"

_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_VARIABLE = re.compile(r"\$\{[^}]*\}|\$\w+")
_MATCHERS = re.compile(r"\{[^{}]*\}")
_RANGE = re.compile(r"\[[^\[\]]*\]")
_GROUPING = re.compile(
    r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)", re.IGNORECASE
)
# An identifier not glued to a preceding word character, dot or colon: `10m` and `1e3`
# are numbers, not names.
_IDENTIFIER = re.compile(r"(?<![\w.:])([A-Za-z_:][\w:]*)(\s*\()?")
_KEYWORDS = frozenset(
    {
        "and",
        "or",
        "unless",
        "by",
        "without",
        "on",
        "ignoring",
        "group_left",
        "group_right",
        "offset",
        "bool",
        "atan2",
        "inf",
        "nan",
    }
)

# A family's type -> the sample names it exposes (prometheus_client's exposition).
_SUFFIXES = {
    "counter": ("_total", "_created"),
    "histogram": ("_bucket", "_count", "_sum", "_created"),
    "gaugehistogram": ("_bucket", "_gcount", "_gsum"),
    "summary": ("", "_count", "_sum", "_created"),
    "info": ("_info",),
}


def metric_names(expr: str) -> set[str]:
    """The metric names an expression selects (Grafana's ``$variables`` allowed)."""
    text = _STRING.sub(" ", expr)
    text = _VARIABLE.sub(" ", text)
    text = _MATCHERS.sub(" ", text)
    text = _RANGE.sub(" ", text)
    text = _GROUPING.sub(" ", text)
    names = set()
    for match in _IDENTIFIER.finditer(text):
        name, called = match.group(1), match.group(2)
        if called or name.lower() in _KEYWORDS:
            continue
        names.add(name)
    return names


def _register() -> None:
    """Import every module that defines metrics: prometheus_client registers them in its
    global REGISTRY at import."""
    import orchestration_engine.plumbing.metrics
    import orchestration_engine.store.metrics  # noqa: F401


def exported_metric_names() -> set[str]:
    """Every sample name the operator's /metrics can carry: the families registered by the
    modules that define metrics, with the suffixes of their types (a labelled family has
    no samples until first used, so the samples alone would miss it)."""
    _register()
    from prometheus_client import REGISTRY

    names: set[str] = set()
    for family in REGISTRY.collect():
        names.update(family.name + suffix for suffix in _SUFFIXES.get(family.type, ("",)))
        names.update(sample.name for sample in family.samples)
    return names


def operator_families() -> set[str]:
    """The ``eoe_`` families as a reader knows them (counters with ``_total``)."""
    _register()
    from prometheus_client import REGISTRY

    return {
        family.name + ("_total" if family.type == "counter" else "")
        for family in REGISTRY.collect()
        if family.name.startswith("eoe_")
    }


def promtool() -> str:
    """The promtool binary; its absence is a failure of the environment, never a skip."""
    found = shutil.which("promtool")
    if found is None:
        raise AssertionError(
            "promtool is not on PATH: run `make prometheus` (installs Debian's prometheus "
            "package), or put Prometheus's promtool on PATH"
        )
    return found
