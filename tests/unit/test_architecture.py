"""The shape of the code, checked on every run: no import cycle (grimp builds the graph,
TYPE_CHECKING and function-level imports included), the dependency direction of
docs/design/decisions.md, and no function longer than 60 lines outside tests."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import grimp
import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("tasks", "runbooks", "simulator")
MAX_LINES = 60


@pytest.fixture(scope="module")
def graph() -> grimp.ImportGraph:
    sys.path.insert(0, str(ROOT))
    try:
        return grimp.build_graph(*PACKAGES, exclude_type_checking_imports=False)
    finally:
        sys.path.remove(str(ROOT))


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in sorted(edges[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return found


def edges_of(graph: grimp.ImportGraph) -> dict[str, set[str]]:
    ours = set(graph.modules)
    return {m: graph.find_modules_directly_imported_by(m) & ours for m in ours}


def test_cycle_finder_finds_a_cycle() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycle(graph: grimp.ImportGraph) -> None:
    assert cycles(edges_of(graph)) == []


def test_dependency_direction(graph: grimp.ImportGraph) -> None:
    edges = edges_of(graph)
    for module, imported in edges.items():
        if module.startswith("tasks"):
            assert not {m for m in imported if m.startswith("runbooks")}, module
        if module.startswith("simulator"):  # its device rules are its own (device_rules.py)
            ours = {m for m in imported if not m.startswith("simulator")}
            assert ours == set(), (module, ours)


def long_functions() -> list[str]:
    out = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            tree = ast.parse(path.read_text())
            for node in ast.walk(tree):
                if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    assert node.end_lineno is not None
                    length = node.end_lineno - node.lineno + 1
                    if length > MAX_LINES:
                        out.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name} {length}")
    return out


def test_no_function_over_60_lines() -> None:
    assert long_functions() == []
