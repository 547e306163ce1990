"""Which waiting workflows start now: priority with aging, concurrency, capacity, dependencies.

The rules (docs/workflows.md says the same to users):

- A workflow is eligible once every workflow in its ``dependsOn`` has Succeeded. One that
  names a missing workflow waits (``DependencyNotFound``); one whose dependency ended Failed,
  RolledBack or Cancelled will never run and is cancelled.
- Eligible workflows are ordered by effective priority, then age (oldest first), then
  ``estimatedDurationSeconds`` (shortest first, unset last), then name. **Aging**: a waiting
  workflow gains one priority level for every ``AGING_STEP_SECONDS`` it has waited, up to
  HIGH. So a LOW workflow outranks fresh NORMAL ones after 5 minutes and fresh HIGH ones
  after 10 (ties go to the older); CRITICAL is never reached by waiting, it stays
  reserved for what users marked CRITICAL.
- In that order, a workflow starts if fewer than ``max_concurrent`` are running and its
  ``resources`` fit in what the running ones leave of the capacity. One that does not fit
  waits, and smaller ones behind it may start (best effort, like Kueue's BestEffortFIFO):
  capacity is never left idle for a workflow that cannot use it yet.
- During an emergency halt only CRITICAL workflows start.
- ``queuePosition`` is the 1-based place among eligible workflows that still wait.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from orchestration_engine.api.common import Priority
from orchestration_engine.api.quantity import format_quantity

AGING_STEP_SECONDS = 300.0
AGING_CEILING = Priority.HIGH

Key = tuple[str, str]  # namespace, name

SUCCEEDED = "Succeeded"
NEVER_SUCCEEDING = frozenset({"Failed", "RolledBack", "Cancelled"})


@dataclass(frozen=True)
class Resources:
    cpu: Decimal = Decimal(0)
    memory: Decimal = Decimal(0)

    def __add__(self, other: Resources) -> Resources:
        return Resources(self.cpu + other.cpu, self.memory + other.memory)

    def __sub__(self, other: Resources) -> Resources:
        return Resources(self.cpu - other.cpu, self.memory - other.memory)

    def floor_zero(self) -> Resources:
        """What is free can show as negative when the capacity was lowered under running
        work; zero is what users mean by it."""
        return Resources(max(self.cpu, Decimal(0)), max(self.memory, Decimal(0)))

    def fits_in(self, room: Resources) -> bool:
        return self.cpu <= room.cpu and self.memory <= room.memory

    def describe(self) -> str:
        return (
            f"cpu {format_quantity(self.cpu)}, memory {format_quantity(self.memory, binary=True)}"
        )


@dataclass(frozen=True)
class Candidate:
    key: Key
    priority: Priority
    created: datetime
    estimated_duration_s: int | None = None
    resources: Resources = field(default_factory=Resources)
    depends_on: tuple[str, ...] = ()


@dataclass(frozen=True)
class Limits:
    max_concurrent: int
    capacity: Resources | None  # None: unlimited
    halted: bool = False


@dataclass(frozen=True)
class Wait:
    reason: str  # CamelCase, for the Admitted condition
    message: str
    position: int | None = None  # None: not eligible yet, so not in the queue


@dataclass(frozen=True)
class Schedule:
    admit: list[Key]
    waiting: dict[Key, Wait]
    cancel: dict[Key, str]  # a dependency will never succeed: why


def effective_rank(priority: Priority, waited_s: float) -> int:
    if priority is Priority.CRITICAL:
        return priority.rank
    boost = int(max(0.0, waited_s) // AGING_STEP_SECONDS)
    return max(AGING_CEILING.rank, priority.rank - boost)


def _order(candidate: Candidate, now: datetime) -> tuple[int, datetime, float, str, str]:
    waited = (now - candidate.created).total_seconds()
    duration = candidate.estimated_duration_s
    return (
        effective_rank(candidate.priority, waited),
        candidate.created,
        float("inf") if duration is None else float(duration),
        candidate.key[0],
        candidate.key[1],
    )


def _dependency_verdict(candidate: Candidate, phases: Mapping[Key, str]) -> tuple[str, str] | None:
    """(reason, message) if the candidate cannot start because of its dependencies."""
    namespace = candidate.key[0]
    missing = [d for d in candidate.depends_on if (namespace, d) not in phases]
    if missing:
        return (
            "DependencyNotFound",
            f"waits for workflow {', '.join(missing)}, which does not exist",
        )
    doomed = [d for d in candidate.depends_on if phases[(namespace, d)] in NEVER_SUCCEEDING]
    if doomed:
        ended = ", ".join(f"{d} ({phases[(namespace, d)]})" for d in doomed)
        return "DependencyFailed", f"workflow {ended} will not succeed"
    waiting = [d for d in candidate.depends_on if phases[(namespace, d)] != SUCCEEDED]
    if waiting:
        return "WaitingForDependencies", f"waits for workflow {', '.join(waiting)} to succeed"
    return None


def schedule(
    candidates: Sequence[Candidate],
    running: Mapping[Key, Resources],
    limits: Limits,
    phases: Mapping[Key, str],
    now: datetime,
) -> Schedule:
    """``phases``: every workflow known, by key (for dependencies); ``running``: what holds a
    slot now and its resources."""
    admit: list[Key] = []
    waiting: dict[Key, Wait] = {}
    cancel: dict[Key, str] = {}
    eligible: list[Candidate] = []
    for candidate in candidates:
        verdict = _dependency_verdict(candidate, phases)
        if verdict is None:
            eligible.append(candidate)
        elif verdict[0] == "DependencyFailed":
            cancel[candidate.key] = verdict[1]
        else:
            waiting[candidate.key] = Wait(*verdict)
    eligible.sort(key=lambda c: _order(c, now))

    slots = limits.max_concurrent - len(running)
    used = sum(running.values(), Resources())
    position = 0
    for candidate in eligible:
        blocked = _blocked(candidate, slots, used, limits)
        if blocked is None:
            admit.append(candidate.key)
            slots -= 1
            used = used + candidate.resources
            continue
        position += 1
        waiting[candidate.key] = Wait(blocked[0], blocked[1], position)
    return Schedule(admit, waiting, cancel)


def _blocked(
    candidate: Candidate, slots: int, used: Resources, limits: Limits
) -> tuple[str, str] | None:
    if limits.halted and candidate.priority is not Priority.CRITICAL:
        return "EmergencyHalt", "the engine is in emergency halt: only CRITICAL workflows start"
    if slots <= 0:
        return (
            "ConcurrencyLimit",
            f"waits for a slot: {limits.max_concurrent} workflows are running "
            "(maxConcurrentWorkflows)",
        )
    if limits.capacity is not None and not candidate.resources.fits_in(limits.capacity - used):
        if not candidate.resources.fits_in(limits.capacity):
            return (
                "ExceedsCapacity",
                f"needs {candidate.resources.describe()}, more than the engine's whole "
                f"capacity ({limits.capacity.describe()})",
            )
        return (
            "InsufficientCapacity",
            f"waits for capacity: needs {candidate.resources.describe()}, "
            f"{(limits.capacity - used).floor_zero().describe()} free",
        )
    return None
