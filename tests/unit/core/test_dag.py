"""core.dag: waves, missing names and cycles, named the way users wrote them."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from orchestration_engine.core import dag


def test_chain_runs_in_order() -> None:
    assert dag.waves({"a": [], "b": ["a"], "c": ["b"]}) == [["a"], ["b"], ["c"]]


def test_independent_branches_share_a_wave() -> None:
    graph = {"start": [], "left": ["start"], "right": ["start"], "join": ["left", "right"]}
    assert dag.waves(graph) == [["start"], ["left", "right"], ["join"]]


def test_wave_keeps_declaration_order() -> None:
    assert dag.waves({"z": [], "a": [], "m": []}) == [["z", "a", "m"]]


def test_empty_graph_has_no_waves() -> None:
    assert dag.waves({}) == []


def test_missing_dependency_is_named() -> None:
    with pytest.raises(dag.GraphError) as raised:
        dag.waves({"verify": ["migrat"], "migrate": []})
    assert "step 'verify' depends on 'migrat', which does not exist" in str(raised.value)
    assert [p.kind for p in raised.value.problems] == ["missing"]


def test_cycle_is_named_in_dependency_direction() -> None:
    with pytest.raises(dag.GraphError) as raised:
        dag.waves({"a": ["c"], "b": ["a"], "c": ["b"], "d": []})
    (problem,) = raised.value.problems
    assert problem.kind == "cycle"
    # Each node depends on the next one: a -> c -> b -> a.
    cycle = problem.nodes
    assert cycle[0] == cycle[-1]
    for node, dependency in itertools.pairwise(cycle):
        assert dependency in {"a": ["c"], "b": ["a"], "c": ["b"]}[node]
    assert "dependsOn forms a cycle" in problem.message


def test_self_dependency_is_a_cycle() -> None:
    problems = dag.validate({"a": ["a"]})
    assert [p.kind for p in problems] == ["cycle"]
    assert "a -> a" in problems[0].message


def test_missing_and_cycle_reported_together() -> None:
    problems = dag.validate({"a": ["b", "ghost"], "b": ["a"]}, what="workflow")
    kinds = sorted(p.kind for p in problems)
    assert kinds == ["cycle", "missing"]
    assert any("workflow 'a' depends on 'ghost'" in p.message for p in problems)


@st.composite
def acyclic_graphs(draw: st.DrawFn) -> dict[str, list[str]]:
    size = draw(st.integers(min_value=0, max_value=25))
    names = [f"n{i}" for i in range(size)]
    graph: dict[str, list[str]] = {}
    for index, name in enumerate(names):
        earlier = names[:index]
        graph[name] = draw(st.lists(st.sampled_from(earlier), unique=True)) if earlier else []
    return graph


@given(acyclic_graphs())
def test_waves_respect_every_dependency(graph: dict[str, list[str]]) -> None:
    result = dag.waves(graph)
    position = {node: i for i, wave in enumerate(result) for node in wave}
    assert sorted(position) == sorted(graph)
    for node, deps in graph.items():
        for dep in deps:
            assert position[dep] < position[node]
    # Each node sits in the earliest wave its dependencies allow.
    for node, deps in graph.items():
        assert position[node] == (max((position[d] for d in deps), default=-1) + 1)


@given(acyclic_graphs(), st.data())
def test_adding_a_back_edge_is_always_found(
    graph: dict[str, list[str]], data: st.DataObject
) -> None:
    edges = [(n, d) for n, deps in graph.items() for d in deps]
    if not edges:
        return
    node, dep = data.draw(st.sampled_from(edges))
    graph[dep] = [*graph[dep], node]
    assert dag.find_cycle(graph) is not None


def test_cycle_through_a_node() -> None:
    graph = {"a": ["b"], "b": ["c"], "c": ["a"], "x": ["a"], "y": []}
    assert dag.cycle_through(graph, "a") == ("a", "b", "c", "a")
    assert dag.cycle_through(graph, "x") is None  # x depends on a cycle but is not in it
    assert dag.cycle_through(graph, "y") is None
    assert dag.cycle_through({"s": ["s"]}, "s") == ("s", "s")
    assert dag.cycle_through({"s": ["missing"]}, "s") is None


@given(acyclic_graphs())
def test_no_cycle_through_any_node_of_an_acyclic_graph(graph: dict[str, list[str]]) -> None:
    assert all(dag.cycle_through(graph, node) is None for node in graph)
