"""The emergency halt: when it is raised, why, and when it clears (pure).

Triggers (each only while ``emergencyHaltEnabled``, except the manual one):

- ``ResourceExhaustion``: the host's CPU or memory above ``resourcePercent`` in each of the
  last ``RESOURCE_SAMPLES`` samples (one sample per engine round): a single busy second is
  not an emergency.
- ``ServiceFailures``: FAILED services above ``failedServicesPercent`` of the services whose
  health is known.
- ``WorkflowFailures``: Failed or RolledBack workflows above ``failedWorkflowsPercent`` of the
  workflows that still exist and finished in the last ``WORKFLOW_WINDOW_SECONDS``, once at
  least ``MIN_FINISHED_WORKFLOWS`` have (Cancelled ones count in neither).
- ``Timeout``: a workflow has been running longer than ``maxOrchestrationDurationSeconds``.
- ``Manual``: ``spec.halt: true``.

An automatic halt clears once no trigger has been crossed for ``settle_s`` (a cause that
flickers restarts the wait, so the halt does not flap); a manual one clears as soon as
``spec.halt`` is false. The reason shown is the manual one if any, else the first trigger
in the order above.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime

from orchestration_engine.api.engine import HaltReason

RESOURCE_SAMPLES = 3
WORKFLOW_WINDOW_SECONDS = 600.0
MIN_FINISHED_WORKFLOWS = 5
DEFAULT_SETTLE_SECONDS = 60.0


@dataclass(frozen=True)
class HaltInputs:
    enabled: bool
    manual: bool = False
    manual_message: str | None = None
    resource_percent: float = 95.0
    failed_services_percent: float = 50.0
    failed_workflows_percent: float = 30.0
    cpu_samples: tuple[float, ...] = ()  # newest last
    memory_samples: tuple[float, ...] = ()
    services_known: int = 0
    services_failed: int = 0
    workflows_finished: int = 0  # in the window
    workflows_failed: int = 0
    longest_running_s: float | None = None
    max_duration_s: float = 86400.0


@dataclass(frozen=True)
class HaltState:
    active: bool = False
    reason: HaltReason | None = None
    message: str = ""
    # When the last automatic cause went away; the halt clears settle_s after it.
    clear_since: datetime | None = None
    causes: tuple[tuple[HaltReason, str], ...] = field(default=())


def _above(samples: tuple[float, ...], limit: float) -> bool:
    recent = samples[-RESOURCE_SAMPLES:]
    return len(recent) == RESOURCE_SAMPLES and all(s > limit for s in recent)


def causes(inputs: HaltInputs) -> list[tuple[HaltReason, str]]:
    """Every automatic trigger crossed now, with a message carrying its figures."""
    if not inputs.enabled:
        return []
    found: list[tuple[HaltReason, str]] = []
    limit = inputs.resource_percent
    if _above(inputs.cpu_samples, limit) or _above(inputs.memory_samples, limit):
        cpu = inputs.cpu_samples[-1] if inputs.cpu_samples else 0.0
        memory = inputs.memory_samples[-1] if inputs.memory_samples else 0.0
        found.append(
            (
                HaltReason.RESOURCE_EXHAUSTION,
                f"host CPU {cpu:.0f}%, memory {memory:.0f}% (limit {limit:g}% for "
                f"{RESOURCE_SAMPLES} samples)",
            )
        )
    if inputs.services_known:
        percent = 100.0 * inputs.services_failed / inputs.services_known
        if percent > inputs.failed_services_percent:
            found.append(
                (
                    HaltReason.SERVICE_FAILURES,
                    f"{inputs.services_failed} of {inputs.services_known} services FAILED "
                    f"({percent:.0f}% > {inputs.failed_services_percent:g}%)",
                )
            )
    if inputs.workflows_finished >= MIN_FINISHED_WORKFLOWS:
        percent = 100.0 * inputs.workflows_failed / inputs.workflows_finished
        if percent > inputs.failed_workflows_percent:
            found.append(
                (
                    HaltReason.WORKFLOW_FAILURES,
                    f"{inputs.workflows_failed} of {inputs.workflows_finished} workflows "
                    f"finished in the last {WORKFLOW_WINDOW_SECONDS / 60:g} min failed "
                    f"({percent:.0f}% > {inputs.failed_workflows_percent:g}%)",
                )
            )
    longest = inputs.longest_running_s
    if longest is not None and longest > inputs.max_duration_s:
        found.append(
            (
                HaltReason.TIMEOUT,
                f"a workflow has run {longest:.0f}s, more than "
                f"maxOrchestrationDurationSeconds ({inputs.max_duration_s:g}s)",
            )
        )
    return found


def evaluate(inputs: HaltInputs, state: HaltState, now: datetime, *, settle_s: float) -> HaltState:
    crossed = tuple(causes(inputs))
    if inputs.manual:
        message = inputs.manual_message or "halt requested in spec.halt"
        return HaltState(True, HaltReason.MANUAL, message, None, crossed)
    if crossed:
        reason, message = crossed[0]
        return HaltState(True, reason, message, None, crossed)
    automatic = state.active and state.reason is not HaltReason.MANUAL
    if not automatic or not inputs.enabled:
        return HaltState(causes=crossed)
    clear_since = state.clear_since or now
    if (now - clear_since).total_seconds() >= settle_s:
        return HaltState(causes=crossed)
    remaining = settle_s - (now - clear_since).total_seconds()
    return replace(
        state,
        clear_since=clear_since,
        causes=crossed,
        message=f"{_cause_text(state)}; cleared, settling for {remaining:.0f}s more",
    )


def _cause_text(state: HaltState) -> str:
    return state.message.split("; cleared, settling")[0]
