"""One validation pass over everything a run is given, before any device is contacted: flags,
output paths, the config file and the whole inventory (every host, group and default, and
each cluster's values as resolved through them). Every problem is one line naming the file
(and the line, for YAML errors), the cluster or group and the key path; the CLI prints the
first (all of them with -v) and exits 2.

The shapes are pydantic models; the release and package rules are tasks.srx's (the simulator
uses the same), cluster names tasks.paths' SAFE_NAME.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any
from zoneinfo import ZoneInfo

import ruamel.yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictStr,
    ValidationError,
    create_model,
)

from runbooks.windows import parse_window
from tasks.errors import BadInput
from tasks.paths import SAFE_NAME, check_name
from tasks.redact import redact
from tasks.settings import Timing
from tasks.srx import is_release, package_release
from tasks.values import NODES

JOB_NAMES = ("status", "upgrade", "abort", "recover", "stage", "snapshot")
OUTCOMES = (
    "ok",
    "skipped",
    "failed",
    "services-lost",
    "not-started",
    "would-upgrade",
    "would-abort",
    "would-recover",
    "would-stage",
    "refused",
    "inconsistent",
    "too-late",
    "aborted",
    "locked",
)
DEFAULT_PORT = 830
OUTPUT_FLAGS = ("report", "events", "log_file")


@dataclass(frozen=True)
class Problem:
    where: str  # a file (file:line for YAML errors), or a flag
    message: str
    key: str = ""  # key path inside the file: connection_options.node0.port
    cluster: str = ""  # a cluster, "group NAME" or "defaults"

    def line(self) -> str:
        parts = [p for p in (self.where, self.cluster, self.key) if p]
        return redact(": ".join([*parts, self.message]))


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


# ------------------------------------------------------------------------------ value rules


def shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def release_problem(value: Any) -> str | None:
    """Why `value` is not a Junos release name, or None."""
    if not isinstance(value, str):
        return f"must be a release such as 24.2R2-S1.3, not {type(value).__name__} {shown(value)}"
    if not is_release(value):
        return f"{shown(value)} is not a Junos release such as 24.2R2-S1.3"
    return None


_SEGMENT = r"[A-Za-z0-9_+-][A-Za-z0-9._+-]*"
_LOCAL_PACKAGE = re.compile(rf"/var/tmp(?:/{_SEGMENT})+")
_URL_PACKAGE = re.compile(
    r"(?:ftp|https?|scp)://"
    r"(?:[A-Za-z0-9._~%+-]+(?::[A-Za-z0-9._~%+-]*)?@)?"  # user[:password]@
    r"(?:[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?"  # host[:port]
    rf"(?:/{_SEGMENT})+"
)


def package_problem(value: Any) -> str | None:
    """Why `value` is not a package the ICU may be given, or None."""
    if not isinstance(value, str):
        return f"must be a path such as /var/tmp/junos-srxsme-24.2R2-S1.3.tgz, not {shown(value)}"
    if not (_LOCAL_PACKAGE.fullmatch(value) or _URL_PACKAGE.fullmatch(value)):
        return (
            f"{shown(value)} is not an absolute /var/tmp/... path or an ftp/http/https/scp URL "
            "made of letters, digits and . _ + -"
        )
    if package_release(value) is None:
        return f"{shown(value)}: the file name carries no release (junos-...-24.2R2-S1.3.tgz)"
    return None


def mismatch(release: str, package: str, target: str = "target_release") -> str | None:
    """Why `package` does not install `release` (read from its name), or None."""
    installs = package_release(package)
    if installs is not None and installs.upper() != release.upper():
        return f"installs {installs} (read from its name), not the {target} {release}"
    return None


def _checked(rule: Callable[[Any], str | None]) -> Callable[[Any], Any]:
    def check(value: Any) -> Any:
        why = rule(value)
        if why:
            raise ValueError(why)
        return value

    return check


def _between(low: int, high: int | None, what: str) -> Callable[[Any], str | None]:
    def rule(value: Any) -> str | None:
        if low <= value and (high is None or value <= high):
            return None
        span = f"{low}..{high}" if high is not None else f"at least {low}"
        return f"must be {what} {span}, not {value}"

    return rule


def _address(value: Any) -> str | None:
    try:
        ipaddress.ip_address(value)
        return None
    except ValueError:
        pass
    labels = value.removesuffix(".").split(".")
    label = re.compile(r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)")
    if len(value) > 253 or not all(label.fullmatch(x) for x in labels) or labels[-1].isdigit():
        return f"{shown(value)} is not an IP address or a host name"
    return None


def _user(value: Any) -> str | None:
    if not value.strip():
        return "must not be blank"
    return "must not contain spaces or control characters" if re.search(r"\s", value) else None


def _zone(value: Any) -> str | None:
    try:
        ZoneInfo(value)
        return None
    except Exception:  # ZoneInfoNotFoundError, ValueError, IsADirectoryError ("America")
        return f"unknown time zone {shown(value)}"


def _safe_name(value: Any) -> str | None:
    try:
        check_name(value)
        return None
    except BadInput as exc:
        return exc.message


def _hex(digits: int) -> Callable[[Any], str | None]:
    def rule(value: Any) -> str | None:
        if re.fullmatch(f"[0-9A-Fa-f]{{{digits}}}", value):
            return None
        return f"must be {digits} hex digits, not {shown(value)} ({len(value)} characters)"

    return rule


def _one_of(words: tuple[str, ...], what: str) -> Callable[[Any], str | None]:
    def rule(value: Any) -> str | None:
        return None if value in words else f"unknown {what} {shown(value)} ({', '.join(words)})"

    return rule


_S = Field(strict=True)
Number = Annotated[float, Field(strict=True, gt=0, allow_inf_nan=False)]
Port = Annotated[int, _S, AfterValidator(_checked(_between(1, 65535, "a port")))]
Workers = Annotated[int, _S, AfterValidator(_checked(_between(1, None, "a whole number")))]
Size = Annotated[int, _S, AfterValidator(_checked(_between(0, None, "a number of bytes")))]
Address = Annotated[str, _S, AfterValidator(_checked(_address))]
User = Annotated[str, _S, AfterValidator(_checked(_user))]
Text = Annotated[str, _S, AfterValidator(_checked(lambda v: None if v.strip() else "is blank"))]
Release = Annotated[str, _S, AfterValidator(_checked(release_problem))]
Package = Annotated[str, _S, AfterValidator(_checked(package_problem))]
Zone = Annotated[str, _S, AfterValidator(_checked(_zone))]
Md5 = Annotated[str, _S, AfterValidator(_checked(_hex(32)))]
Sha256 = Annotated[str, _S, AfterValidator(_checked(_hex(64)))]
SafeName = Annotated[str, _S, AfterValidator(_checked(_safe_name))]
Outcome = Annotated[str, _S, AfterValidator(_checked(_one_of(OUTCOMES, "outcome")))]
Job = Annotated[str, _S, AfterValidator(_checked(_one_of(JOB_NAMES, "job")))]

# ------------------------------------------------------------------------------ schemas

if TYPE_CHECKING:
    TimingValues = dict[str, float]
else:  # the keys of tasks.settings.Timing, each a positive number; no other key
    TimingValues = create_model(
        "TimingValues",
        __config__=ConfigDict(extra="forbid"),
        **{f.name: (Number | None, None) for f in fields(Timing)},
    )


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow")


class _Closed(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Data(_Open):
    """Inventory `data:` (free keys allowed; the ones the runbooks read are typed)."""

    model: Text | None = None
    target_release: Release | None = None
    package: Package | None = None
    package_size: Size | None = None
    package_md5: Md5 | None = None
    package_sha256: Sha256 | None = None
    host_key_check: StrictBool | None = None
    known_hosts: Text | None = None
    timing: TimingValues | None = None
    timezone: Zone | None = None


class OptionalArgs(_Open):
    port: Port | None = None


class Extras(_Open):
    optional_args: OptionalArgs | None = None


class Connection(_Closed):
    hostname: Address | None = None
    port: Port | None = None
    username: User | None = None
    password: StrictStr | None = None
    platform: Text | None = None
    extras: Extras | None = None


class DefaultsEntry(_Closed):
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


class InventoryConfig(_Closed):
    plugin: Text = "SimpleInventory"
    options: dict[StrictStr, Any] | None = None
    transform_function: StrictStr | None = None
    transform_function_options: dict[StrictStr, Any] | None = None


class RunnerOptions(_Open):
    num_workers: Workers | None = None


class RunnerConfig(_Closed):
    plugin: Text = "threaded"
    options: RunnerOptions | None = None


class UserDefined(_Open):
    state_dir: Text | None = None
    timing: TimingValues | None = None


class ConfigFile(_Closed):
    inventory: InventoryConfig | None = None
    runner: RunnerConfig | None = None
    ssh: dict[StrictStr, Any] | None = None
    logging: dict[StrictStr, Any] | None = None
    core: dict[StrictStr, Any] | None = None
    user_defined: UserDefined | None = None


class ReportCluster(_Open):
    outcome: Outcome


class ReportFile(_Open):
    job: Job
    clusters: dict[SafeName, ReportCluster]


_TYPES = {
    "model_type": "must be a mapping",
    "dict_type": "must be a mapping",
    "model_attributes_type": "must be a mapping",
    "list_type": "must be a list",
    "string_type": "must be a string",
    "int_type": "must be a whole number",
    "float_type": "must be a number",
    "bool_type": "must be true or false",
    "extra_forbidden": "unknown key",
    "missing": "missing",
}


def schema_problems(
    model: type[BaseModel], value: Any, where: str, cluster: str = "", prefix: str = ""
) -> list[Problem]:
    """`value` checked against `model`, one Problem per error (passwords never shown)."""
    try:
        model.model_validate(value)
        return []
    except ValidationError as exc:
        out = []
        for err in exc.errors():
            key = ".".join(
                [prefix, *(str(p) for p in err["loc"])] if prefix else map(str, err["loc"])
            )
            key = key.replace(".[key]", "")
            secret = "password" in key
            if err["type"] in _TYPES:
                message = _TYPES[err["type"]]
                if err["type"] not in ("missing", "extra_forbidden") and not secret:
                    message += f", not {type(err['input']).__name__} {shown(err['input'])}"
            elif err["type"] == "value_error":
                message = str(err["msg"]).removeprefix("Value error, ")
            else:
                message = str(err["msg"]).replace("Input should", "must")
                message += "" if secret else f" (got {shown(err['input'])})"
            out.append(Problem(where, message, key, cluster))
        return out


# ------------------------------------------------------------------------------ flags


def check_flags(args: argparse.Namespace) -> Iterator[Problem]:
    for name in args.cluster:
        if why := _safe_name(name):
            yield Problem("--cluster", why)
    yield from check_outputs(args)
    yield from check_from_report(getattr(args, "from_report", None), getattr(args, "only", None))
    yield from check_override(getattr(args, "target_release", None), getattr(args, "package", None))
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
    if release is None and package is None:
        return
    if release is None:
        yield Problem("--package", "needs --target-release: an override names both")
    if package is None:
        yield Problem("--target-release", "needs --package: an override names both")
    why_release = release_problem(release) if release is not None else None
    why_package = package_problem(package) if package is not None else None
    if why_release:
        yield Problem("--target-release", why_release)
    if why_package:
        yield Problem("--package", why_package)
    valid = release is not None and package is not None and not (why_release or why_package)
    if valid and (why := mismatch(release, package, "--target-release")):
        yield Problem("--package", why)


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
    if why := _safe_name(name):
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
        optional = _sub(_sub(conn, "extras"), "optional_args")
        ports = (conn.get("port"), optional.get("port"))
        if all(_port(p) for p in ports) and ports[0] != ports[1]:
            problems.append(
                Problem(
                    label,
                    f"port {conn['port']} and extras.optional_args.port {optional['port']} differ",
                    f"connection_options.{node}.port",
                    cluster,
                )
            )
    return problems


def _port(value: Any) -> bool:
    return type(value) is int and 1 <= value <= 65535


def node_address(entry: dict[str, Any], node: str) -> tuple[str, int]:
    """(host, port) the node's session goes to (as tasks.hosts.prepare_host picks them)."""
    conn = entry["connection_options"][node]
    optional = (conn.get("extras") or {}).get("optional_args") or {}
    port = conn.get("port") or optional.get("port") or DEFAULT_PORT
    return str(conn["hostname"]).lower().removesuffix("."), int(port)


def distinct_addresses(inv: Inventory) -> Iterator[Problem]:
    """One box is never two nodes: within a cluster, nor across the fleet."""
    seen: dict[tuple[str, int], tuple[str, str]] = {}
    for name, entry in inv.hosts.items():
        for node in NODES:
            address = node_address(entry, node)
            other = seen.get(address)
            where = f"{address[0]}:{address[1]}"
            key = f"connection_options.{node}"
            if other is not None and other[0] == name:
                yield Problem(
                    inv.labels[0],
                    f"{where} is also {other[1]}'s address: one box cannot be both nodes",
                    key,
                    name,
                )
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
