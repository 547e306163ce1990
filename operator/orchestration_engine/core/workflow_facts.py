"""What the workflows are doing, summed up for the engine's phase and its halt triggers."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class WorkflowFacts:
    running: int = 0
    maintenance: int = 0  # running workflows of workflowType maintenance
    failovers: int = 0  # failover or failback steps executing
    scaling: int = 0  # scale steps executing
    finished_recent: int = 0  # finished in the halt's window and still existing
    failed_recent: int = 0  # of those, Failed or RolledBack
    longest_running_s: float | None = None
