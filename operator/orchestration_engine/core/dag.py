"""Dependency graphs: validation that names the problem, and execution in waves.

Used for workflow steps, workflows' ``dependsOn`` and services' ``dependsOn`` alike.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from graphlib import CycleError, TopologicalSorter


@dataclass(frozen=True)
class GraphProblem:
    """One reason a graph cannot run; ``message`` names the nodes involved."""

    kind: str  # "missing" | "cycle"
    message: str
    nodes: tuple[str, ...]


class GraphError(ValueError):
    def __init__(self, problems: Sequence[GraphProblem]) -> None:
        self.problems = list(problems)
        super().__init__("; ".join(p.message for p in self.problems))


def missing_dependencies(
    graph: Mapping[str, Sequence[str]], *, what: str = "step"
) -> list[GraphProblem]:
    problems = []
    for node, deps in graph.items():
        for dep in deps:
            if dep not in graph:
                problems.append(
                    GraphProblem(
                        "missing",
                        f"{what} {node!r} depends on {dep!r}, which does not exist",
                        (node, dep),
                    )
                )
    return problems


def find_cycle(graph: Mapping[str, Sequence[str]]) -> tuple[str, ...] | None:
    """A cycle as ``(a, b, ..., a)`` where each node depends on the next, or None."""
    known = {node: [d for d in deps if d in graph] for node, deps in graph.items()}
    try:
        TopologicalSorter(known).prepare()
    except CycleError as error:
        # graphlib lists each node before the one that depends on it; we say it the way
        # users wrote it: "a depends on b".
        return tuple(reversed(error.args[1]))
    return None


def validate(graph: Mapping[str, Sequence[str]], *, what: str = "step") -> list[GraphProblem]:
    problems = missing_dependencies(graph, what=what)
    cycle = find_cycle(graph)
    if cycle is not None:
        path = " -> ".join(cycle)
        problems.append(
            GraphProblem(
                "cycle", f"dependsOn forms a cycle: {path} (each {what} depends on the next)", cycle
            )
        )
    return problems


def waves(graph: Mapping[str, Sequence[str]], *, what: str = "step") -> list[list[str]]:
    """Groups of nodes that can run together, in order; within a wave, declaration order.

    Raises GraphError naming every missing dependency and the cycle, if any.
    """
    problems = validate(graph, what=what)
    if problems:
        raise GraphError(problems)
    order = {node: i for i, node in enumerate(graph)}
    sorter = TopologicalSorter({node: list(deps) for node, deps in graph.items()})
    sorter.prepare()
    result = []
    while sorter.is_active():
        ready = sorted(sorter.get_ready(), key=order.__getitem__)
        result.append(ready)
        sorter.done(*ready)
    return result


def cycle_through(graph: Mapping[str, Sequence[str]], start: str) -> tuple[str, ...] | None:
    """A cycle that passes through ``start`` (``start -> … -> start``), or None.

    Cheaper than a whole-graph check when one node changed: only what ``start`` reaches is
    visited.
    """
    path: list[str] = [start]
    on_path = {start}
    visited: set[str] = set()

    def visit(node: str) -> bool:
        for dep in graph.get(node, ()):
            if dep == start:
                path.append(start)
                return True
            if dep in on_path or dep in visited or dep not in graph:
                continue
            path.append(dep)
            on_path.add(dep)
            if visit(dep):
                return True
            on_path.discard(path.pop())
            visited.add(dep)
        return False

    return tuple(path) if visit(start) else None
