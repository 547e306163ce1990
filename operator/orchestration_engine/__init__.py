"""Enterprise Orchestration Engine: a Kubernetes operator for service health and workflows.

The Python API of the original engine is kept (``EnterpriseOrchestrationEngine``,
``OrchestrationConfiguration``); everything else is reached through the CLI and the CRDs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

__all__ = ["EnterpriseOrchestrationEngine", "OrchestrationConfiguration", "__version__"]

if TYPE_CHECKING:
    from orchestration_engine.legacy_api import (
        EnterpriseOrchestrationEngine,
        OrchestrationConfiguration,
    )


def __getattr__(name: str) -> Any:
    # Imported on first use: the CLI must not pay for the Kubernetes client to print --help.
    if name in ("EnterpriseOrchestrationEngine", "OrchestrationConfiguration"):
        from orchestration_engine import legacy_api

        return getattr(legacy_api, name)
    raise AttributeError(f"module 'orchestration_engine' has no attribute {name!r}")
