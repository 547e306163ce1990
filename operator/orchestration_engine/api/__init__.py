"""The custom resources' schema: pydantic models from which the CRDs in ``crds/`` are generated."""

from orchestration_engine.api.common import (
    GROUP,
    VERSION,
    Condition,
    ConditionStatus,
    Priority,
    ResourceAmounts,
    WorkloadKind,
    WorkloadRef,
)
from orchestration_engine.api.engine import EngineSpec, EngineStatus, OrchestrationEngine
from orchestration_engine.api.service import (
    Health,
    OrchestratedService,
    ServiceSpec,
    ServiceStatus,
)
from orchestration_engine.api.workflow import (
    OrchestrationWorkflow,
    Step,
    StepAction,
    WorkflowPhase,
    WorkflowSpec,
    WorkflowStatus,
)

__all__ = [
    "GROUP",
    "VERSION",
    "Condition",
    "ConditionStatus",
    "EngineSpec",
    "EngineStatus",
    "Health",
    "OrchestratedService",
    "OrchestrationEngine",
    "OrchestrationWorkflow",
    "Priority",
    "ResourceAmounts",
    "ServiceSpec",
    "ServiceStatus",
    "Step",
    "StepAction",
    "WorkflowPhase",
    "WorkflowSpec",
    "WorkflowStatus",
    "WorkloadKind",
    "WorkloadRef",
]
