"""The Helm chart's files, without helm: its CRDs are the repository's, its appVersion is the
package's, and values.yaml satisfies values.schema.json.

The schema is checked with a small validator for exactly the JSON Schema keywords the file
uses (the project does not depend on a JSON Schema library); the validator refuses any other
keyword, so the schema cannot grow a rule that this test silently ignores. helm itself
validates values against the full schema in tests/integration/test_chart.py.
"""

from __future__ import annotations

import json
import re
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from orchestration_engine.kube.lease import DEFAULT_LEASE_NAME

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "charts" / "orchestration-engine"
SCHEMA_PATH = CHART / "values.schema.json"

KEYWORDS = {
    "$schema", "title", "description", "type", "properties", "additionalProperties",
    "required", "enum", "const", "minimum", "maximum", "exclusiveMinimum", "minLength",
    "maxLength", "pattern", "items", "if", "then",
}  # fmt: skip
TYPES: dict[str, tuple[type, ...]] = {
    "object": (dict,),
    "array": (list,),
    "string": (str,),
    "boolean": (bool,),
    "integer": (int,),
    "number": (int, float),
    "null": (type(None),),
}


def _is(value: Any, type_name: str) -> bool:
    # JSON has no booleans among its numbers; Python's bool is an int.
    if isinstance(value, bool) and type_name in {"integer", "number"}:
        return False
    return isinstance(value, TYPES[type_name])


def subschemas(schema: dict[str, Any], path: str = "#") -> Iterator[tuple[str, dict[str, Any]]]:
    yield path, schema
    for name, sub in (schema.get("properties") or {}).items():
        yield from subschemas(sub, f"{path}/properties/{name}")
    for key in ("items", "additionalProperties", "if", "then"):
        if isinstance(schema.get(key), dict):
            yield from subschemas(schema[key], f"{path}/{key}")


def problems(schema: dict[str, Any], value: Any, at: str = "") -> list[str]:
    """What is wrong with ``value`` under ``schema`` (empty when it is valid)."""
    where = at or "(root)"
    types = schema.get("type")
    if types is not None:
        names = [types] if isinstance(types, str) else list(types)
        if not any(_is(value, name) for name in names):
            return [f"{where}: expected {' or '.join(names)}, got {type(value).__name__}"]
    found: list[str] = []
    if "const" in schema and value != schema["const"]:
        found.append(f"{where}: must be {schema['const']!r}")
    if "enum" in schema and value not in schema["enum"]:
        found.append(f"{where}: {value!r} is not one of {schema['enum']}")
    if isinstance(value, str):
        if len(value) < schema.get("minLength", 0):
            found.append(f"{where}: shorter than {schema['minLength']}")
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            found.append(f"{where}: longer than {schema['maxLength']}")
        if "pattern" in schema and not re.search(schema["pattern"], value):
            found.append(f"{where}: {value!r} does not match {schema['pattern']}")
    if isinstance(value, int | float) and not isinstance(value, bool):
        if "minimum" in schema and value < schema["minimum"]:
            found.append(f"{where}: below {schema['minimum']}")
        if "maximum" in schema and value > schema["maximum"]:
            found.append(f"{where}: above {schema['maximum']}")
        if "exclusiveMinimum" in schema and value <= schema["exclusiveMinimum"]:
            found.append(f"{where}: not above {schema['exclusiveMinimum']}")
    if isinstance(value, dict):
        for key in schema.get("required") or []:
            if key not in value:
                found.append(f"{where}: {key} is required")
        properties = schema.get("properties") or {}
        extra = schema.get("additionalProperties", True)
        for key, item in value.items():
            if key in properties:
                found.extend(problems(properties[key], item, f"{at}.{key}"))
            elif extra is False:
                found.append(f"{where}: unknown key {key!r}")
            elif isinstance(extra, dict):
                found.extend(problems(extra, item, f"{at}.{key}"))
    if isinstance(value, list) and isinstance(schema.get("items"), dict):
        for index, item in enumerate(value):
            found.extend(problems(schema["items"], item, f"{at}[{index}]"))
    if "if" in schema and not problems(schema["if"], value, at):
        found.extend(problems(schema.get("then") or {}, value, at))
    return found


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(SCHEMA_PATH.read_text())
    return loaded


@pytest.fixture(scope="module")
def values() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((CHART / "values.yaml").read_text())
    return loaded


def test_chart_crds_are_byte_for_byte_the_repository_crds() -> None:
    repository = {p.name: p.read_bytes() for p in (ROOT / "crds").glob("*.yaml")}
    chart = {p.name: p.read_bytes() for p in (CHART / "crds").glob("*.yaml")}
    assert chart.keys() == repository.keys()
    stale = [name for name in chart if chart[name] != repository[name]]
    assert not stale, f"charts/orchestration-engine/crds/ differs from crds/ in {stale}"


def test_app_version_is_the_package_version() -> None:
    package = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    assert chart["apiVersion"] == "v2"
    assert chart["appVersion"] == package


def test_the_chart_renews_the_lease_the_operator_takes() -> None:
    helpers = (CHART / "templates" / "_helpers.tpl").read_text()
    block = helpers.split('define "oe.leaseName"', 1)[1].split("{{- end", 1)[0]
    assert block.split("-}}", 1)[1].strip() == DEFAULT_LEASE_NAME


def test_the_schema_uses_only_checked_keywords_and_closes_its_objects(
    schema: dict[str, Any],
) -> None:
    assert schema["$schema"] == "http://json-schema.org/draft-07/schema#"
    for path, sub in subschemas(schema):
        unknown = set(sub) - KEYWORDS
        assert not unknown, f"{path}: keywords this test does not check: {unknown}"
        types = sub.get("type", [])
        for name in [types] if isinstance(types, str) else types:
            assert name in TYPES, f"{path}: unknown type {name}"
        if "pattern" in sub:
            re.compile(sub["pattern"])
        # An object whose keys the chart reads must list them, so a typo is an error; free
        # maps (labels, Kubernetes objects passed through) have no `properties`, and the
        # conditions of if/then (no `type`) only look at some keys.
        if "properties" in sub and sub.get("type") == "object":
            assert sub.get("additionalProperties") is False, f"{path} accepts unknown keys"


def test_values_yaml_satisfies_the_schema(schema: dict[str, Any], values: dict[str, Any]) -> None:
    assert problems(schema, values) == []


def test_every_value_is_described_by_the_schema(
    schema: dict[str, Any], values: dict[str, Any]
) -> None:
    assert set(values) == set(schema["properties"]) - {"global"}


@pytest.mark.parametrize(
    ("change", "complaint"),
    [
        ({"replicas": 3}, "unknown key 'replicas'"),
        ({"leaderElection": {"enabled": False}}, "must be True"),
        ({"replicaCount": 1, "leaderElection": {"enabled": False}}, "must be True"),
        ({"persistence": {"size": "2.5Gi"}}, "does not match"),
        ({"database": {"maxSize": "lots"}}, "does not match"),
        ({"image": {"pullPolicy": "Sometimes"}}, "is not one of"),
        ({"ports": {"metrics": 0}}, "below 1"),
        ({"webhook": {"timeoutSeconds": True}}, "expected integer"),
        ({"notification": {"tokenSecrets": [{"namespace": "ops"}]}}, "name is required"),
    ],
)
def test_the_schema_rejects_bad_values(
    schema: dict[str, Any], values: dict[str, Any], change: dict[str, Any], complaint: str
) -> None:
    changed = merge(values, change)
    found = problems(schema, changed)
    assert any(complaint in problem for problem in found), found


def merge(base: dict[str, Any], change: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in change.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def test_no_rbac_rule_in_the_templates_uses_a_wildcard() -> None:
    rbac = (CHART / "templates" / "rbac.yaml").read_text()
    assert '"*"' not in rbac
    assert "'*'" not in rbac
