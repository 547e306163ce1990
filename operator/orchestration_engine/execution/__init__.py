"""Running OrchestrationWorkflows: the adapters around the scheduler and the step machine."""
