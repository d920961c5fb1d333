"""Bad and hostile input, as a table: each case edits a copy of a working set-up (config and
inventory) and/or gives flags, and expects exit code 2 with one line on stderr naming the
problem (file, cluster or group, key). tests/unit runs the table against an inventory whose
nodes listen nowhere; tests/e2e runs it against a live lab and checks its audit log: not one
RPC may reach a device.

The base set-up has the lab's shape: clusters c1 and c2 in group SRX345 (target and package
there), credentials and timing in the defaults."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from runbooks.cli.main import main

TARGET = "24.2R2-S1.3"
PACKAGE = f"/var/tmp/junos-srxsme-{TARGET}.tgz"
DELETE = object()


class Workspace:
    """A private copy of config + inventory that a case edits before the run."""

    def __init__(self, root: Path, config: Path, inventory: Path) -> None:
        self.root = root
        self.inventory = root / "inventory"
        shutil.copytree(inventory, self.inventory)
        self.config = root / "config.yaml"
        cfg = yaml.safe_load(config.read_text())
        cfg.setdefault("user_defined", {})["state_dir"] = str(root / "state")
        self.config.write_text(yaml.safe_dump(cfg, sort_keys=False))

    def path(self, name: str) -> Path:
        return self.config if name == "config" else self.inventory / f"{name}.yaml"

    def load(self, name: str) -> Any:
        return yaml.safe_load(self.path(name).read_text())

    def dump(self, name: str, data: Any) -> None:
        self.path(name).write_text(yaml.safe_dump(data, sort_keys=False))

    def set(self, name: str, dotted: str, value: Any) -> None:
        data = self.load(name)
        *parents, last = dotted.split(".")
        node = data
        for part in parents:
            node = node.setdefault(part, {})
        if value is DELETE:
            del node[last]
        else:
            node[last] = value
        self.dump(name, data)

    def write(self, name: str, text: str) -> None:
        self.path(name).write_text(text)


Edit = Callable[[Workspace], None]


@dataclass(frozen=True)
class Case:
    id: str
    expect: str  # a part of the one stderr line (after "error: ")
    args: tuple[str, ...] = ("status",)  # the job and its flags; {ws} is the workspace
    sets: tuple[tuple[str, str, Any], ...] = ()  # (file, dotted key, value)
    edit: Edit | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def argv(self, ws: Workspace) -> list[str]:
        job, *flags = (a.replace("{ws}", str(ws.root)) for a in self.args)
        return [job, "--config", str(ws.config), "--inventory", str(ws.inventory), *flags]

    def prepare(self, ws: Workspace) -> None:
        for name, dotted, value in self.sets:
            ws.set(name, dotted, value)
        if self.edit is not None:
            self.edit(ws)


def up(pkg: str = PACKAGE, release: str = TARGET) -> tuple[str, ...]:
    return ("upgrade", "--dry-run", "--target-release", release, "--package", pkg)


def grp(key: str, value: Any) -> tuple[tuple[str, str, Any], ...]:
    return (("groups", f"SRX345.data.{key}", value),)


def host(key: str, value: Any, name: str = "c1") -> tuple[tuple[str, str, Any], ...]:
    return (("hosts", f"{name}.{key}", value),)


def node(key: str, value: Any, n: str = "node0") -> tuple[tuple[str, str, Any], ...]:
    return host(f"connection_options.{n}.{key}", value)


def dflt(key: str, value: Any) -> tuple[tuple[str, str, Any], ...]:
    return (("defaults", key, value),)


def cfg(key: str, value: Any) -> tuple[tuple[str, str, Any], ...]:
    return (("config", key, value),)


def _copy_node(src: tuple[str, str], dst: tuple[str, str]) -> Edit:
    def edit(ws: Workspace) -> None:
        hosts = ws.load("hosts")
        hosts[dst[0]]["connection_options"][dst[1]] = dict(
            hosts[src[0]]["connection_options"][src[1]]
        )
        ws.dump("hosts", hosts)

    return edit


def _add_host(name: Any) -> Edit:
    def edit(ws: Workspace) -> None:
        text = ws.path("hosts").read_text()
        entry = yaml.safe_load(text)["c2"]
        entry = {"groups": entry["groups"], "data": {}, "connection_options": {}}
        for n, port in (("node0", 9001), ("node1", 9002)):
            entry["connection_options"][n] = {"hostname": "127.0.0.9", "port": port}
        ws.write("hosts", text + yaml.safe_dump({name: entry}))

    return edit


def _groups(data: dict[str, Any]) -> Edit:
    def edit(ws: Workspace) -> None:
        groups = ws.load("groups")
        groups.update(data)
        ws.dump("groups", groups)

    return edit


def _report(body: Any, raw: str | None = None) -> Edit:
    def edit(ws: Workspace) -> None:
        (ws.root / "old.json").write_text(raw if raw is not None else json.dumps(body))

    return edit


def _good_report(ws: Workspace) -> None:
    body = {"job": "upgrade", "run_id": "r", "clusters": {"c1": {"outcome": "failed"}}}
    (ws.root / "old.json").write_text(json.dumps(body))


def _make_dir(name: str) -> Edit:
    return lambda ws: (ws.root / name).mkdir()


OLD = "{ws}/old.json"
REL = "is not a Junos release"
PKG = "is not an absolute /var/tmp/... path"
LIST = f"/var/tmp/junos-srxsme-{TARGET}.tgz"

OVERRIDES = [
    Case(
        "release-without-package",
        "--target-release: needs --package",
        ("upgrade", "--dry-run", "--target-release", TARGET),
    ),
    Case(
        "package-without-release",
        "--package: needs --target-release",
        ("upgrade", "--dry-run", "--package", PACKAGE),
    ),
    Case("package-empty", f"--package: '' {PKG}", up("")),
    Case("release-empty", f"--target-release: '' {REL}", up(release="")),
    Case(
        "release-injection",
        f"--target-release: '24.2R2; request system reboot' {REL}",
        up(release="24.2R2; request system reboot"),
    ),
    Case("release-banana", f"--target-release: 'banana' {REL}", up(release="banana")),
    Case("release-newline", REL, up(release=TARGET + "\n")),
    Case("release-space-word", REL, up(release=f"{TARGET} reboot")),
    Case("release-xml", REL, up(release="<reboot/>")),
    Case("release-lowercase", REL, up(release="24.2r2-s1.3")),
    Case(
        "release-not-the-package",
        "--package: installs 24.2R2-S1.3 (read from its name), "
        "not the --target-release 23.4R2-S3.9",
        up(release="23.4R2-S3.9"),
    ),
    Case(
        "package-relative",
        f"--package: 'junos-srxsme-{TARGET}.tgz' {PKG}",
        up(f"junos-srxsme-{TARGET}.tgz"),
    ),
    Case("package-space", PKG, up(f"/var/tmp/junos srxsme-{TARGET}.tgz")),
    Case("package-newline", PKG, up(PACKAGE + "\n")),
    Case("package-semicolon", PKG, up(f"{PACKAGE};request system reboot")),
    Case("package-pipe", PKG, up(f"{PACKAGE}|reboot")),
    Case("package-subshell", PKG, up(f"/var/tmp/$(reboot)-{TARGET}.tgz")),
    Case("package-cli-reboot", PKG, up(f"{PACKAGE} reboot")),
    Case("package-cli-unlink", PKG, up(f"{PACKAGE} no-validate unlink")),
    Case("package-xml", PKG, up(f"{PACKAGE}</package-name><reboot/>")),
    Case("package-dotdot", PKG, up(f"/var/tmp/../etc/junos-srxsme-{TARGET}.tgz")),
    Case("package-outside-var-tmp", PKG, up(f"/etc/junos-srxsme-{TARGET}.tgz")),
    Case("package-file-url", PKG, up(f"file:///var/tmp/junos-srxsme-{TARGET}.tgz")),
    Case("package-url-semicolon", PKG, up(f"ftp://10.0.0.9/junos-srxsme-{TARGET}.tgz;reboot")),
    Case("package-no-release", "the file name carries no release", up("/var/tmp/junos.tgz")),
    Case(
        "package-url-no-release",
        "the file name carries no release",
        up("http://10.0.0.9/images/latest.tgz"),
    ),
]

INVENTORY_TARGETS = [
    Case(
        "inv-release-list",
        "groups.yaml: group SRX345: data.target_release: must be a string, not list",
        sets=grp("target_release", [TARGET, "23.4R2-S3.9"]),
    ),
    Case(
        "inv-release-dict",
        "data.target_release: must be a string, not dict",
        sets=grp("target_release", {"a": 1}),
    ),
    Case(
        "inv-release-banana",
        f"group SRX345: data.target_release: 'banana' {REL}",
        sets=grp("target_release", "banana"),
    ),
    Case("inv-release-injection", REL, sets=grp("target_release", "24.2R2; request system reboot")),
    Case(
        "inv-release-float",
        "data.target_release: must be a string, not float",
        sets=grp("target_release", 24.2),
    ),
    Case(
        "inv-package-list",
        "group SRX345: data.package: must be a string, not list",
        sets=grp("package", [PACKAGE]),
    ),
    Case(
        "inv-package-relative",
        f"data.package: 'junos-srxsme-{TARGET}.tgz' {PKG}",
        sets=grp("package", f"junos-srxsme-{TARGET}.tgz"),
    ),
    Case("inv-package-space", PKG, sets=grp("package", f"/var/tmp/junos srxsme-{TARGET}.tgz")),
    Case("inv-package-newline", PKG, sets=grp("package", PACKAGE + "\nrequest system reboot")),
    Case("inv-package-semicolon", PKG, sets=grp("package", f"{PACKAGE};reboot")),
    Case("inv-package-pipe", PKG, sets=grp("package", f"{PACKAGE}|reboot")),
    Case("inv-package-subshell", PKG, sets=grp("package", f"/var/tmp/$(reboot)-{TARGET}.tgz")),
    Case("inv-package-cli-reboot", PKG, sets=grp("package", f"{PACKAGE} reboot")),
    Case("inv-package-cli-unlink", PKG, sets=grp("package", f"{PACKAGE} no-validate unlink")),
    Case("inv-package-xml", PKG, sets=grp("package", f"{PACKAGE}</package-name><reboot/>")),
    Case(
        "inv-package-no-release",
        "the file name carries no release",
        sets=grp("package", "/var/tmp/junos.tgz"),
    ),
    Case(
        "inv-package-other-release",
        "c1: data.package: installs 23.4R2-S3.9 (read from its "
        "name), not the target_release 24.2R2-S1.3",
        sets=grp("package", "/var/tmp/junos-srxsme-23.4R2-S3.9.tgz"),
    ),
    Case(
        "inv-host-release-not-package",
        "groups.yaml (group SRX345): c1: data.package: installs",
        sets=host("data.target_release", "23.4R2-S3.9"),
    ),
    Case(
        "inv-size-negative",
        "data.package_size: must be a number of bytes at least 0, not -1",
        sets=grp("package_size", -1),
    ),
    Case(
        "inv-size-text",
        "data.package_size: must be a whole number, not str '12MB'",
        sets=grp("package_size", "12MB"),
    ),
    Case(
        "inv-size-float",
        "data.package_size: must be a whole number, not float",
        sets=grp("package_size", 1.5),
    ),
    Case(
        "inv-md5-not-hex",
        "data.package_md5: must be 32 hex digits",
        sets=grp("package_md5", "x" * 32),
    ),
    Case(
        "inv-md5-short",
        "data.package_md5: must be 32 hex digits",
        sets=grp("package_md5", "0" * 31),
    ),
    Case(
        "inv-md5-number",
        "data.package_md5: must be a string, not int",
        sets=grp("package_md5", 123),
    ),
    Case(
        "inv-sha256-not-hex",
        "data.package_sha256: must be 64 hex digits",
        sets=grp("package_sha256", "g" * 64),
    ),
    Case(
        "inv-sha256-md5-length",
        "data.package_sha256: must be 64 hex digits",
        sets=grp("package_sha256", "0" * 32),
    ),
]

NODES = [
    Case(
        "port-zero",
        "hosts.yaml: c1: connection_options.node0.port: must be a port 1..65535",
        sets=node("port", 0),
    ),
    Case(
        "port-negative",
        "connection_options.node0.port: must be a port 1..65535, not -1",
        sets=node("port", -1),
    ),
    Case(
        "port-too-big",
        "connection_options.node0.port: must be a port 1..65535, not 70000",
        sets=node("port", 70000),
    ),
    Case(
        "port-float",
        "connection_options.node0.port: must be a whole number, not float",
        sets=node("port", 830.5),
    ),
    Case(
        "port-string",
        "connection_options.node0.port: must be a whole number, not str",
        sets=node("port", "830"),
    ),
    Case(
        "port-bool",
        "connection_options.node0.port: must be a whole number, not bool",
        sets=node("port", True),
    ),
    Case(
        "optional-port-zero",
        "connection_options.node0.extras.optional_args.port: must be a port",
        sets=node("extras", {"optional_args": {"port": 0}}),
    ),
    Case(
        "ports-differ",
        "c1: connection_options.node1.port: port 1 and extras.optional_args.port",
        sets=node("port", 1, "node1"),
    ),
    Case(
        "node1-is-node0",
        "c1: connection_options.node1: ",
        edit=_copy_node(("c1", "node0"), ("c1", "node1")),
        extra={"also": "one box cannot be both nodes"},
    ),
    Case(
        "node-shared-across-clusters",
        "c2: connection_options.node0: ",
        edit=_copy_node(("c1", "node0"), ("c2", "node0")),
        extra={"also": "is also c1's node0: a node belongs to one cluster"},
    ),
    Case(
        "hostname-not-a-host",
        "connection_options.node0.hostname: 'not a host!' is not an IP address or a host name",
        sets=node("hostname", "not a host!"),
    ),
    Case(
        "hostname-injection",
        "is not an IP address or a host name",
        sets=node("hostname", "10.0.0.1; reboot"),
    ),
    Case(
        "hostname-empty",
        "connection_options.node0.hostname: '' is not an IP",
        sets=node("hostname", ""),
    ),
    Case(
        "hostname-number",
        "connection_options.node0.hostname: must be a string, not int",
        sets=node("hostname", 123),
    ),
    Case("hostname-bad-ip", "'999.1.1.1' is not an IP address", sets=node("hostname", "999.1.1.1")),
    Case(
        "hostname-missing",
        "c1: connection_options.node1.hostname: missing",
        sets=node("hostname", DELETE, "node1"),
    ),
    Case(
        "node1-missing",
        "c1: connection_options.node1.hostname: missing",
        sets=host("connection_options.node1", DELETE),
    ),
    Case(
        "connection-options-list",
        "c1: connection_options: must be a mapping, not list",
        sets=host("connection_options", [1, 2]),
    ),
    Case(
        "node-unknown-key",
        "connection_options.node0.hostnme: unknown key",
        sets=node("hostnme", "127.0.0.1"),
    ),
    Case(
        "host-hostname-bad",
        "hosts.yaml: c1: hostname: 'a b' is not an IP",
        sets=host("hostname", "a b"),
    ),
]

TYPES = [
    Case(
        "host-key-check-string",
        "defaults.yaml: defaults: data.host_key_check: must be true or false, not str 'no'",
        sets=dflt("data.host_key_check", "no"),
    ),
    Case(
        "host-key-check-host",
        "hosts.yaml: c1: data.host_key_check: must be true or false",
        sets=host("data.host_key_check", "false"),
    ),
    Case(
        "timing-list",
        "defaults.yaml: defaults: data.timing: must be a mapping, not list",
        sets=dflt("data.timing", [1, 2]),
    ),
    Case(
        "timing-string",
        "hosts.yaml: c1: data.timing: must be a mapping, not str",
        sets=host("data.timing", "fast"),
    ),
    Case(
        "timing-value-text",
        "data.timing.rpc_timeout: must be a number, not str",
        sets=dflt("data.timing.rpc_timeout", "fast"),
    ),
    Case(
        "timing-zero",
        "data.timing.poll_interval: must be greater than 0",
        sets=dflt("data.timing.poll_interval", 0),
    ),
    Case(
        "timing-negative",
        "data.timing.reboot_deadline: must be greater than 0",
        sets=grp("timing", {"reboot_deadline": -5}),
    ),
    Case(
        "timing-unknown-key",
        "group SRX345: data.timing.rebot_deadline: unknown key",
        sets=grp("timing", {"rebot_deadline": 5}),
    ),
    Case(
        "timing-infinite",
        "data.timing.settle_deadline: must be a finite number",
        sets=host("data.timing", {"settle_deadline": float("inf")}),
    ),
    Case(
        "timing-bool",
        "data.timing.rpc_timeout: must be a number, not bool",
        sets=host("data.timing", {"rpc_timeout": True}),
    ),
    Case(
        "config-timing-list",
        "config.yaml: user_defined.timing: must be a mapping, not list",
        sets=cfg("user_defined.timing", [30]),
    ),
    Case(
        "config-timing-unknown",
        "config.yaml: user_defined.timing.pol_interval: unknown key",
        sets=cfg("user_defined.timing", {"pol_interval": 1}),
    ),
    Case(
        "config-timing-zero",
        "config.yaml: user_defined.timing.rpc_timeout: must be greater",
        sets=cfg("user_defined.timing", {"rpc_timeout": 0}),
    ),
    Case(
        "username-empty",
        "defaults.yaml: defaults: username: must not be blank",
        sets=dflt("username", ""),
    ),
    Case(
        "username-blank",
        "defaults.yaml: defaults: username: must not be blank",
        sets=dflt("username", "   "),
    ),
    Case(
        "username-list",
        "defaults.yaml: defaults: username: must be a string, not list",
        sets=dflt("username", ["a"]),
    ),
    Case("username-space", "username: must not contain spaces", sets=dflt("username", "a b")),
    Case(
        "password-list",
        "defaults.yaml: defaults: password: must be a string",
        sets=dflt("password", ["s3cret-in-a-list"]),
        extra={"absent": "s3cret-in-a-list"},
    ),
    Case(
        "password-number",
        "defaults.yaml: defaults: password: must be a string",
        sets=dflt("password", 987654321),
        extra={"absent": "987654321"},
    ),
    Case(
        "node-username-blank",
        "connection_options.node0.username: must not be blank",
        sets=node("username", " "),
    ),
    Case(
        "model-list",
        "group SRX345: data.model: must be a string, not list",
        sets=grp("model", ["SRX345"]),
    ),
    Case("known-hosts-blank", "data.known_hosts: is blank", sets=dflt("data.known_hosts", " ")),
    Case(
        "timezone-unknown",
        "hosts.yaml: c1: data.timezone: unknown time zone 'Nowhere/Zone'",
        sets=host("data.timezone", "Nowhere/Zone"),
    ),
    Case(
        "timezone-directory",
        "data.timezone: unknown time zone 'America'",
        sets=host("data.timezone", "America"),
    ),
    Case(
        "window-bad-hours",
        "hosts.yaml: c1: data.window: window time must be HH:MM",
        sets=host("data.window", "sat 25:00-26:00"),
    ),
    Case(
        "window-list",
        "hosts.yaml: c1: data.window: window must be a string or mapping",
        sets=host("data.window", [1]),
    ),
    Case(
        "window-group-zone",
        "groups.yaml (group SRX345): c1: data.window: unknown time zone",
        sets=grp("window", "sat 01:00-05:00 Mars/Olympus"),
    ),
]

YAML_BROKEN = "c1: [1, 2\nc2: 3\n"
STRUCTURE = [
    Case(
        "host-data-list",
        "hosts.yaml: c1: data: must be a mapping, not list",
        sets=host("data", ["site", "a"]),
    ),
    Case(
        "group-data-string",
        "groups.yaml: group SRX345: data: must be a mapping, not str",
        sets=(("groups", "SRX345.data", "SRX345"),),
    ),
    Case(
        "defaults-data-list",
        "defaults.yaml: defaults: data: must be a mapping, not list",
        sets=dflt("data", [1]),
    ),
    Case(
        "host-entry-list",
        "hosts.yaml: c1: must be a mapping, not list",
        edit=lambda ws: ws.dump("hosts", {**ws.load("hosts"), "c1": [1, 2]}),
    ),
    Case(
        "host-entry-scalar",
        "hosts.yaml: c1: must be a mapping, not str",
        edit=lambda ws: ws.dump("hosts", {**ws.load("hosts"), "c1": "10.0.0.1"}),
    ),
    Case(
        "group-includes-itself",
        "groups.yaml: group SRX345: groups: includes itself",
        sets=(("groups", "SRX345.groups", ["SRX345"]),),
    ),
    Case(
        "group-loop",
        "groups: groups loop: ga -> gb -> ga",
        edit=_groups({"ga": {"groups": ["gb"]}, "gb": {"groups": ["ga"]}}),
    ),
    Case(
        "group-loop-three",
        "groups loop: ga -> gb -> gc -> ga",
        edit=_groups(
            {"ga": {"groups": ["gb"]}, "gb": {"groups": ["gc"]}, "gc": {"groups": ["ga"]}}
        ),
    ),
    Case(
        "host-unknown-group",
        "hosts.yaml: c1: groups: unknown group 'nope'",
        sets=host("groups", ["SRX345", "nope"]),
    ),
    Case(
        "group-unknown-group",
        "groups.yaml: group ga: groups: unknown group 'nope'",
        edit=_groups({"ga": {"groups": ["nope"]}}),
    ),
    Case(
        "groups-not-a-list",
        "hosts.yaml: c1: groups: must be a list, not str",
        sets=host("groups", "SRX345"),
    ),
    Case(
        "host-unknown-key",
        "hosts.yaml: c1: conection_options: unknown key",
        sets=host("conection_options", {}),
    ),
    Case(
        "hosts-top-list",
        "hosts.yaml: top level must be a mapping of clusters, not a list",
        edit=lambda ws: ws.write("hosts", "- c1\n- c2\n"),
    ),
    Case(
        "hosts-top-scalar",
        "hosts.yaml: top level must be a mapping of clusters, not a str",
        edit=lambda ws: ws.write("hosts", "just words\n"),
    ),
    Case(
        "groups-top-list",
        "groups.yaml: top level must be a mapping of groups, not a list",
        edit=lambda ws: ws.write("groups", "- SRX345\n"),
    ),
    Case(
        "defaults-top-scalar",
        "defaults.yaml: top level must be a mapping of settings, not a int",
        edit=lambda ws: ws.write("defaults", "42\n"),
    ),
    Case(
        "config-top-list",
        "config.yaml: top level must be a mapping of settings, not a list",
        edit=lambda ws: ws.write("config", "- inventory\n"),
    ),
    Case("yaml-hosts", "hosts.yaml:2: YAML error:", edit=lambda ws: ws.write("hosts", YAML_BROKEN)),
    Case(
        "yaml-groups", "groups.yaml:2: YAML error:", edit=lambda ws: ws.write("groups", YAML_BROKEN)
    ),
    Case(
        "yaml-defaults",
        "defaults.yaml:2: YAML error:",
        edit=lambda ws: ws.write("defaults", YAML_BROKEN),
    ),
    Case(
        "yaml-config", "config.yaml:2: YAML error:", edit=lambda ws: ws.write("config", YAML_BROKEN)
    ),
    Case(
        "yaml-duplicate-host",
        "hosts.yaml:2: YAML error: found duplicate key",
        edit=lambda ws: ws.write("hosts", "c1: {}\nc1: {}\n"),
    ),
    Case(
        "yaml-tab",
        "hosts.yaml:2: YAML error:",
        edit=lambda ws: ws.write("hosts", "c1:\n\tdata: {}\n"),
    ),
    Case("config-unknown-key", "config.yaml: runnner: unknown key", sets=cfg("runnner", {})),
    Case(
        "num-workers-zero",
        "config.yaml: runner.options.num_workers: must be a whole number at least 1, not 0",
        sets=cfg("runner.options.num_workers", 0),
    ),
    Case(
        "num-workers-text",
        "runner.options.num_workers: must be a whole number, not str",
        sets=cfg("runner.options.num_workers", "ten"),
    ),
    Case(
        "num-workers-float",
        "runner.options.num_workers: must be a whole number, not float",
        sets=cfg("runner.options.num_workers", 2.5),
    ),
    Case(
        "state-dir-list",
        "config.yaml: user_defined.state_dir: must be a string, not list",
        sets=cfg("user_defined.state_dir", ["a", "b"]),
    ),
    Case(
        "state-dir-blank",
        "config.yaml: user_defined.state_dir: is blank",
        sets=cfg("user_defined.state_dir", " "),
    ),
    Case(
        "state-dir-number",
        "user_defined.state_dir: must be a string, not int",
        sets=cfg("user_defined.state_dir", 5),
    ),
    Case(
        "config-inventory-list",
        "config.yaml: inventory: must be a mapping, not list",
        sets=cfg("inventory", []),
    ),
    Case(
        "config-runner-string",
        "config.yaml: runner: must be a mapping, not str",
        sets=cfg("runner", "threaded"),
    ),
]

NAMES = [
    Case(
        "host-name-escapes",
        "hosts.yaml: '../../../../x': cluster name '../../../../x' is not safe",
        edit=_add_host("../../../../x"),
    ),
    Case("host-name-absolute", "cluster name '/tmp/x' is not safe", edit=_add_host("/tmp/x")),
    Case("host-name-space", "cluster name 'a b' is not safe", edit=_add_host("a b")),
    Case("host-name-hidden", "cluster name '.hidden' is not safe", edit=_add_host(".hidden")),
    Case("host-name-number", "cluster name 123 is not safe", edit=_add_host(123)),
    Case(
        "cli-cluster-escapes",
        "--cluster: cluster name '../../x' is not safe",
        ("upgrade", "--dry-run", "--cluster", "../../x"),
    ),
    Case(
        "cli-cluster-absolute",
        "--cluster: cluster name '/etc/passwd' is not safe",
        ("status", "--cluster", "/etc/passwd"),
    ),
    Case(
        "cli-cluster-newline",
        "--cluster: cluster name 'c1\\nc2' is not safe",
        ("status", "--cluster", "c1\nc2"),
    ),
    Case("host-name-newline", "cluster name 'x\\n' is not safe", edit=_add_host("x\n")),
    Case(
        "cli-cluster-trailing-newline",
        "--cluster: cluster name 'c1\\n' is not safe",
        ("status", "--cluster", "c1\n"),
    ),
    Case("cli-cluster-unknown", "unknown cluster(s): nope", ("status", "--cluster", "nope")),
]

FLAGS = [
    Case("report-is-dir", "--report: is a directory, not a file", ("status", "--report", "{ws}")),
    Case(
        "report-dir-missing",
        "--report: directory not writable (or missing)",
        ("status", "--report", "{ws}/missing/r.json"),
    ),
    Case(
        "report-under-a-file",
        "--report: directory not writable (or missing)",
        ("status", "--report", "{ws}/config.yaml/r.json"),
    ),
    Case("events-is-dir", "--events: is a directory", ("upgrade", "--dry-run", "--events", "{ws}")),
    Case(
        "events-dir-missing",
        "--events: directory not writable (or missing)",
        ("recover", "--dry-run", "--events", "{ws}/missing/e.jsonl"),
    ),
    Case(
        "log-file-is-dir",
        "--log-file: is a directory",
        ("status", "--log-file", "{ws}/d"),
        edit=_make_dir("d"),
    ),
    Case(
        "log-file-dir-missing",
        "--log-file: directory not writable (or missing)",
        ("abort", "--dry-run", "--log-file", "{ws}/missing/x.log"),
    ),
    Case(
        "events-same-as-report",
        "--events: is also --report",
        ("upgrade", "--dry-run", "--report", "{ws}/r.json", "--events", "{ws}/r.json"),
    ),
    Case(
        "only-typos",
        "--only: unknown outcome(s) 'faild', 'not-startd'",
        ("recover", "--from-report", OLD, "--only", "faild,not-startd"),
        edit=_good_report,
    ),
    Case(
        "only-bogus",
        "--only: unknown outcome(s) 'bogus'",
        ("upgrade", "--from-report", OLD, "--only", "bogus"),
        edit=_good_report,
    ),
    Case(
        "only-empty",
        "--only: unknown outcome(s) ''",
        ("status", "--from-report", OLD, "--only", ""),
        edit=_good_report,
    ),
    Case("only-without-report", "--only: needs --from-report", ("status", "--only", "failed")),
    Case(
        "from-report-missing", "--from-report: report not found", ("status", "--from-report", OLD)
    ),
    Case("from-report-dir", "--from-report: is not a file", ("status", "--from-report", "{ws}")),
    Case(
        "from-report-not-json",
        "old.json: not a runbooks report: not JSON",
        ("status", "--from-report", OLD),
        edit=_report(None, raw="{nope"),
    ),
    Case(
        "from-report-list",
        "old.json: not a runbooks report: a list, not a mapping",
        ("status", "--from-report", OLD),
        edit=_report([1, 2]),
    ),
    Case(
        "from-report-other-job",
        "old.json: job: not a runbooks report: unknown job 'backup'",
        ("recover", "--from-report", OLD),
        edit=_report({"job": "backup", "clusters": {}}),
    ),
    Case(
        "from-report-no-job",
        "old.json: job: not a runbooks report: missing",
        ("recover", "--from-report", OLD),
        edit=_report({"clusters": {}}),
    ),
    Case(
        "from-report-no-clusters",
        "old.json: clusters: not a runbooks report: missing",
        ("recover", "--from-report", OLD),
        edit=_report({"job": "upgrade"}),
    ),
    Case(
        "from-report-clusters-list",
        "clusters: not a runbooks report: must be a mapping",
        ("recover", "--from-report", OLD),
        edit=_report({"job": "upgrade", "clusters": []}),
    ),
    Case(
        "from-report-bad-outcome",
        "clusters.c1.outcome: not a runbooks report: unknown outcome",
        ("recover", "--from-report", OLD),
        edit=_report({"job": "upgrade", "clusters": {"c1": {"outcome": "great"}}}),
    ),
    Case(
        "from-report-no-outcome",
        "clusters.c1.outcome: not a runbooks report: missing",
        ("recover", "--from-report", OLD),
        edit=_report({"job": "upgrade", "clusters": {"c1": {"state": "healthy"}}}),
    ),
    Case(
        "from-report-unsafe-name",
        "not a runbooks report: cluster name '../../x' is not safe",
        ("recover", "--from-report", OLD),
        edit=_report({"job": "upgrade", "clusters": {"../../x": {"outcome": "failed"}}}),
    ),
    Case(
        "window-unknown-zone",
        "--window: unknown time zone: 'Mars/Olympus'",
        ("upgrade", "--dry-run", "--window", "sat 01:00-05:00 Mars/Olympus"),
    ),
    Case(
        "window-zone-directory",
        "--window: unknown time zone: 'America'",
        ("recover", "--dry-run", "--window", "sat 01:00-05:00 America"),
    ),
    Case(
        "window-bad-day",
        "--window: window days must be mon..sun",
        ("upgrade", "--dry-run", "--window", "funday 01:00-05:00"),
    ),
    Case(
        "window-backwards",
        "--window: window ends before it starts",
        ("upgrade", "--dry-run", "--window", "2026-12-05T05:00/2026-12-05T01:00"),
    ),
    Case("workers-zero", "--workers must be at least 1", ("status", "--workers", "0")),
    Case("processes-zero", "--processes must be at least 1", ("upgrade", "--processes", "0")),
    Case("max-failures-bad", "--max-failures must be N or P%", ("upgrade", "--max-failures", "x%")),
    Case(
        "max-in-flight-zero",
        "--max-in-flight must be at least 1",
        ("upgrade", "--max-in-flight", "0"),
    ),
    Case("canary-negative", "--canary must not be negative", ("upgrade", "--canary", "-1")),
    Case("filter-no-value", "filter must be KEY=VALUE", ("status", "--filter", "site")),
    Case(
        "filter-matches-none",
        "the selection matches no cluster",
        ("status", "--filter", "site=zzz"),
    ),
    Case("unknown-flag", "unrecognized arguments: --bogus", ("upgrade", "--bogus")),
    Case("status-takes-no-dry-run", "unrecognized arguments: --dry-run", ("status", "--dry-run")),
    Case("workers-text", "--workers: invalid int value", ("status", "--workers", "many")),
]

CASES = OVERRIDES + INVENTORY_TARGETS + NODES + TYPES + STRUCTURE + NAMES + FLAGS


def params() -> list[Any]:
    return [pytest.param(c, id=c.id) for c in CASES]


def run_case(case: Case, ws: Workspace, capsys: pytest.CaptureFixture[str]) -> str:
    """Run the case in this process; assert exit 2 and one line; return that line."""
    case.prepare(ws)
    capsys.readouterr()
    try:
        code = main(case.argv(ws))
    except SystemExit as exc:  # argparse's own errors
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    lines = err.strip().splitlines()
    assert code == 2, (code, err)
    assert len(lines) == 1, err
    assert lines[0].startswith("error: ") and case.expect in lines[0], lines[0]
    assert case.extra.get("also", "") in lines[0]
    absent = case.extra.get("absent")
    assert absent is None or absent not in err + out
    assert out == ""
    return lines[0]
