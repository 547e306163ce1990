"""The model base class every schema type shares: camelCase aliases and strictness.

``extra="forbid"`` matters: the API server silently prunes unknown fields of a structural
schema, so the offline validator (``plan``, the webhook) is where a misspelt field is caught.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel


class Model(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        use_enum_values=False,
        validate_default=True,
    )

    def to_k8s(self) -> dict[str, Any]:
        """The object as it is written to the API server: camelCase, unset fields left out."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


class StatusModel(Model):
    """Status is written by the operator and read back from the server: tolerate what a newer
    operator version may have written instead of failing to read it."""

    model_config = ConfigDict(extra="ignore")


def cel(rule: str, message: str, **extra: str) -> dict[str, str]:
    """One CEL rule for ``x-kubernetes-validations`` (checked by the API server itself)."""
    return {"rule": rule, "message": message, **extra}


def validations(*rules: dict[str, str]) -> dict[str, Any]:
    """``json_schema_extra`` carrying CEL rules into the generated CRD."""
    return {"x-kubernetes-validations": list(rules)}
