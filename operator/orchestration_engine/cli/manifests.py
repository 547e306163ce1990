"""Reads users' YAML manifests into typed specs, with messages that say what is wrong."""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from orchestration_engine.api import errors
from orchestration_engine.api.common import API_VERSION
from orchestration_engine.api.workflow import KIND as WORKFLOW_KIND
from orchestration_engine.api.workflow import WorkflowSpec


class _UniqueKeyLoader(yaml.SafeLoader):
    """The safe loader, refusing a key written twice in one mapping. PyYAML keeps the last
    one silently, so a second ``steps:`` would drop the first list without a word; the API
    server refuses it too under strict field validation, which kubectl apply uses."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue  # `<<: *base` may be overridden by the keys beside it
            key = self.construct_object(key_node, deep=deep)
            try:
                duplicate = key in seen
            except TypeError:
                continue  # unhashable: the base class reports it
            if duplicate:
                raise yaml.constructor.ConstructorError(
                    "while constructing a mapping",
                    node.start_mark,
                    f"found duplicate key {key!r}",
                    key_node.start_mark,
                )
            seen.add(key)
        return super().construct_mapping(node, deep)


class ManifestError(ValueError):
    """A manifest that cannot be used; ``problems`` lists every reason, one per line."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = problems
        super().__init__(f"{source}: " + "; ".join(problems))


@dataclass
class WorkflowManifest:
    name: str
    namespace: str | None
    spec: WorkflowSpec
    raw: dict[str, Any] = field(repr=False)


def load_documents(path: Path) -> list[dict[str, Any]]:
    try:
        text = path.read_text()
    except OSError as error:
        raise ManifestError(str(path), [f"cannot read the file: {error.strerror}"]) from None
    try:
        # A named stream: PyYAML's messages then say the file, not "<unicode string>".
        stream = io.StringIO(text)
        stream.name = str(path)
        documents = [d for d in yaml.load_all(stream, _UniqueKeyLoader) if d is not None]
    except yaml.YAMLError as error:
        raise ManifestError(str(path), [f"invalid YAML: {error}"]) from None
    if not documents:
        raise ManifestError(str(path), ["the file holds no YAML document"])
    for index, document in enumerate(documents):
        if not isinstance(document, dict):
            raise ManifestError(str(path), [f"document {index + 1} is not a mapping"])
    return documents


def parse_workflow(document: dict[str, Any], source: str = "<input>") -> WorkflowManifest:
    problems = []
    if document.get("kind") != WORKFLOW_KIND:
        problems.append(f"kind is {document.get('kind')!r}, expected {WORKFLOW_KIND!r}")
    if document.get("apiVersion") != API_VERSION:
        problems.append(f"apiVersion is {document.get('apiVersion')!r}, expected {API_VERSION!r}")
    metadata = document.get("metadata") or {}
    name = metadata.get("name") if isinstance(metadata, dict) else None
    if not name:
        problems.append("metadata.name is missing")
    if "spec" not in document:
        problems.append("spec is missing")
    if problems:
        raise ManifestError(source, problems)
    try:
        spec = WorkflowSpec.model_validate(document["spec"])
    except ValidationError as error:
        raise ManifestError(f"{source} ({WORKFLOW_KIND} {name})", errors.describe(error)) from None
    return WorkflowManifest(str(name), metadata.get("namespace"), spec, document)
