"""The resource optimiser: replicas per service under the engine's capacity, per strategy.

Pure: the caller gathers the services' specs and observations into a ``Problem`` and applies
(or only reports) the ``Plan``. A plan gives every service a replica count within its
``minReplicas..maxReplicas`` that fits the capacity (cpu and memory, each optional). If even
the minimums do not fit, the plan is the minimums, flagged ``feasible=False``.

**The model.** Each service ``s`` has a priority weight ``w`` (CRITICAL 16, HIGH 8, NORMAL 4,
LOW 2, MAINTENANCE 1), a per-replica request, and a demand ``d`` in replicas: the replicas
that would bring its p95 to ``targetLatencyMs`` (``ready * p95 / target``, as the autoscaler
computes it, core/scaling.py). An unknown demand is taken as the current replicas (the
service is assumed to meet its target as it is). ``u`` is one replica's request as a share of
the capacity, cpu share plus memory share (an unbounded dimension counts against the total
the services would request at their maximum). Every objective is a sum over services of a
cost ``c(r)`` of the replica count ``r`` (so the strategies differ only in ``c``), minimised
subject to the capacity; each ``c`` is convex in ``r``, which the solvers rely on:

- PERFORMANCE: latency is modelled as proportional to the load per replica,
  ``latency(r) = target * d / r``, and what lies above the limit (the SLA's ``latencyMs``,
  else the target) is penalised relative to the limit:
  ``c(r) = w * max(0, latency(r) / limit - 1) + ε * u * r`` (ε = 0.001 breaks ties toward
  fewer replicas once the latency is met; r = 0 is read as half a replica).
- COST: ``c(r) = u * r + w * max(0, d - r)``: requested resources, plus a price per replica
  of unmet demand. A replica's share of the capacity is far below a priority weight, so
  demand is met whenever it fits; under pressure the lowest weights (LOW, MAINTENANCE) give
  up replicas first.
- RELIABILITY: CRITICAL and HIGH services want at least ``f = min(2, maxReplicas)``
  replicas, then redundancy above demand with diminishing returns:
  ``c(r) = w * (10 * max(0, f - r) + max(0, d - r) + 2^-max(0, r - d)) + ε * u * r``.
  Each spare replica halves the redundancy term, so spares spread across services.
- SCALABILITY: headroom: ``r ≥ d * (1 + h)`` with h = 0.25, leaving the rest free:
  ``c(r) = u * r + w * max(0, d * (1 + h) - r)``.
- QUANTUM_ENHANCED: the objective of a base strategy (PERFORMANCE unless told otherwise),
  written as a QUBO and solved by simulated annealing (core/qubo.py): a classical
  simulation of a quantum-annealing formulation. A user with a quantum annealer plugs in a
  sampler of their own.

**Solvers.** ``greedy`` starts from the minimums and adds one replica at a time where it
lowers the cost most per unit of capacity (ties: higher priority first). ``exact`` is
branch and bound, for small instances (the benchmark and the tests compare with it).
``anneal`` is the QUBO path: sample, decode, repair any capacity violation by taking
replicas away where it costs least (lowest priorities first, by their weights), then spend
any capacity left greedily.

All solvers search ``min..top`` for each service, ``top`` being the service's best count
ignoring capacity: above it the cost only rises and more is requested, so no plan gains
from it.

**The score** (0..100) places the plan's objective between two references: 100 at the
``bound`` (the sum of each service's best cost ignoring capacity, a lower bound on any
plan), 0 at the minimum-replicas plan's objective (what the floor alone gives); clipped.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from typing import TYPE_CHECKING

from orchestration_engine.api.common import Priority, ResourceAmounts
from orchestration_engine.api.engine import OptimizationStrategy
from orchestration_engine.api.quantity import parse_quantity

if TYPE_CHECKING:
    from orchestration_engine.core.qubo import Sampler

Key = tuple[str, str]  # namespace, name

WEIGHT: dict[Priority, float] = {
    Priority.CRITICAL: 16.0,
    Priority.HIGH: 8.0,
    Priority.NORMAL: 4.0,
    Priority.LOW: 2.0,
    Priority.MAINTENANCE: 1.0,
}
# A tie-break, not a goal: small enough never to outweigh a latency or redundancy gain.
EPSILON = 0.001
# RELIABILITY: replicas below the two-replica floor cost ten times unmet demand, so the floor
# is met before any demand or redundancy, as far as the capacity allows.
FLOOR_PENALTY = 10.0
RELIABLE_FLOOR = 2
HEADROOM = 0.25
# The exact solver refuses more combinations than this (it is for small instances).
EXACT_LIMIT = 10**7
# Above this many QUBO variables the annealer is not used: the model is dense (tens of MB at
# 2,000 variables) and annealing time grows with its square; the benchmark's 200 services
# need 400-700.
MAX_QUBO_VARIABLES = 2000
# Costs within this of each other are equal (float sums in different orders).
TOLERANCE = 1e-9


class Solver(StrEnum):
    GREEDY = "greedy"
    EXACT = "exact"
    ANNEAL = "anneal"


@dataclass(frozen=True, slots=True)
class Capacity:
    cpu: float | None = None  # cores; None: unbounded
    memory: float | None = None  # bytes; None: unbounded


def capacity_from(amounts: ResourceAmounts | None) -> Capacity:
    """The engine's ``spec.capacity`` as numbers."""
    if amounts is None:
        return Capacity()
    return Capacity(
        float(parse_quantity(amounts.cpu)) if amounts.cpu is not None else None,
        float(parse_quantity(amounts.memory)) if amounts.memory is not None else None,
    )


def requests_from(amounts: ResourceAmounts | None) -> tuple[float, float]:
    """A service's ``spec.resources`` per replica as (cores, bytes); unset counts as 0."""
    if amounts is None:
        return 0.0, 0.0
    cpu = parse_quantity(amounts.cpu) if amounts.cpu is not None else Decimal(0)
    memory = parse_quantity(amounts.memory) if amounts.memory is not None else Decimal(0)
    return float(cpu), float(memory)


@dataclass(frozen=True, slots=True)
class Service:
    key: Key
    priority: Priority
    min_replicas: int
    max_replicas: int
    cpu: float  # cores per replica
    memory: float  # bytes per replica
    current: int
    demand: float | None = None  # replicas that meet the latency target; None: unknown
    target_latency_ms: float | None = None
    sla_latency_ms: float | None = None

    def __post_init__(self) -> None:
        if not 0 <= self.min_replicas <= self.max_replicas:
            raise ValueError(f"{self.name}: replicas {self.min_replicas}..{self.max_replicas}")

    @property
    def name(self) -> str:
        return self.key[1]

    @property
    def expected_demand(self) -> float:
        return self.demand if self.demand is not None else float(self.current)


@dataclass(frozen=True, slots=True)
class Problem:
    services: tuple[Service, ...]
    capacity: Capacity = field(default_factory=Capacity)


@dataclass(frozen=True, slots=True)
class Plan:
    replicas: dict[Key, int]
    objective: float  # the strategy's cost: lower is better
    bound: float  # no plan's objective is lower (each service at its best, capacity ignored)
    score: float  # 0..100: objective between the minimum-replicas plan (0) and the bound (100)
    feasible: bool  # False: even the minimums exceed the capacity
    notes: tuple[str, ...]
    reasons: dict[Key, str]  # per service, with the figures behind its count
    solver: Solver = Solver.GREEDY  # the solver that made it (annealing may fall back)


# -- the compiled problem: what every solver works on ---------------------------------------


@dataclass(frozen=True, slots=True)
class Compiled:
    """The problem reduced to numbers: per service, the replica window, the cost of each
    count in it, and the capacity share of one replica per dimension."""

    services: tuple[Service, ...]
    strategy: OptimizationStrategy
    low: tuple[int, ...]  # minReplicas
    top: tuple[int, ...]  # best count ignoring capacity
    costs: tuple[tuple[float, ...], ...]  # costs[i][r - low[i]] for r in low..top
    share: tuple[tuple[float, ...], ...]  # share[i][dim]: one replica / bounded capacity
    usage: tuple[float, ...]  # one replica's share, all dimensions (the greedy's unit)
    bounded: tuple[int, ...]  # the capacity dimensions that constrain (0 cpu, 1 memory)

    def cost(self, i: int, r: int) -> float:
        return self.costs[i][r - self.low[i]]

    @property
    def steps(self) -> int:
        """Replicas that can be added above the minimums: the QUBO's decision variables."""
        return sum(t - lo for lo, t in zip(self.low, self.top, strict=True))

    def objective(self, replicas: Sequence[int]) -> float:
        return sum(self.cost(i, r) for i, r in enumerate(replicas))

    def load(self, replicas: Sequence[int], dim: int) -> float:
        return sum(self.share[i][dim] * r for i, r in enumerate(replicas))

    def fits(self, replicas: Sequence[int]) -> bool:
        return all(self.load(replicas, d) <= 1.0 + TOLERANCE for d in self.bounded)


def cost_function(strategy: OptimizationStrategy, usage: float) -> Callable[[Service, int], float]:
    """The per-service cost ``c(r)`` of the module docstring."""

    def performance(s: Service, r: int) -> float:
        # Zero replicas serve nothing; the model reads it as half a replica so the cost
        # stays finite (an annealer cannot take an infinite bias) and convex.
        over = s.expected_demand / (max(r, 0.5) * _limit_ratio(s)) - 1.0
        return WEIGHT[s.priority] * max(0.0, over) + EPSILON * usage * r

    def cost(s: Service, r: int) -> float:
        return usage * r + WEIGHT[s.priority] * max(0.0, s.expected_demand - r)

    def reliability(s: Service, r: int) -> float:
        d = s.expected_demand
        floor = _reliable_floor(s)
        term = FLOOR_PENALTY * max(0, floor - r) + max(0.0, d - r) + math.pow(2.0, -max(0.0, r - d))
        return WEIGHT[s.priority] * term + EPSILON * usage * r

    def scalability(s: Service, r: int) -> float:
        wanted = s.expected_demand * (1.0 + HEADROOM)
        return usage * r + WEIGHT[s.priority] * max(0.0, wanted - r)

    table = {
        OptimizationStrategy.PERFORMANCE: performance,
        OptimizationStrategy.COST: cost,
        OptimizationStrategy.RELIABILITY: reliability,
        OptimizationStrategy.SCALABILITY: scalability,
    }
    return table[strategy]


def _limit_ratio(s: Service) -> float:
    """The latency limit over the target: the model's latency is target * d / r, so the
    latency is over the limit when d / r exceeds this."""
    if s.sla_latency_ms is not None and s.target_latency_ms is not None:
        return s.sla_latency_ms / s.target_latency_ms
    return 1.0


def _reliable_floor(s: Service) -> int:
    if s.priority in (Priority.CRITICAL, Priority.HIGH):
        return min(RELIABLE_FLOOR, s.max_replicas)
    return s.min_replicas


def compile_problem(problem: Problem, strategy: OptimizationStrategy) -> Compiled:
    services = problem.services
    caps = (problem.capacity.cpu, problem.capacity.memory)
    requests = [(s.cpu, s.memory) for s in services]
    # An unbounded dimension is measured against what all services would request at their
    # maximum, so cpu and memory weigh alike in the usage whether bounded or not.
    refs = []
    for d in (0, 1):
        cap = caps[d]
        if cap is not None:
            # A zero capacity: any request at all is over it.
            refs.append(max(cap, 1e-12))
        else:
            total = sum(req[d] * s.max_replicas for req, s in zip(requests, services, strict=True))
            refs.append(total if total > 0 else 1.0)
    share = tuple(tuple(req[d] / refs[d] for d in (0, 1)) for req in requests)
    usage = tuple(sum(sh) for sh in share)
    lows, tops, costs = [], [], []
    for i, s in enumerate(services):
        c = cost_function(strategy, usage[i])
        row = [c(s, r) for r in range(s.min_replicas, s.max_replicas + 1)]
        # The smallest count within tolerance of the best: extra replicas that gain nothing.
        best = next(k for k in range(len(row)) if row[k] <= min(row) + TOLERANCE)
        lows.append(s.min_replicas)
        tops.append(s.min_replicas + best)
        costs.append(tuple(row[: best + 1]))
    bounded = []
    for d in (0, 1):
        cap = caps[d]
        if cap is None:
            continue
        if sum(share[i][d] * tops[i] for i in range(len(services))) > 1.0 + TOLERANCE:
            bounded.append(d)
    return Compiled(
        tuple(services),
        strategy,
        tuple(lows),
        tuple(tops),
        tuple(costs),
        share,
        usage,
        tuple(bounded),
    )


# -- solvers --------------------------------------------------------------------------------


def improve(c: Compiled, start: Sequence[int]) -> list[int]:
    """Greedy ascent from ``start`` (which must fit): one replica at a time, where it lowers
    the cost most per unit of capacity, while one fits. The costs being convex, a service's
    next gain never exceeds its last, so a stale heap entry is simply re-pushed."""
    replicas = list(start)
    loads = [c.load(replicas, d) for d in (0, 1)]
    heap: list[tuple[float, int, int, int]] = []

    def push(i: int) -> None:
        r = replicas[i]
        if r >= c.top[i]:
            return
        gain = c.cost(i, r) - c.cost(i, r + 1)
        if gain <= TOLERANCE:
            return
        ratio = gain / max(c.usage[i], 1e-12)
        heapq.heappush(heap, (-ratio, c.services[i].priority.rank, i, r))

    for i in range(len(replicas)):
        push(i)
    while heap:
        _, _, i, r = heapq.heappop(heap)
        if replicas[i] != r:
            continue
        if any(loads[d] + c.share[i][d] > 1.0 + TOLERANCE for d in c.bounded):
            continue  # the room only shrinks: this service gets no further replica
        replicas[i] = r + 1
        for d in (0, 1):
            loads[d] += c.share[i][d]
        push(i)
    return replicas


def solve_greedy(c: Compiled) -> list[int]:
    return improve(c, c.low)


def solve_exact(c: Compiled) -> list[int]:
    """Branch and bound: services in order, each count tried cheapest first; a branch is cut
    when its cost plus the remaining services' best costs cannot beat the best found, or when
    the remaining minimums no longer fit."""
    n = len(c.services)
    size = math.prod(len(row) for row in c.costs)
    if size > EXACT_LIMIT:
        raise ValueError(f"{size} combinations: too many for the exact solver")
    # Big services first: their choices decide the most, and cut the most.
    order = sorted(range(n), key=lambda i: -c.usage[i] * (c.top[i] - c.low[i]))
    best_rest = [0.0] * (n + 1)
    min_load = [[0.0, 0.0] for _ in range(n + 1)]
    for pos in range(n - 1, -1, -1):
        i = order[pos]
        best_rest[pos] = best_rest[pos + 1] + min(c.costs[i])
        for d in (0, 1):
            min_load[pos][d] = min_load[pos + 1][d] + c.share[i][d] * c.low[i]

    def cheapest_first(i: int) -> list[int]:
        return sorted(range(c.low[i], c.top[i] + 1), key=lambda r: c.cost(i, r))

    choices = [cheapest_first(i) for i in order]
    best: list[int] = list(c.low)  # the minimums: feasible whenever anything is
    best_cost = c.objective(best) if c.fits(best) else math.inf
    current = [0] * n

    def search(pos: int, cost: float, loads: tuple[float, float]) -> None:
        nonlocal best_cost, best
        if pos == n:
            if cost < best_cost - TOLERANCE:
                best_cost = cost
                plan = [0] * n
                for p, i in enumerate(order):
                    plan[i] = current[p]
                best = plan
            return
        if cost + best_rest[pos] >= best_cost - TOLERANCE:
            return
        i = order[pos]
        for r in choices[pos]:
            new = (loads[0] + c.share[i][0] * r, loads[1] + c.share[i][1] * r)
            if any(new[d] + min_load[pos + 1][d] > 1.0 + TOLERANCE for d in c.bounded):
                continue
            current[pos] = r
            search(pos + 1, cost + c.cost(i, r), new)

    search(0, 0.0, (0.0, 0.0))
    return best


def repair(c: Compiled, replicas: Sequence[int]) -> list[int]:
    """Over the capacity: take a replica away where the cost rises least per unit of the
    exceeded capacity it frees (the priority weights in the cost make that the lowest
    priorities first; on a tie, the lower priority), until the plan fits. Strict priority
    order was tried first and left plans up to 40% worse than the optimum on small
    instances, cutting a LOW service's needed replica before a NORMAL one's spare."""
    plan = list(replicas)
    while not c.fits(plan):
        over = [d for d in c.bounded if c.load(plan, d) > 1.0 + TOLERANCE]
        candidates = [
            i
            for i in range(len(plan))
            if plan[i] > c.low[i] and any(c.share[i][d] > 0 for d in over)
        ]
        if not candidates:
            break  # only the minimums are left: infeasible, reported by the caller
        i = min(
            candidates,
            key=lambda i: (
                (c.cost(i, plan[i] - 1) - c.cost(i, plan[i]))
                / max(sum(c.share[i][d] for d in over), 1e-12),
                -c.services[i].priority.rank,
            ),
        )
        plan[i] -= 1
    return plan


def solve_anneal(c: Compiled, sampler: Sampler) -> list[int]:
    from orchestration_engine.core.qubo import decode, formulate

    qubo = formulate(c)
    if qubo.size == 0:
        return list(c.low)
    sampled = decode(c, qubo, sampler.sample(qubo.bqm))
    return improve(c, repair(c, sampled))


# -- the entry point ------------------------------------------------------------------------


def optimise(
    problem: Problem,
    strategy: OptimizationStrategy,
    *,
    solver: Solver | None = None,
    seed: int = 0,
    base: OptimizationStrategy = OptimizationStrategy.PERFORMANCE,
    sampler: Sampler | None = None,
) -> Plan:
    """The plan for ``strategy``. ``solver`` defaults to ``anneal`` for QUANTUM_ENHANCED
    (whose objective is ``base``'s) and ``greedy`` otherwise; ``sampler`` replaces the
    seeded simulated annealer."""
    objective_of = strategy
    if strategy is OptimizationStrategy.QUANTUM_ENHANCED:
        if base is OptimizationStrategy.QUANTUM_ENHANCED:
            raise ValueError("the base of QUANTUM_ENHANCED is a classical strategy")
        objective_of = base
        solver = solver or Solver.ANNEAL
    solver = solver or Solver.GREEDY
    c = compile_problem(problem, objective_of)
    notes: list[str] = []
    lows = list(c.low)
    if not c.fits(lows):
        notes.append(_over_capacity(c, lows))
        replicas = lows
        feasible = False
    else:
        feasible = True
        if solver is Solver.GREEDY:
            replicas = solve_greedy(c)
        elif solver is Solver.EXACT:
            replicas = solve_exact(c)
        elif c.steps > MAX_QUBO_VARIABLES:
            # The capacity terms couple every pair of variables: memory and annealing time
            # grow with the square of the count.
            notes.append(
                f"QUBO of {c.steps} variables is over the {MAX_QUBO_VARIABLES} limit: greedy plan"
            )
            solver = Solver.GREEDY
            replicas = solve_greedy(c)
        else:
            if sampler is None:
                from orchestration_engine.core.qubo import SimulatedAnnealing

                sampler = SimulatedAnnealing(seed=seed)
            replicas = solve_anneal(c, sampler)
    if strategy is OptimizationStrategy.QUANTUM_ENHANCED:
        if solver is Solver.ANNEAL and feasible:
            notes.append(
                f"{base} objective as a QUBO, solved by simulated annealing"
                " (a classical simulation of quantum annealing)"
            )
        else:
            notes.append(f"{base} objective solved by {solver}, without annealing")
    objective = c.objective(replicas)
    bound = sum(min(row) for row in c.costs)
    floor = c.objective(lows)
    if floor - bound <= TOLERANCE:
        score = 100.0 if objective - bound <= TOLERANCE else 0.0
    else:
        score = 100.0 * (floor - objective) / (floor - bound)
    score = max(0.0, min(100.0, score))
    if feasible and any(r < t for r, t in zip(replicas, c.top, strict=True)):
        used = ", ".join(f"{_DIMS[d]} {100 * c.load(replicas, d):.0f}%" for d in c.bounded)
        notes.append(f"capacity binds: {used} of the capacity requested")
    reasons = {s.key: _reason(c, i, replicas[i]) for i, s in enumerate(c.services)}
    return Plan(
        {s.key: r for s, r in zip(c.services, replicas, strict=True)},
        objective,
        bound,
        score,
        feasible,
        tuple(notes),
        reasons,
        solver if feasible else Solver.GREEDY,
    )


_DIMS = ("cpu", "memory")


def _over_capacity(c: Compiled, replicas: Sequence[int]) -> str:
    over = ", ".join(
        f"{_DIMS[d]} {100 * c.load(replicas, d):.0f}%"
        for d in c.bounded
        if c.load(replicas, d) > 1.0 + TOLERANCE
    )
    return f"the minimum replicas alone exceed the capacity ({over} of it); plan is the minimums"


def _reason(c: Compiled, i: int, r: int) -> str:
    """Why service ``i`` gets ``r`` replicas, with the model's figures."""
    s = c.services[i]
    d = s.expected_demand
    known = "" if s.demand is not None else " (unknown: taken as current)"
    parts = [f"{s.name}: demand {d:.1f} replicas{known}"]
    strategy = c.strategy
    if strategy is OptimizationStrategy.PERFORMANCE and s.target_latency_ms is not None:
        limit = s.sla_latency_ms if s.sla_latency_ms is not None else s.target_latency_ms
        label = "SLA" if s.sla_latency_ms is not None else "target"
        at_current = _model_latency(s, s.current)
        relation = ">" if at_current > limit else "<="
        parts.append(
            f"p95 model {at_current:.0f} ms {relation} {label} {limit:g} ms at {s.current}"
        )
        tail = f"; {r} replicas (model {_model_latency(s, r):.0f} ms)"
    elif strategy is OptimizationStrategy.RELIABILITY:
        floor = _reliable_floor(s)
        parts.append(f"floor {floor}, {max(0.0, r - d):.1f} spare above demand at {r}")
        tail = f"; {r} replicas"
    elif strategy is OptimizationStrategy.SCALABILITY:
        parts.append(f"headroom target {d * (1 + HEADROOM):.1f}")
        tail = f"; {r} replicas"
    else:
        tail = f"; {r} replicas"
    cpu = s.cpu * r
    memory = s.memory * r
    tail += f" requesting cpu {cpu:g}, memory {memory / 2**20:.0f}Mi"
    if r < c.top[i]:
        tail += f" (best {c.top[i]} without the capacity limit)"
    elif r == s.max_replicas and r < math.ceil(d - TOLERANCE):
        tail += f" (held at maxReplicas {s.max_replicas})"
    return ", ".join(parts) + tail


def _model_latency(s: Service, r: int) -> float:
    assert s.target_latency_ms is not None
    if r <= 0:
        return math.inf
    return s.target_latency_ms * s.expected_demand / r
