"""The inventory as a graph: hosts, groups and defaults, group parents without cycles, each
cluster's values resolved through its groups, and every cluster on addresses of its own."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from runbooks.cli.input_files import load_mapping
from runbooks.cli.input_schema import DefaultsEntry, Entry
from runbooks.fleet.windows import parse_window
from tasks.errors import BadInput
from tasks.input_rules import (
    Problem,
    mismatch,
    node_address,
    one_box,
    ports_differ,
    safe_name_problem,
    schema_problems,
    shown,
)
from tasks.state.paths import SAFE_NAME
from tasks.vocabulary import NODES


@dataclass
class Inventory:
    hosts: dict[Any, Any]
    groups: dict[Any, Any]
    defaults: dict[Any, Any]
    labels: tuple[str, str, str]  # the three files, as named in messages


def check_inventory(hosts_file: Path, groups_file: Path, defaults_file: Path) -> list[Problem]:
    """Every host, group and default on its own, the group graph, the node addresses across
    the fleet, then each cluster's values as resolved through its groups and defaults."""
    problems: list[Problem] = []
    hosts = load_mapping(hosts_file, "clusters", problems)
    groups = load_mapping(groups_file, "groups", problems) if groups_file.is_file() else {}
    defaults = load_mapping(defaults_file, "settings", problems) if defaults_file.is_file() else {}
    if hosts is None or groups is None or defaults is None:
        return problems
    inv = Inventory(
        hosts, groups, defaults, (str(hosts_file), str(groups_file), str(defaults_file))
    )
    problems += schema_problems(DefaultsEntry, defaults, inv.labels[2], "defaults")
    for name, entry in groups.items():
        problems += schema_problems(Entry, entry, inv.labels[1], f"group {name}")
    problems += group_graph(inv)
    for name, entry in hosts.items():
        problems += host_problems(inv, name, entry)
    if problems:  # resolving through broken entries would only repeat them
        return problems
    problems += distinct_addresses(inv)
    for name in hosts:
        problems += resolved_problems(inv, name)
    return problems


def _parents(entry: Any) -> list[Any]:
    parents = entry.get("groups") if isinstance(entry, dict) else None
    return parents if isinstance(parents, list) else []


def group_graph(inv: Inventory) -> Iterator[Problem]:
    """Every group named exists; no group includes itself, directly or through others."""
    label = inv.labels[1]
    for name, entry in inv.groups.items():
        for parent in _parents(entry):
            if parent == name:
                yield Problem(label, "includes itself", "groups", f"group {name}")
            elif parent not in inv.groups:
                yield Problem(label, f"unknown group {shown(parent)}", "groups", f"group {name}")
    done: set[Any] = set()

    def visit(name: Any, path: list[Any]) -> Iterator[Problem]:
        if name in path:
            loop = " -> ".join(map(str, [*path[path.index(name) :], name]))
            if len(path) - path.index(name) > 1:
                yield Problem(label, f"groups loop: {loop}", "groups", f"group {path[0]}")
            return
        if name in done or name not in inv.groups:
            return
        for parent in _parents(inv.groups[name]):
            yield from visit(parent, [*path, name])
        done.add(name)

    for name in inv.groups:
        yield from visit(name, [])


def host_problems(inv: Inventory, name: Any, entry: Any) -> list[Problem]:
    label = inv.labels[0]
    cluster = str(name) if isinstance(name, str) and SAFE_NAME.fullmatch(name) else shown(name)
    problems = []
    if why := safe_name_problem(name):
        problems.append(Problem(label, why, "", cluster))
    problems += schema_problems(Entry, entry, label, cluster)
    for group in _parents(entry):
        if isinstance(group, str) and group not in inv.groups:
            problems.append(Problem(label, f"unknown group {shown(group)}", "groups", cluster))
    options = entry.get("connection_options") if isinstance(entry, dict) else None
    for node in NODES:
        conn = options.get(node) if isinstance(options, dict) else None
        if not isinstance(conn, dict) or conn.get("hostname") is None:
            problems.append(
                Problem(
                    label,
                    "missing: each node needs its own address",
                    f"connection_options.{node}.hostname",
                    cluster,
                )
            )
            continue
        if why := ports_differ(conn):
            problems.append(Problem(label, why, f"connection_options.{node}.port", cluster))
    return problems


def distinct_addresses(inv: Inventory) -> Iterator[Problem]:
    """One box is never two nodes: within a cluster, nor across the fleet."""
    seen: dict[tuple[str, int], tuple[str, str]] = {}
    for name, entry in inv.hosts.items():
        for node in NODES:
            address = node_address(entry["connection_options"][node])
            other = seen.get(address)
            where = f"{address[0]}:{address[1]}"
            key = f"connection_options.{node}"
            if other is not None and other[0] == name:
                yield Problem(inv.labels[0], one_box(address, other[1]), key, name)
            elif other is not None:
                yield Problem(
                    inv.labels[0],
                    f"{where} is also {other[0]}'s {other[1]}: a node belongs to one cluster",
                    key,
                    name,
                )
            else:
                seen[address] = (name, node)


def resolve(inv: Inventory, name: str, key: str) -> tuple[Any, str]:
    """A data key as Nornir's Host.get finds it (host, its groups depth first in the order
    listed, then the defaults), with where it came from ('' when nowhere)."""
    host = inv.hosts[name]
    data = host.get("data") or {}
    if key in data:
        return data[key], inv.labels[0]

    def in_groups(entry: dict[str, Any]) -> tuple[Any, str] | None:
        for group in _parents(entry):
            found = inv.groups.get(group) or {}
            if key in (found.get("data") or {}):
                return found["data"][key], f"{inv.labels[1]} (group {group})"
            deeper = in_groups(found)
            if deeper is not None:
                return deeper
        return None

    found = in_groups(host)
    if found is not None:
        return found
    defaults = inv.defaults.get("data") or {}
    return defaults.get(key), inv.labels[2] if key in defaults else ""


def resolved_problems(inv: Inventory, name: str) -> Iterator[Problem]:
    """A cluster's values together: the package installs the target; the window parses."""
    release, _ = resolve(inv, name, "target_release")
    package, package_from = resolve(inv, name, "package")
    both = isinstance(release, str) and isinstance(package, str)
    if both and (why := mismatch(release, package)):
        yield Problem(package_from, why, "data.package", name)
    window, window_from = resolve(inv, name, "window")
    if window is not None:
        zone, _ = resolve(inv, name, "timezone")
        try:
            parse_window(window, zone if isinstance(zone, str) else None)
        except BadInput as exc:
            yield Problem(window_from, exc.message, "data.window", name)
