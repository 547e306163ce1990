"""Types shared by the three kinds: priorities, conditions, references, resource amounts."""

from __future__ import annotations

import re
from datetime import datetime
from enum import StrEnum
from typing import Annotated

from pydantic import AfterValidator, BeforeValidator, Field, WithJsonSchema

from orchestration_engine.api.base import Model, StatusModel
from orchestration_engine.api.bounds import MAX_CPU, MAX_MEMORY, quantity_at_most, quantity_schema

GROUP = "orchestration.eoe.dev"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"

# RFC 1123 label: what Kubernetes accepts as most object names in a namespace.
DNS_LABEL = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
# RFC 1123 subdomain: Deployment, Service and OrchestratedService names.
DNS_SUBDOMAIN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
# The Kubernetes quantity grammar (resource.Quantity), e.g. 500m, 2, 1.5Gi, 1e3, with the
# exponent held to two digits: every amount under the bounds (api/bounds.py) is written so,
# and the API server's own isQuantity() on `9e9999999999` runs past its request timeout (504).
QUANTITY = r"^[+]?([0-9]+(\.[0-9]*)?|\.[0-9]+)(([KMGTPE]i)|[numkMGTPE]|([eE][-+]?[0-9]{1,2}))?$"

ObjectName = Annotated[str, Field(min_length=1, max_length=253, pattern=DNS_SUBDOMAIN)]


def _number_to_quantity(value: object) -> object:
    # YAML users write `cpu: 2`; Kubernetes accepts it as a quantity, so do we.
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return value


# A quantity as core/v1 ResourceRequirements takes it, bounded: the API server checks the
# bound with CEL's quantity library, the model again (docs/decisions.md, "Bounds").
CpuQuantity = Annotated[
    str,
    BeforeValidator(_number_to_quantity),
    Field(pattern=QUANTITY, max_length=64),
    AfterValidator(quantity_at_most(MAX_CPU, "cpu")),
    # int-or-string, as in core/v1 ResourceRequirements, so `cpu: 2` passes the API server.
    WithJsonSchema(quantity_schema(QUANTITY, MAX_CPU, "cpu")),
]
MemoryQuantity = Annotated[
    str,
    BeforeValidator(_number_to_quantity),
    Field(pattern=QUANTITY, max_length=64),
    AfterValidator(quantity_at_most(MAX_MEMORY, "memory")),
    WithJsonSchema(quantity_schema(QUANTITY, MAX_MEMORY, "memory")),
]


class Priority(StrEnum):
    """Highest first; the order is the scheduling order."""

    CRITICAL = "CRITICAL"
    HIGH = "HIGH"
    NORMAL = "NORMAL"
    LOW = "LOW"
    MAINTENANCE = "MAINTENANCE"

    @property
    def rank(self) -> int:
        """0 for CRITICAL, 4 for MAINTENANCE: smaller runs first."""
        return list(Priority).index(self)


class ConditionStatus(StrEnum):
    TRUE = "True"
    FALSE = "False"
    UNKNOWN = "Unknown"


class Condition(StatusModel):
    """The standard ``metav1.Condition`` shape, so kstatus, Argo CD and kubectl wait read it."""

    type: str = Field(max_length=316)
    status: ConditionStatus
    reason: str = Field(max_length=1024, pattern=r"^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$")
    message: str = Field(default="", max_length=32768)
    last_transition_time: datetime
    observed_generation: int | None = Field(default=None, ge=0)


# A list of conditions keyed by type, so server-side apply merges them one by one.
Conditions = Annotated[
    list[Condition],
    Field(
        default_factory=list,
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"]},
    ),
]


class WorkloadKind(StrEnum):
    DEPLOYMENT = "Deployment"
    STATEFUL_SET = "StatefulSet"


class WorkloadRef(Model):
    """A Deployment or StatefulSet in the same namespace."""

    kind: WorkloadKind = WorkloadKind.DEPLOYMENT
    name: ObjectName


class LocalObjectRef(Model):
    name: ObjectName


class ResourceAmounts(Model):
    """CPU and memory as Kubernetes quantities (``500m``, ``2``, ``256Mi``)."""

    cpu: CpuQuantity | None = None
    memory: MemoryQuantity | None = None


def is_dns_label(name: str) -> bool:
    return len(name) <= 63 and re.fullmatch(DNS_LABEL, name) is not None
