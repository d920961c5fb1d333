"""The input rules: what every value a run is given must be, checked before any device is
contacted. One place for both ways in:

- the CLI (runbooks.cli.inputs): the flags, the config file and every host, group and default of
  the inventory files, each problem with its file, cluster and key; exit code 2;
- the srx_* tasks a user's own Nornir script runs (tasks.jobs): each keyword argument, and
  the host's values as Nornir resolves them (host, its groups, the defaults); a failed
  Result whose detail starts with "bad input: ", before any connection, lock or journal.

Release and package names are tasks.srx_facts's rules (the simulator reads them its own way,
simulator/releases.py), cluster names tasks.state.paths' SAFE_NAME. docs/operators/input-rules.md
lists every rule.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any
from zoneinfo import ZoneInfo

from nornir.core.inventory import Host
from nornir.core.task import Task
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

from tasks.device.hosts import env_credentials
from tasks.errors import BadInput
from tasks.plans.approved_plan import ApprovedPlan
from tasks.plans.stage import package_source
from tasks.plans.transfer import Expected, StageSpec, TransferSlots
from tasks.srx_facts import is_release, package_release
from tasks.state.paths import check_name
from tasks.state.redact import redact
from tasks.state.run_context import RunContext
from tasks.state.settings import Target, Timing, data_layers
from tasks.upgrade_paths import METHODS
from tasks.vocabulary import NODES

DEFAULT_PORT = 830
Rule = Callable[[Any], str | None]  # why a value is wrong, or None

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
_URL_HEAD = (
    r"(?:ftp|https?|scp)://"
    r"(?:[A-Za-z0-9._~%+-]+(?::[A-Za-z0-9._~%+-]*)?@)?"  # user[:password]@
    r"(?:[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?"  # host[:port]
)
_URL_PACKAGE = re.compile(rf"{_URL_HEAD}(?:/{_SEGMENT})+")
_URL_SOURCE = re.compile(rf"{_URL_HEAD}(?:(?:/{_SEGMENT})+/?|/)")  # a file, or a directory/


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


def source_url_problem(value: Any) -> str | None:
    """Why `value` is not a URL a device may pull the package from (stage), or None."""
    if not isinstance(value, str):
        kind = type(value).__name__
        return f"must be a URL such as http://host/images/, not {kind} {shown(value)}"
    if not _URL_SOURCE.fullmatch(value):
        return (
            f"{shown(value)} is not an ftp/http/https/scp URL of a file or a directory "
            "(ending in '/') made of letters, digits and . _ + -"
        )
    return None


def mismatch(release: str, package: str, target: str = "target_release") -> str | None:
    """Why `package` does not install `release` (read from its name), or None."""
    installs = package_release(package)
    if installs is not None and installs.upper() != release.upper():
        return f"installs {installs} (read from its name), not the {target} {release}"
    return None


def override_problems(
    release: Any, package: Any, release_label: str, package_label: str
) -> Iterator[tuple[str, str]]:
    """(label, why) of a target named in place of the inventory's (upgrade --target-release
    and --package, or the tasks' target_release= and package=): both or neither, each valid,
    and the package installs the release."""
    if release is None and package is None:
        return
    if release is None:
        yield package_label, f"needs {release_label}: an override names both"
    if package is None:
        yield release_label, f"needs {package_label}: an override names both"
    why_release = release_problem(release) if release is not None else None
    why_package = package_problem(package) if package is not None else None
    if why_release:
        yield release_label, why_release
    if why_package:
        yield package_label, why_package
    valid = release is not None and package is not None and not (why_release or why_package)
    if valid and (why := mismatch(release, package, release_label)):
        yield package_label, why


def regex_problem(value: Any) -> str | None:
    """Why `value` is not a regular expression (an accepted alarm), or None."""
    if not isinstance(value, str):
        return f"must be a regular expression, not {type(value).__name__} {shown(value)}"
    try:
        re.compile(value)
        return None
    except re.error as exc:
        return f"{shown(value)} is not a regular expression: {exc}"


def alarms_problem(value: Any) -> str | None:
    """Why `value` is not a list of accepted-alarm regexes, or None."""
    if isinstance(value, str) or not isinstance(value, (list, tuple)):
        return f"must be a list of regular expressions, not {type(value).__name__} {shown(value)}"
    return next((why for why in map(regex_problem, value) if why), None)


def flag_problem(value: Any) -> str | None:
    if isinstance(value, bool):
        return None
    return f"must be true or false, not {type(value).__name__} {shown(value)}"


def positive(unit: str) -> Rule:
    def rule(value: Any) -> str | None:
        number = isinstance(value, (int, float)) and not isinstance(value, bool)
        return None if number and value > 0 else f"must be a positive number of {unit}"

    return rule


def instance_of(cls: type, what: str) -> Rule:
    def rule(value: Any) -> str | None:
        return None if isinstance(value, cls) else f"must be {what}, not {type(value).__name__}"

    return rule


def optional(rule: Rule) -> Rule:
    """`rule`, with None allowed (the argument's default)."""
    return lambda value: None if value is None else rule(value)


def push_problem(value: Any) -> str | None:
    """Why `value` is not a local file to push (stage --push), or None."""
    if not isinstance(value, Path):
        return f"must be a local file (a pathlib.Path), not {type(value).__name__} {shown(value)}"
    return None if value.is_file() else f"no such file: {value}"


def pushed_mismatch(pushed: Expected, target: Target) -> str | None:
    """The inventory fact (package_size, package_md5, package_sha256) a pushed file's own
    size or checksum contradicts, or None."""
    for what, mine, theirs in (
        ("package_size", pushed.size, target.size),
        ("package_md5", pushed.md5, target.md5),
        ("package_sha256", pushed.sha256, target.sha256),
    ):
        if theirs is not None and str(theirs).lower() != str(mine):
            return what
    return None


def checked(rule: Rule) -> Callable[[Any], Any]:
    """A pydantic AfterValidator of `rule`."""

    def check(value: Any) -> Any:
        why = rule(value)
        if why:
            raise ValueError(why)
        return value

    return check


def between(low: int, high: int | None, what: str) -> Rule:
    def rule(value: Any) -> str | None:
        if low <= value and (high is None or value <= high):
            return None
        span = f"{low}..{high}" if high is not None else f"at least {low}"
        return f"must be {what} {span}, not {value}"

    return rule


def address_problem(value: Any) -> str | None:
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


def user_problem(value: Any) -> str | None:
    if not value.strip():
        return "must not be blank"
    return "must not contain spaces or control characters" if re.search(r"\s", value) else None


def zone_problem(value: Any) -> str | None:
    try:
        ZoneInfo(value)
        return None
    except Exception:  # ZoneInfoNotFoundError, ValueError, IsADirectoryError ("America")
        return f"unknown time zone {shown(value)}"


def safe_name_problem(value: Any) -> str | None:
    """Why `value` may not name a cluster (file names are built from it), or None."""
    try:
        check_name(value)
        return None
    except BadInput as exc:
        return exc.message


def hex_digits(digits: int) -> Rule:
    def rule(value: Any) -> str | None:
        if re.fullmatch(f"[0-9A-Fa-f]{{{digits}}}", value):
            return None
        return f"must be {digits} hex digits, not {shown(value)} ({len(value)} characters)"

    return rule


def one_of(words: tuple[str, ...], what: str) -> Rule:
    def rule(value: Any) -> str | None:
        return None if value in words else f"unknown {what} {shown(value)} ({', '.join(words)})"

    return rule


_S = Field(strict=True)
Number = Annotated[float, Field(strict=True, gt=0, allow_inf_nan=False)]
Port = Annotated[int, _S, AfterValidator(checked(between(1, 65535, "a port")))]
Workers = Annotated[int, _S, AfterValidator(checked(between(1, None, "a whole number")))]
Size = Annotated[int, _S, AfterValidator(checked(between(0, None, "a number of bytes")))]
Address = Annotated[str, _S, AfterValidator(checked(address_problem))]
User = Annotated[str, _S, AfterValidator(checked(user_problem))]
Text = Annotated[str, _S, AfterValidator(checked(lambda v: None if v.strip() else "is blank"))]
Release = Annotated[str, _S, AfterValidator(checked(release_problem))]
Package = Annotated[str, _S, AfterValidator(checked(package_problem))]
SourceUrl = Annotated[str, _S, AfterValidator(checked(source_url_problem))]
Zone = Annotated[str, _S, AfterValidator(checked(zone_problem))]
Md5 = Annotated[str, _S, AfterValidator(checked(hex_digits(32)))]
Sha256 = Annotated[str, _S, AfterValidator(checked(hex_digits(64)))]
SafeName = Annotated[str, _S, AfterValidator(checked(safe_name_problem))]

# ------------------------------------------------------------------------------ schemas

if TYPE_CHECKING:
    TimingValues = dict[str, float]
else:  # the keys of tasks.state.settings.Timing, each a positive number; no other key
    TimingValues = create_model(
        "TimingValues",
        __config__=ConfigDict(extra="forbid"),
        **{f.name: (Number | None, None) for f in fields(Timing)},
    )


class Open(BaseModel):
    model_config = ConfigDict(extra="allow")


class Closed(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Data(Open):
    """Inventory `data:` (free keys allowed; the ones the runbooks read are typed)."""

    model: Text | None = None
    target_release: Release | None = None
    package: Package | None = None
    package_size: Size | None = None
    package_md5: Md5 | None = None
    package_sha256: Sha256 | None = None
    package_url: SourceUrl | None = None
    packages: dict[Release, Package] | None = None  # release -> package, for multi-hop plans
    host_key_check: StrictBool | None = None
    known_hosts: Text | None = None
    timing: TimingValues | None = None
    timezone: Zone | None = None


class TimingLayer(Closed):
    """One level's `timing:` (a host's, a group's, the defaults', the config's)."""

    timing: TimingValues | None = None


class OptionalArgs(Open):
    port: Port | None = None


class Extras(Open):
    optional_args: OptionalArgs | None = None


class Connection(Closed):
    """One node's connection_options (and a host's credentials)."""

    hostname: Address | None = None
    port: Port | None = None
    username: User | None = None
    password: StrictStr | None = None
    platform: Text | None = None
    extras: Extras | None = None


@dataclass(frozen=True)
class Problem:
    where: str  # a file (file:line for YAML errors), or a flag; "" for a task's own input
    message: str
    key: str = ""  # key path: connection_options.node0.port, data.package, package
    cluster: str = ""  # a cluster, "group NAME" or "defaults"

    def line(self) -> str:
        parts = [p for p in (self.where, self.cluster, self.key) if p]
        return redact(": ".join([*parts, self.message]))


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


# ------------------------------------------------------------------------------ nodes


def _port(value: Any) -> bool:
    return type(value) is int and 1 <= value <= 65535


def ports_differ(conn: Mapping[str, Any]) -> str | None:
    """A node's port and its extras.optional_args.port, both valid and different."""
    extras = conn.get("extras")
    optional = extras.get("optional_args") if isinstance(extras, dict) else None
    ports = (conn.get("port"), optional.get("port") if isinstance(optional, dict) else None)
    if all(_port(p) for p in ports) and ports[0] != ports[1]:
        return f"port {ports[0]} and extras.optional_args.port {ports[1]} differ"
    return None


def node_address(conn: Mapping[str, Any]) -> tuple[str, int]:
    """(host, port) a node's session goes to (as tasks.device.hosts.prepare_host picks them)."""
    optional = (conn.get("extras") or {}).get("optional_args") or {}
    port = conn.get("port") or optional.get("port") or DEFAULT_PORT
    return str(conn["hostname"]).lower().removesuffix("."), int(port)


def one_box(address: tuple[str, int], other: str) -> str:
    """Why a node may not have `address`: the cluster's `other` node has it."""
    return f"{address[0]}:{address[1]} is also {other}'s address: one box cannot be both nodes"


# ------------------------------------------------------------------------------ a task's input

FLAGS = (
    "no_sync",
    "no_tcp_syn_check",
    "no_validate",
    "unlink",
    "retry_failed",
    "align_rgs",
    "service_checks",
    "allow_undocumented_path",
    "allow_outage",
    "no_recover",
    "even_if_idle",
)
# Every keyword argument of an srx_* task has its rule here (tests check that none is left
# out; an argument without one is refused). target_release/package are checked together
# (override_problems), stage/spec with STAGE_RULES.
ARGUMENT_RULES: dict[str, Rule] = {
    **dict.fromkeys(FLAGS, flag_problem),
    "restore_primary": optional(one_of(NODES, "node")),
    "method": one_of(METHODS, "method"),  # the upgrade method (docs/design/upgrade-paths.md)
    "allow_alarms": alarms_problem,
    "dry_run": optional(flag_problem),  # None: Nornir's dry_run (task.is_dry_run)
    "context": optional(instance_of(RunContext, "a RunContext (tasks.RunContext) or None")),
    "approved": optional(instance_of(ApprovedPlan, "an ApprovedPlan (tasks.ApprovedPlan)")),
}
OVERRIDE = ("target_release", "package")  # srx_plan checks its target_release itself
STAGE_ARGUMENTS = ("stage", "spec")
STAGE_NODES = ("primary", "both")
STAGE_RULES: dict[str, Rule] = {  # one per StageSpec field
    "url": optional(source_url_problem),
    "push": optional(push_problem),
    "pushed": optional(instance_of(Expected, "an Expected (size and checksums)")),
    "published": lambda v: (
        None
        if isinstance(v, dict) and all(isinstance(x, Expected) for x in v.values())
        else "must be a mapping of URL to Expected"
    ),
    "nodes": one_of(STAGE_NODES, "nodes"),
    "cleanup": flag_problem,
    "min_rate_mbps": positive("Mbit/s"),
    "link": instance_of(TransferSlots, "a TransferSlots"),
    "ready": instance_of(TransferSlots, "a TransferSlots"),
    "progress_every": positive("seconds"),
}
DATA_KEYS = tuple(k for k in Data.model_fields if k != "timing")
CONNECTION_KEYS = tuple(Connection.model_fields)


class InputRefused(BadInput):
    """A task's input breaks a rule; every problem, one line each. Nothing was sent."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = [p.line() for p in problems]
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        super().__init__(self.problems[0] + more)


def check_call(task: Task, arguments: Mapping[str, Any]) -> None:
    """Every rule for one srx_* call (its keyword arguments, as locals() at its top gives
    them, and its host): InputRefused naming the first problem, before anything else."""
    problems = call_problems(task, arguments)
    if problems:
        raise InputRefused(problems)


def checked_target(task: Task, arguments: Mapping[str, Any]) -> Target:
    """check_call, then the cluster's target (the arguments', else the inventory's)."""
    check_call(task, arguments)
    release, package = arguments.get("target_release"), arguments.get("package")
    return Target.resolve(task.host, release=release, package=package)


def call_problems(task: Task, arguments: Mapping[str, Any]) -> list[Problem]:
    given = {k: v for k, v in arguments.items() if k != "task"}
    problems = list(argument_problems(given))
    context = given.get("context")
    timing: Any = task.nornir.config.user_defined.get("timing")
    if isinstance(context, RunContext):
        timing = context.timing_defaults
    problems += host_problems(task.host, timing)
    problems += env_problems()
    if not problems and "package" in given:
        problems += target_problems(task.host, given)
    return problems


def env_problems() -> list[Problem]:
    """JUNOS_USERNAME / JUNOS_PASSWORD set but blank (tasks.device.hosts.env_credentials)."""
    try:
        env_credentials()
    except BadInput as exc:
        return [Problem("", exc.message)]
    return []


def argument_problems(given: Mapping[str, Any]) -> Iterator[Problem]:
    for name, value in given.items():
        if name in OVERRIDE:
            continue
        if name in STAGE_ARGUMENTS:
            if value is not None:
                yield from stage_spec_problems(value, name)
            continue
        rule = ARGUMENT_RULES.get(name)
        why = rule(value) if rule else "no input rule for this argument (tasks/input_rules.py)"
        if why:
            yield Problem("", why, name)
    if "package" in given:
        release, package = given.get("target_release"), given.get("package")
        for key, why in override_problems(release, package, "target_release", "package"):
            yield Problem("", why, key)


def stage_spec_problems(spec: Any, label: str) -> Iterator[Problem]:
    """A StageSpec's own values (srx_stage's spec=, srx_upgrade's stage=)."""
    if not isinstance(spec, StageSpec):
        kind = type(spec).__name__
        yield Problem("", f"must be a StageSpec (tasks.StageSpec) or None, not {kind}", label)
        return
    for name, rule in STAGE_RULES.items():
        if why := rule(getattr(spec, name)):
            yield Problem("", why, f"{label}.{name}")
    if spec.url is not None and spec.push is not None:
        yield Problem("", "give url or push, not both", label)


def host_problems(host: Host, config_timing: Any = None) -> list[Problem]:
    """The cluster's own values as Nornir resolves them: its name, credentials, the data keys
    the runbooks read (timing at every level it is set), the config's timing, its nodes."""
    problems = []
    if why := safe_name_problem(host.name):
        problems.append(Problem("", why))
    credentials = {"username": host.username, "password": host.password}
    problems += schema_problems(
        Connection, {k: v for k, v in credentials.items() if v is not None}, ""
    )
    values = resolved_data(host, DATA_KEYS)
    problems += schema_problems(Data, values, "", prefix="data")
    for layer in data_layers(host, "timing"):
        problems += schema_problems(TimingLayer, {"timing": layer}, "", prefix="data")
    problems += schema_problems(TimingLayer, {"timing": config_timing}, "", prefix="user_defined")
    problems += node_problems(host)
    release, package = values.get("target_release"), values.get("package")
    if not problems and isinstance(release, str) and isinstance(package, str):
        why = mismatch(release, package)
        problems += [Problem("", why, "data.package")] if why else []
    return problems


def resolved_data(host: Host, keys: tuple[str, ...]) -> dict[str, Any]:
    """The values Host.get(key) gives for `keys` (host, its groups depth first, then the
    defaults), those that are not None, in one pass over the levels."""
    found: dict[str, Any] = {}
    levels = [host.data, *(g.data for g in host.extended_groups())]
    for data in levels:
        for key in keys:
            if key in data and key not in found:
                found[key] = data[key]
    for key in keys:
        if key not in found and host.defaults.data.get(key) is not None:
            found[key] = host.defaults.data[key]
    return {k: v for k, v in found.items() if v is not None}


def node_problems(host: Host) -> list[Problem]:
    """Each node's own connection_options (as tasks.device.hosts.prepare_host reads them), and two
    nodes that are one box."""
    problems: list[Problem] = []
    conns: dict[str, dict[str, Any]] = {}
    for node in NODES:
        opts = host.connection_options.get(node)
        key = f"connection_options.{node}"
        if opts is None or opts.hostname is None:
            why = "missing: each node needs its own address"
            problems.append(Problem("", why, f"{key}.hostname"))
            continue
        conn = {k: v for k in CONNECTION_KEYS if (v := getattr(opts, k)) is not None}
        problems += schema_problems(Connection, conn, "", prefix=key)
        if differ := ports_differ(conn):
            problems.append(Problem("", differ, f"{key}.port"))
        conns[node] = conn
    if not problems and node_address(conns["node0"]) == node_address(conns["node1"]):
        box = one_box(node_address(conns["node1"]), "node0")
        problems.append(Problem("", box, "connection_options.node1"))
    return problems


def target_problems(host: Host, given: Mapping[str, Any]) -> list[Problem]:
    """The target resolves; a stage (srx_stage, srx_upgrade's stage=) has a source and
    something to verify the copy against."""
    release, package = given.get("target_release"), given.get("package")
    try:
        target = Target.resolve(host, release=release, package=package)
    except BadInput as exc:
        return [Problem("", exc.message)]
    if "spec" in given:  # srx_stage; its default spec pulls from the inventory's package_url
        spec, label = given["spec"] or StageSpec(), "spec"
    elif given.get("stage") is not None:  # srx_upgrade(stage=...)
        spec, label = given["stage"], "stage"
    else:
        return []
    return list(stage_source_problems(spec, host, target, label))


def stage_source_problems(
    spec: StageSpec, host: Host, target: Target, label: str
) -> Iterator[Problem]:
    if "://" in target.package:
        return  # the ICU fetches it itself: nothing to stage
    source = package_source(spec, host, target)
    if source is None:
        yield Problem("", "no source: give url or push (or the inventory's package_url)", label)
        return
    if spec.pushed is not None and (what := pushed_mismatch(spec.pushed, target)):
        yield Problem("", f"the pushed file does not match the inventory's {what}", label)
    elif (spec.pushed or Expected.of_target(target) or spec.published.get(source)) is None:
        yield Problem(
            "",
            "nothing to verify the copy against: no package_size and package_md5/"
            f"package_sha256 in the inventory, no {label}.pushed, no {label}.published for "
            f"{source}",
            label,
        )
