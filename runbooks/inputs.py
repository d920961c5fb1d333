"""One validation pass over everything a run is given, before any device is contacted: flags,
output paths, the config file and the whole inventory (every host, group and default, and
each cluster's values as resolved through them). Every problem is one line naming the file
(and the line, for YAML errors), the cluster or group and the key path; the CLI prints the
first (all of them with -v) and exits 2.

The rules themselves (release and package names, URLs, ports, addresses, the inventory's
`data:` and connection shapes, ...) live in tasks.input_rules, which the srx_* tasks apply to
their own arguments and host: the CLI and a user's own script refuse the same input. What
is here is the CLI's own: flags, output files, the config file and the inventory files.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import ruamel.yaml
from pydantic import AfterValidator, Field, StrictStr

from runbooks.windows import parse_window
from tasks.errors import BadInput
from tasks.input_rules import (
    Address,
    Closed,
    Connection,
    Data,
    Open,
    Port,
    Problem,
    SafeName,
    Text,
    TimingValues,
    User,
    Workers,
    checked,
    env_problems,
    mismatch,
    node_address,
    one_box,
    one_of,
    override_problems,
    ports_differ,
    regex_problem,
    safe_name_problem,
    schema_problems,
    shown,
    source_url_problem,
)
from tasks.paths import SAFE_NAME
from tasks.values import NODES
from tasks.vocabulary import JOB_NAMES, OUTCOMES

OUTPUT_FLAGS = ("report", "events", "log_file")


class InputErrors(BadInput):
    """Everything wrong with a run's input, one Problem each; nothing was sent."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        more = f" (and {len(problems) - 1} more; -v lists all)" if len(problems) > 1 else ""
        super().__init__(problems[0].line() + more)


def error_text(exc: BadInput, verbose: int) -> str:
    """What the CLI prints: one line, or with -v every problem on a line of its own."""
    if isinstance(exc, InputErrors) and verbose:
        return "".join(f"error: {p.line()}\n" for p in exc.problems)
    return f"error: {exc}\n"


def validate(args: argparse.Namespace) -> None:
    """Flags, output paths, config and inventory; InputErrors listing every problem."""
    problems = list(check_flags(args))
    problems += check_files(Path(args.config), args.inventory)
    if problems:
        raise InputErrors(problems)


# ------------------------------------------------------------------------------ schemas

_S = Field(strict=True)
Outcome = Annotated[str, _S, AfterValidator(checked(one_of(OUTCOMES, "outcome")))]
Job = Annotated[str, _S, AfterValidator(checked(one_of(JOB_NAMES, "job")))]


class DefaultsEntry(Closed):
    hostname: Address | None = None
    port: Port | None = None
    username: User | None = None
    password: StrictStr | None = None
    platform: Text | None = None
    data: Data | None = None
    connection_options: dict[StrictStr, Connection] | None = None


class Entry(DefaultsEntry):
    """A host or a group."""

    groups: list[StrictStr] | None = None


class InventoryConfig(Closed):
    plugin: Text = "SimpleInventory"
    options: dict[StrictStr, Any] | None = None
    transform_function: StrictStr | None = None
    transform_function_options: dict[StrictStr, Any] | None = None


class RunnerOptions(Open):
    num_workers: Workers | None = None


class RunnerConfig(Closed):
    plugin: Text = "threaded"
    options: RunnerOptions | None = None


class UserDefined(Open):
    state_dir: Text | None = None
    timing: TimingValues | None = None


class ConfigFile(Closed):
    inventory: InventoryConfig | None = None
    runner: RunnerConfig | None = None
    ssh: dict[StrictStr, Any] | None = None
    logging: dict[StrictStr, Any] | None = None
    core: dict[StrictStr, Any] | None = None
    user_defined: UserDefined | None = None


class ReportCluster(Open):
    outcome: Outcome


class ReportFile(Open):
    job: Job
    clusters: dict[SafeName, ReportCluster]


# ------------------------------------------------------------------------------ flags


def check_flags(args: argparse.Namespace) -> Iterator[Problem]:
    yield from env_problems()
    for name in args.cluster:
        if why := safe_name_problem(name):
            yield Problem("--cluster", why)
    yield from check_outputs(args)
    yield from check_from_report(getattr(args, "from_report", None), getattr(args, "only", None))
    yield from check_override(getattr(args, "target_release", None), getattr(args, "package", None))
    yield from check_job_flags(args)
    if getattr(args, "window", None) is not None:
        try:
            parse_window(args.window)
        except BadInput as exc:
            yield Problem("--window", exc.message)


def check_outputs(args: argparse.Namespace) -> Iterator[Problem]:
    """--report, --events and --log-file: each a writable file in an existing directory."""
    seen: dict[Path, str] = {}
    for attr in OUTPUT_FLAGS:
        path = getattr(args, attr, None)
        if path is None:
            continue
        flag = "--" + attr.replace("_", "-")
        if why := _output_problem(Path(path)):
            yield Problem(flag, why)
        resolved = Path(os.path.abspath(path))
        if resolved in seen:
            yield Problem(flag, f"is also {seen[resolved]}: {path}")
        seen[resolved] = flag


def _output_problem(path: Path) -> str | None:
    if not path.name or path.is_dir():
        return f"is a directory, not a file: {path}"
    if path.exists() and not path.is_file():
        return f"is not a regular file: {path}"
    parent = path.parent
    if not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
        return f"directory not writable (or missing): {parent}"
    if path.exists() and not os.access(path, os.W_OK):
        return f"file not writable: {path}"
    return _write_probe(path)


def _write_probe(path: Path) -> str | None:
    """What os.access cannot tell (root is allowed everything, /proc says 'regular file'):
    the file opened for appending (nothing written), and a file made and removed beside it
    (the report is written through one)."""
    if path.exists():
        try:
            fd = os.open(path, os.O_WRONLY | os.O_APPEND)
            try:
                os.lseek(fd, 0, os.SEEK_END)  # what an append does first (/proc: EINVAL)
            finally:
                os.close(fd)
        except OSError as exc:
            return f"cannot write {path}: {exc.strerror or type(exc).__name__}"
    try:
        fd, probe = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".probe")
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        why = exc.strerror or type(exc).__name__
        return f"cannot create files in {path.parent} ({why}): {path}"
    return None


def check_from_report(path: Path | None, only: str | None) -> Iterator[Problem]:
    if only is not None:
        words = [w.strip() for w in only.split(",")]
        unknown = [w for w in words if w not in OUTCOMES]
        if unknown or not words:
            yield Problem(
                "--only",
                f"unknown outcome(s) {', '.join(map(repr, unknown))} "
                f"(outcomes: {', '.join(OUTCOMES)})",
            )
        if path is None:
            yield Problem("--only", "needs --from-report")
    if path is None:
        return
    label = f"--from-report {path}"
    if not path.exists():
        yield Problem("--from-report", f"report not found: {path}")
        return
    if not path.is_file():
        yield Problem("--from-report", f"is not a file: {path}")
        return
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        yield Problem(label, f"cannot read: {exc.strerror}")
        return
    except (ValueError, UnicodeDecodeError) as exc:
        yield Problem(label, f"not a runbooks report: not JSON ({exc})".splitlines()[0])
        return
    if not isinstance(data, dict):
        yield Problem(label, f"not a runbooks report: a {type(data).__name__}, not a mapping")
        return
    for p in schema_problems(ReportFile, data, label):
        yield Problem(p.where, "not a runbooks report: " + p.message, p.key)


def check_override(release: Any, package: Any) -> Iterator[Problem]:
    """upgrade --target-release/--package: both or neither, each valid, and consistent."""
    for flag, why in override_problems(release, package, "--target-release", "--package"):
        yield Problem(flag, why)


def check_job_flags(args: argparse.Namespace) -> Iterator[Problem]:
    """stage/upgrade --from URL; upgrade --allow-alarm REGEX (each)."""
    source = getattr(args, "source_url", None)
    if source is not None and (why := source_url_problem(source)):
        yield Problem("--from", why)
    for pattern in getattr(args, "allow_alarm", None) or ():
        if why := regex_problem(pattern):
            yield Problem("--allow-alarm", why)


# ------------------------------------------------------------------------------ files

_MISSING = object()


def _sub(mapping: Any, key: str) -> dict[Any, Any]:
    """mapping[key] when both are mappings, else {} (the schema reports the wrong shapes)."""
    value = mapping.get(key) if isinstance(mapping, dict) else None
    return value if isinstance(value, dict) else {}


def load_yaml(path: Path, problems: list[Problem]) -> Any:
    """The parsed file (the loader Nornir uses), or _MISSING with the problem recorded."""
    label = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        problems.append(Problem(label, f"cannot read: {getattr(exc, 'strerror', None) or exc}"))
        return _MISSING
    try:
        return ruamel.yaml.YAML(typ="safe").load(text)
    except ruamel.yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        where = f"{label}:{mark.line + 1}" if mark is not None else label
        problem = getattr(exc, "problem", None) or str(exc).strip().splitlines()[0]
        problems.append(Problem(where, f"YAML error: {problem}"))
        return _MISSING


def load_mapping(path: Path, what: str, problems: list[Problem]) -> dict[Any, Any] | None:
    data = load_yaml(path, problems)
    if data is _MISSING:
        return None
    if data is None:
        return {}
    if not isinstance(data, dict):
        kind = type(data).__name__
        problems.append(Problem(str(path), f"top level must be a mapping of {what}, not a {kind}"))
        return None
    return data


def check_files(config: Path, inventory_dir: str | None) -> list[Problem]:
    if not config.is_file():
        return [Problem(str(config), "config file not found")]
    problems: list[Problem] = []
    raw = load_mapping(config, "settings", problems)
    if raw is None:
        return problems
    problems += schema_problems(ConfigFile, raw, str(config))
    if inventory_dir is not None:
        base = Path(inventory_dir)
        if not (base / "hosts.yaml").is_file():
            return [*problems, Problem(inventory_dir, "inventory directory has no hosts.yaml")]
        files = (base / "hosts.yaml", base / "groups.yaml", base / "defaults.yaml")
    else:
        inv = _sub(raw, "inventory")
        if inv.get("plugin", "SimpleInventory") != "SimpleInventory":
            return problems  # another plugin's source is its own business
        names = [_sub(inv, "options").get(k, d) for k, d in _INVENTORY_FILES]
        if not all(isinstance(n, str) for n in names):
            return problems  # already reported by the schema
        hosts, groups, defaults = (Path(n).expanduser() for n in names)
        files = (hosts, groups, defaults)
        if not files[0].is_file():
            return [*problems, Problem(str(files[0]), "inventory hosts file not found")]
    return problems + check_inventory(*files)


_INVENTORY_FILES = (
    ("host_file", "hosts.yaml"),
    ("group_file", "groups.yaml"),
    ("defaults_file", "defaults.yaml"),
)


# ------------------------------------------------------------------------------ inventory


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
