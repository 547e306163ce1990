"""Reads users' YAML manifests into typed specs, with messages that say what is wrong."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from orchestration_engine.api import errors
from orchestration_engine.api.common import API_VERSION
from orchestration_engine.api.workflow import KIND as WORKFLOW_KIND
from orchestration_engine.api.workflow import WorkflowSpec


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
        documents = [d for d in yaml.safe_load_all(text) if d is not None]
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
