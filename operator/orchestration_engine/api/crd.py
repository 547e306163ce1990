"""Generates the CustomResourceDefinitions from the pydantic models.

The models are the one source of truth: this module turns their JSON Schema into the
*structural* OpenAPI v3 schema the API server demands (no ``$ref``, no ``anyOf`` unions
except int-or-string, ``nullable`` instead of a ``null`` type, no ``additionalProperties:
false``), and adds what only a CRD has: names, printer columns, the status subresource and
the rules that need ``metadata`` (CEL at the root of the schema).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml

from orchestration_engine.api import engine, service, workflow
from orchestration_engine.api.base import Model, cel
from orchestration_engine.api.common import GROUP, VERSION

Schema = dict[str, Any]

_DROPPED_KEYS = {"title", "$defs", "discriminator"}


def structural_schema(model: type[Model], *, nullable: bool) -> Schema:
    """The structural OpenAPI v3 schema of a model, for ``openAPIV3Schema``.

    ``nullable`` marks optional fields as accepting ``null``. It is for status only: in a spec
    a ``null`` should be pruned by the server so that the field's default applies.
    """
    raw = model.model_json_schema(by_alias=True, mode="validation")
    return _Converter(raw.get("$defs", {}), nullable).convert(raw)


class _Converter:
    def __init__(self, defs: dict[str, Schema], nullable: bool) -> None:
        self.defs = defs
        self.nullable = nullable

    def convert(self, node: Schema) -> Schema:
        return _convert(node, self)


def _convert(node: Schema, ctx: _Converter) -> Schema:
    defs = ctx.defs
    node = dict(node)
    if "$ref" in node:
        target = defs[node.pop("$ref").rsplit("/", 1)[-1]]
        node = {**target, **node}
    if "anyOf" in node and not node.get("x-kubernetes-int-or-string"):
        node = _collapse_union(node, ctx)
    if "allOf" in node and len(node["allOf"]) == 1:
        node = {**node.pop("allOf")[0], **node}
        return _convert(node, ctx)

    out: Schema = {}
    for key, value in node.items():
        if key in _DROPPED_KEYS:
            continue
        if key == "properties":
            out[key] = {name: _convert(sub, ctx) for name, sub in value.items()}
        elif key == "items":
            out[key] = _convert(value, ctx)
        elif key == "additionalProperties":
            if isinstance(value, dict) and value:
                out[key] = _convert(value, ctx)
            elif value is True:
                # A free-form mapping (a Job template, a merge patch): keep it whole.
                out["x-kubernetes-preserve-unknown-fields"] = True
            # `false` is implicit in a structural schema.
        elif key == "exclusiveMinimum" and not isinstance(value, bool):
            out["minimum"], out["exclusiveMinimum"] = value, True
        elif key == "exclusiveMaximum" and not isinstance(value, bool):
            out["maximum"], out["exclusiveMaximum"] = value, True
        elif key == "const":
            out["enum"] = [value]
        elif key == "default" and value is None:
            continue
        else:
            out[key] = value
    if out.get("x-kubernetes-preserve-unknown-fields") and out.get("type") == "object":
        out.pop("additionalProperties", None)
    return out


def _collapse_union(node: Schema, ctx: _Converter) -> Schema:
    options = [o for o in node.pop("anyOf") if o.get("type") != "null"]
    if len(options) == 1:
        merged = {**_convert(options[0], ctx), **node}
    else:
        # A free-form union (e.g. an HTTP body, text or JSON): the server keeps it as it is.
        merged = {**node, "x-kubernetes-preserve-unknown-fields": True}
    if ctx.nullable:
        merged["nullable"] = True
    return merged


@dataclass(frozen=True)
class PrinterColumn:
    name: str
    json_path: str
    type: str = "string"
    priority: int = 0
    description: str = ""

    def to_k8s(self) -> dict[str, Any]:
        column: dict[str, Any] = {"name": self.name, "type": self.type, "jsonPath": self.json_path}
        if self.priority:
            column["priority"] = self.priority
        if self.description:
            column["description"] = self.description
        return column


AGE = PrinterColumn("Age", ".metadata.creationTimestamp", "date")


@dataclass(frozen=True)
class KindDefinition:
    kind: str
    plural: str
    short_name: str
    scope: str
    spec_model: type[Model]
    status_model: type[Model]
    columns: list[PrinterColumn]
    root_rules: list[dict[str, str]] = field(default_factory=list)
    spec_defaulted: bool = False
    description: str = ""

    @property
    def name(self) -> str:
        return f"{self.plural}.{GROUP}"

    def to_k8s(self) -> dict[str, Any]:
        spec_schema = structural_schema(self.spec_model, nullable=False)
        if self.spec_defaulted:
            spec_schema["default"] = {}
        root: Schema = {
            "type": "object",
            "description": self.description or self.kind,
            "properties": {
                "apiVersion": {"type": "string"},
                "kind": {"type": "string"},
                "metadata": {"type": "object"},
                "spec": spec_schema,
                "status": structural_schema(self.status_model, nullable=True),
            },
        }
        if not self.spec_defaulted:
            root["required"] = ["spec"]
        if self.root_rules:
            root["x-kubernetes-validations"] = self.root_rules
        return {
            "apiVersion": "apiextensions.k8s.io/v1",
            "kind": "CustomResourceDefinition",
            "metadata": {
                "name": self.name,
                "labels": {"app.kubernetes.io/part-of": "orchestration-engine"},
            },
            "spec": {
                "group": GROUP,
                "scope": self.scope,
                "names": {
                    "kind": self.kind,
                    "listKind": f"{self.kind}List",
                    "plural": self.plural,
                    "singular": self.kind.lower(),
                    "shortNames": [self.short_name],
                    "categories": ["eoe"],
                },
                "versions": [
                    {
                        "name": VERSION,
                        "served": True,
                        "storage": True,
                        "subresources": {"status": {}},
                        "additionalPrinterColumns": [c.to_k8s() for c in self.columns],
                        "schema": {"openAPIV3Schema": root},
                    }
                ],
            },
        }


def _no_self_dependency(kind: str) -> dict[str, str]:
    return cel(
        "!has(self.spec.dependsOn) || !(self.metadata.name in self.spec.dependsOn)",
        f"an {kind} cannot depend on itself",
        messageExpression=f"'an {kind} cannot depend on itself: ' + self.metadata.name",
    )


KINDS: list[KindDefinition] = [
    KindDefinition(
        kind=service.KIND,
        plural=service.PLURAL,
        short_name="osvc",
        scope="Namespaced",
        spec_model=service.ServiceSpec,
        status_model=service.ServiceStatus,
        columns=[
            PrinterColumn("Health", ".status.health"),
            PrinterColumn("Priority", ".spec.priority"),
            PrinterColumn("Active", ".status.activeTarget"),
            PrinterColumn("Uptime", ".status.uptimePercent", "number"),
            AGE,
        ],
        root_rules=[_no_self_dependency(service.KIND)],
        description="A service the operator keeps healthy: health checks, failover, scaling, SLA.",
    ),
    KindDefinition(
        kind=workflow.KIND,
        plural=workflow.PLURAL,
        short_name="owf",
        scope="Namespaced",
        spec_model=workflow.WorkflowSpec,
        status_model=workflow.WorkflowStatus,
        columns=[
            PrinterColumn("Phase", ".status.phase"),
            PrinterColumn("Priority", ".spec.priority"),
            PrinterColumn("Progress", ".status.progress", "number"),
            PrinterColumn("Queue", ".status.queuePosition", "integer"),
            AGE,
        ],
        root_rules=[_no_self_dependency(workflow.KIND)],
        description="An operational workflow: a DAG of steps, scheduled by priority, rolled back"
        " on failure.",
    ),
    KindDefinition(
        kind=engine.KIND,
        plural=engine.PLURAL,
        short_name="oeng",
        scope="Cluster",
        spec_model=engine.EngineSpec,
        status_model=engine.EngineStatus,
        columns=[
            PrinterColumn("Phase", ".status.phase"),
            PrinterColumn("Health", ".status.healthScore", "number"),
            PrinterColumn("Halt", '.status.conditions[?(@.type=="EmergencyHalt")].status'),
            AGE,
        ],
        root_rules=[
            cel(
                f"self.metadata.name == '{engine.SINGLETON_NAME}'",
                "the OrchestrationEngine is a singleton and must be named "
                f"'{engine.SINGLETON_NAME}'",
                messageExpression=(
                    '"the OrchestrationEngine is a singleton and must be named '
                    f"'{engine.SINGLETON_NAME}', not '\" + self.metadata.name + \"'\""
                ),
            )
        ],
        spec_defaulted=True,
        description="The operator-wide singleton `default`: configuration, phase, emergency halt.",
    ),
]


def crd_manifests() -> list[dict[str, Any]]:
    return [k.to_k8s() for k in KINDS]


def crd_file_name(definition: KindDefinition) -> str:
    return f"{GROUP}_{definition.plural}.yaml"


class _PlainDumper(yaml.SafeDumper):
    """No YAML anchors: a CRD is read by people and by tools that mishandle aliases."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def render(manifest: dict[str, Any]) -> str:
    header = (
        "# Generated from the pydantic models in operator/orchestration_engine/api: `make crds`.\n"
    )
    return header + yaml.dump(manifest, Dumper=_PlainDumper, sort_keys=False, width=100)


def render_all() -> str:
    return "---\n".join(render(m) for m in crd_manifests())
