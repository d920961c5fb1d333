"""The shape of the code, checked on every run: no import cycle (grimp builds the graph,
TYPE_CHECKING and function-level imports included), the layers (lowest first: base, state,
device, plans, the tasks API, runbooks; docs/development/code-map.md), runbooks reaching tasks
only through its public modules, and no function longer than 60 lines outside tests."""

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


# The layers, lowest first. A module may import its own layer and the layers below it.
# words and facts: the vocabulary, the error family, events, SRX facts, the upgrade path table
BASE = {
    "tasks.vocabulary",
    "tasks.errors",
    "tasks.events",
    "tasks.srx_facts",
    "tasks.upgrade_paths",
}
LAYERS = (
    ("base", lambda m: m in BASE),
    ("state", lambda m: m.startswith("tasks.state")),  # run state: journal, locks, gate, ...
    ("device", lambda m: m.startswith("tasks.device")),  # sessions, RPCs, the XML
    ("plans", lambda m: m.startswith("tasks.plans")),  # per-cluster steps and decisions
    ("api", lambda m: m.startswith("tasks")),  # the Nornir tasks and what they run on
    ("runbooks", lambda m: m.startswith("runbooks")),  # CLI, fleet, output, engines
)


def layer_of(module: str) -> int:
    return next(i for i, (_, test) in enumerate(LAYERS) if test(module))


def test_layers_are_read_from_the_folders() -> None:
    names = [name for name, _ in LAYERS]
    assert names[layer_of("tasks.state.journal")] == "state"
    assert names[layer_of("tasks.device.junos")] == "device"
    assert names[layer_of("tasks.jobs")] == "api"
    assert names[layer_of("tasks.events")] == "base"
    assert layer_of("tasks.plans.upgrade") < layer_of("runbooks.cli.main")


def test_no_layer_imports_a_layer_above_it(graph: grimp.ImportGraph) -> None:
    # device never imports a plan; state never imports device or plans; nothing in tasks
    # imports runbooks; the base imports nothing of ours but the base
    wrong = [
        f"{module} -> {other}"
        for module, imported in edges_of(graph).items()
        if not module.startswith("simulator")
        for other in imported
        if layer_of(other) > layer_of(module)
    ]
    assert wrong == []


def public(module: str) -> bool:
    """What runbooks may import of tasks: the package, its top-level modules (the Nornir tasks,
    the input rules, the words) and the run state it builds a run from; never a device module
    or a plan directly."""
    return module.count(".") <= 1 or module.startswith("tasks.state.")


def test_runbooks_reach_tasks_only_through_its_public_modules(graph: grimp.ImportGraph) -> None:
    assert public("tasks.jobs") and public("tasks.state.locks")
    assert not public("tasks.device.junos") and not public("tasks.plans.upgrade")
    wrong = [
        f"{module} -> {other}"
        for module, imported in edges_of(graph).items()
        if module.startswith("runbooks")
        for other in imported
        if other.startswith("tasks") and not public(other)
    ]
    assert wrong == []


def test_the_simulator_has_rules_of_its_own(graph: grimp.ImportGraph) -> None:
    for module, imported in edges_of(graph).items():
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


def test_the_plans_reach_devices_only_through_the_seam(graph: grimp.ImportGraph) -> None:
    # tasks.device.rpc (NodeRpc, Devices) is what the plans know of a device; only
    # tasks.plans.sessions knows the default (napalm/PyEZ) sessions
    wrong = [
        f"{module} -> {other}"
        for module, imported in edges_of(graph).items()
        if module.startswith("tasks.plans") and module != "tasks.plans.sessions"
        for other in imported
        if other in ("tasks.device.connections", "tasks.device.wire")
    ]
    assert wrong == []


ASYNCSSH_TRANSPORT = (
    "tasks.device.netconf_framing",
    "tasks.device.asyncssh_node",
    "tasks.device.asyncssh_devices",
)


def test_the_plans_reach_the_asyncssh_transport_only_through_the_seam(
    graph: grimp.ImportGraph,
) -> None:
    # a run picks its transport in one place (tasks.transports, RunContext.devices); no plan
    # and no other device module knows the asyncssh one exists
    importers = {
        module
        for module, imported in edges_of(graph).items()
        if module not in ASYNCSSH_TRANSPORT and imported & set(ASYNCSSH_TRANSPORT)
    }
    assert importers == {"tasks.transports"}


def test_the_asyncssh_transport_stands_apart_from_the_napalm_stack(
    graph: grimp.ImportGraph,
) -> None:
    # the framing is pure; the session imports only the framing and the errors; the devices
    # reuse the one XML module (tasks.device.junos), never napalm's plugin or its patches
    edges = edges_of(graph)
    assert edges["tasks.device.netconf_framing"] == set()
    assert edges["tasks.device.asyncssh_node"] == {"tasks.device.netconf_framing", "tasks.errors"}
    napalm_stack = {
        "tasks.device.connections",
        "tasks.device.napalm_node",
        "tasks.device.session_tuning",
    }
    for module in ASYNCSSH_TRANSPORT:
        assert not edges[module] & napalm_stack, module
        assert not third_party(module) & {"napalm", "ncclient", "paramiko", "jnpr"}, module


def third_party(module: str) -> set[str]:
    """The top-level packages `module`'s own source imports (grimp sees only ours)."""
    tree = ast.parse((ROOT / (module.replace(".", "/") + ".py")).read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module.split(".")[0])
    return names
