"""Enterprise Orchestration Engine: a Kubernetes operator for service health and workflows."""

__version__ = "0.1.0"

__all__ = ["__version__"]
