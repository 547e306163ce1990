"""The optimiser's problem as a QUBO, and the sampler that solves it.

This is a classical simulation of a quantum-annealing formulation: the replica plan is
written as a quadratic unconstrained binary optimisation (QUBO), the form a quantum annealer
takes, and solved here by simulated annealing (``dwave-samplers``) on a CPU. A user with a
quantum annealer, or any other QUBO solver, passes a ``Sampler`` of their own to
``optimise``.

**Encoding.** For service ``i`` with window ``low..top`` (core/optimizer.py), one binary
``y[i,k]`` per step ``k = 1..top - low``, read as a count (unary):
``r_i = low_i + Σ_k y[i,k]``. The objective is linear in the steps:
``c_i(r_i) = c_i(low_i) - Σ_k g[i,k] y[i,k]`` with ``g[i,k] = c_i(low+k-1) - c_i(low+k) ≥ 0``,
the gain of the k-th step. The costs being convex, the gains shrink with ``k``, so among the
assignments with the same count the one with the first steps on is never worse: the order of
the steps needs no penalty, and a single flip moves a service by one replica (a one-hot
encoding would need two flips through a penalised state, which annealing crosses badly).

**Capacity.** For each binding dimension ``d`` (cpu, memory), with ``a[i,d]`` one replica's
share of the capacity, ``L_d = Σ a[i,d] * Σ_k y[i,k]`` the load above the minimums and
``R_d`` the share the minimums leave free, the inequality ``L_d ≤ R_d`` is encoded by
unbalanced penalisation (Montañez-Barrera et al., 2023) rather than slack variables:
``λ * (L_d - R_d) + μ_d * (L_d - R_d)²``. The linear part is a price on capacity: ``λ`` is
the Lagrangian dual price, the smallest price at which every service choosing its count
alone (``c_i(r) + λ * r * Σ_d a[i,d]``, separable, solved exactly) fits; the quadratic part,
``μ_d = MU_FACTOR * λ / median(a[·,d])``, holds the load near the capacity from either side.
Slack variables were tried first: their penalty must outweigh every gain, which flattens the
landscape: on the benchmark's instances annealing then ended 5-16% behind the greedy plan.
The penalty does not forbid exceeding the capacity; the decoder's repair does.

**Decoding.** ``r_i`` is the count of ``y[i,·]`` that are on; the optimiser then repairs any
capacity violation and spends what capacity is left greedily, so the plan is always valid.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

import dimod
import numpy as np

from orchestration_engine.core.optimizer import Compiled

# The quadratic penalty's weight, as a fraction of the dual price per median replica: low
# enough to leave the annealer free to trade replicas across the boundary, high enough to keep
# it near. Chosen on seeded instances (tests/bench/optimizer_instances.py): 0.1 and 0.25
# did alike, 0.5 and above fell behind the greedy plan on large instances.
MU_FACTOR = 0.25
# Bisection steps for the dual price: 2^-40 of its bracket, far below any cost difference.
DUAL_STEPS = 40
NUM_READS = 8
NUM_SWEEPS = 1000


class Sampler(Protocol):
    """Anything that returns a low-energy assignment of a binary quadratic model."""

    def sample(self, bqm: dimod.BinaryQuadraticModel) -> Mapping[int, int]: ...


@dataclass(frozen=True, slots=True)
class SimulatedAnnealing:
    """dwave-samplers' simulated annealer, seeded: the same problem gives the same plan."""

    seed: int = 0
    num_reads: int = NUM_READS
    num_sweeps: int = NUM_SWEEPS

    def sample(self, bqm: dimod.BinaryQuadraticModel) -> Mapping[int, int]:
        # Imported here: it loads a compiled extension that plans without annealing never need.
        from dwave.samplers import SimulatedAnnealingSampler

        # The sampler's __init__ carries no annotations (the package is otherwise typed).
        sampler = SimulatedAnnealingSampler()  # type: ignore[no-untyped-call]
        result = sampler.sample(
            bqm, num_reads=self.num_reads, num_sweeps=self.num_sweeps, seed=self.seed
        )
        return {int(v): int(x) for v, x in result.first.sample.items()}


@dataclass(frozen=True, slots=True)
class Qubo:
    bqm: dimod.BinaryQuadraticModel
    steps: tuple[int, ...]  # the service of each step variable (variables 0..len-1)

    @property
    def size(self) -> int:
        return len(self.steps)


def relaxed(c: Compiled, price: float) -> list[int]:
    """Each service's best count when capacity costs ``price`` per unit of share."""

    def best(i: int) -> int:
        unit = price * sum(c.share[i][d] for d in c.bounded)
        return min(range(c.low[i], c.top[i] + 1), key=lambda r: (c.cost(i, r) + unit * r, r))

    return [best(i) for i in range(len(c.services))]


def dual_price(c: Compiled) -> float:
    """The smallest capacity price at which the relaxed plan fits (bisection; the relaxed
    load only falls as the price rises)."""
    if c.fits(relaxed(c, 0.0)):
        return 0.0
    low, high = 0.0, 1.0
    while not c.fits(relaxed(c, high)):
        high *= 2.0
        if high > 1e12:
            break  # the minimums alone do not fit: the caller does not anneal then
    for _ in range(DUAL_STEPS):
        middle = (low + high) / 2.0
        if c.fits(relaxed(c, middle)):
            high = middle
        else:
            low = middle
    return high


def formulate(c: Compiled) -> Qubo:
    steps: list[int] = []
    gains: list[float] = []
    for i in range(len(c.services)):
        for r in range(c.low[i] + 1, c.top[i] + 1):
            steps.append(i)
            gains.append(c.cost(i, r - 1) - c.cost(i, r))
    n = len(steps)
    if n == 0:
        return Qubo(dimod.BinaryQuadraticModel({}, {}, c.objective(c.low), "BINARY"), ())
    owner = np.array(steps)
    linear = -np.array(gains)
    quadratic = np.zeros((n, n))
    offset = c.objective(c.low)
    price = dual_price(c)
    for d in c.bounded:
        share = np.array([c.share[i][d] for i in range(len(c.services))])[owner]
        room = 1.0 - c.load(c.low, d)
        positive = share[share > 0]
        if positive.size == 0:
            continue
        weight = MU_FACTOR * price / float(np.median(positive))
        # λ(v·x - R) + μ(v·x - R)² with x binary (x² = x):
        #   Σ (λ v_i + μ v_i² - 2μR v_i) x_i + 2μ Σ_{i<j} v_i v_j x_i x_j - λR + μR²
        linear += price * share + weight * (share**2 - 2.0 * room * share)
        quadratic += np.triu(2.0 * weight * np.outer(share, share), k=1)
        offset += -price * room + weight * room**2
    bqm = dimod.BinaryQuadraticModel(linear, quadratic, offset, "BINARY")
    return Qubo(bqm, tuple(steps))


def decode(c: Compiled, qubo: Qubo, sample: Mapping[int, int]) -> list[int]:
    replicas: list[int] = list(c.low)
    for v, i in enumerate(qubo.steps):
        replicas[i] += 1 if sample.get(v, 0) else 0
    return replicas


def energy(qubo: Qubo, sample: Sequence[int]) -> float:
    """The model's energy of an assignment: the objective plus the capacity terms."""
    return float(qubo.bqm.energy(dict(enumerate(sample))))
