"""The input rules (tasks/input_rules.py) through the task API: a user's own Nornir script
calling srx_* with bad arguments or a bad inventory gets a failed Result whose Outcome says
"bad input: ..." (state unknown), and nothing happens: no connection is opened (the nodes'
connection plugin is a tripwire, and they point at ports nobody listens on), nothing is
locked or journaled (the state directory is never created)."""

from __future__ import annotations

import copy
import dataclasses
import inspect
import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from nornir import InitNornir
from nornir.core import Nornir
from nornir.core.task import Result

from tasks import init_nornir
from tasks.device.napalm_node import JunosNode
from tasks.input_rules import (
    ARGUMENT_RULES,
    OVERRIDE,
    STAGE_ARGUMENTS,
    STAGE_RULES,
    InputRefused,
    check_call,
)
from tasks.jobs import srx_abort, srx_recover, srx_snapshot, srx_stage, srx_status, srx_upgrade
from tasks.plans.cluster_status import ClusterSummary
from tasks.plans.transfer import Expected, StageSpec
from tasks.state.run_context import Outcome, RunContext
from tests.input_corpus import Case, Workspace, run_case

ROOT = Path(__file__).parents[3]
TARGET = "24.2R2-S1.3"
PACKAGE = f"/var/tmp/junos-srxsme-{TARGET}.tgz"
OTHER = "23.4R2-S3.9"
TASKS: dict[str, Callable[..., Result]] = {
    "upgrade": srx_upgrade,
    "stage": srx_stage,
    "abort": srx_abort,
    "recover": srx_recover,
    "status": srx_status,
    "snapshot": srx_snapshot,
}
DELETE = object()

HOSTS = {
    "c1": {
        "groups": ["SRX345"],
        "data": {"site": "lab-a"},
        "connection_options": {
            node: {
                "hostname": "127.0.0.1",
                "port": port,
                "extras": {"optional_args": {"port": port}},
            }
            for node, port in (("node0", 9), ("node1", 10))
        },
    }
}
GROUPS = {
    "SRX345": {
        "data": {
            "model": "SRX345",
            "target_release": TARGET,
            "package": PACKAGE,
            "package_size": 1000,
            "package_md5": "0" * 32,
        }
    }
}
DEFAULTS = {
    "username": "lab",
    "password": "lab-pass",
    "data": {"host_key_check": False, "timing": {"rpc_timeout": 1, "connect_timeout": 1}},
}


class Lab:
    """One cluster's config and inventory in a temporary directory, edited per test."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.files: dict[str, Any] = {
            "hosts": copy.deepcopy(HOSTS),
            "groups": copy.deepcopy(GROUPS),
            "defaults": copy.deepcopy(DEFAULTS),
        }
        self.state = root / "state"
        self.config: dict[str, Any] = {
            "runner": {"plugin": "threaded", "options": {"num_workers": 1}},
            "logging": {"enabled": False},
            "user_defined": {"state_dir": str(self.state), "timing": {}},
        }

    def set(self, name: str, dotted: str, value: Any) -> None:
        node = self.config if name == "config" else self.files[name]
        *parents, last = dotted.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        if value is DELETE:
            del node[last]
        else:
            node[last] = value

    def nornir(self) -> Nornir:
        options = {}
        for name, data in self.files.items():
            path = self.root / f"{name}.yaml"
            path.write_text(yaml.safe_dump(data, sort_keys=False))
            options[{"hosts": "host_file", "groups": "group_file"}.get(name, "defaults_file")] = (
                str(path)
            )
        config = self.root / "config.yaml"
        config.write_text(yaml.safe_dump(self.config, sort_keys=False))
        inventory = {"plugin": "SimpleInventory", "options": options}
        return init_nornir(config, inventory=inventory)

    def run(self, job: str, **kwargs: Any) -> Result:
        nr = self.nornir()
        results = nr.run(task=TASKS[job], **kwargs)
        (name,) = results.keys()
        result: Result = results[name][0]
        # THEN no connection was opened, and nothing was written under the state directory
        assert nr.inventory.hosts[name].connections == {}
        assert not self.state.exists(), sorted(self.state.rglob("*"))
        return result


@pytest.fixture
def lab(tmp_path: Path) -> Lab:
    return Lab(tmp_path)


@pytest.fixture(autouse=True)
def tripwire(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Any]]:
    """Any session a task tries to open is recorded (and refused)."""
    monkeypatch.delenv("JUNOS_USERNAME", raising=False)
    monkeypatch.delenv("JUNOS_PASSWORD", raising=False)
    opened: list[Any] = []

    def no_session(self: Any, hostname: Any, *args: Any, **kwargs: Any) -> None:
        opened.append(hostname)
        raise AssertionError(f"a session to {hostname} was opened")

    monkeypatch.setattr(JunosNode, "open", no_session)
    yield opened
    assert opened == [], "a task tried to connect"


def refused(result: Result, expect: str) -> Outcome:
    """The Result of an input refused: failed, Outcome failed/unknown, 'bad input: ...'."""
    assert result.failed and result.exception is None, result
    outcome = result.result
    assert isinstance(outcome, Outcome), outcome
    assert (outcome.outcome, outcome.state) == ("failed", "unknown")
    assert outcome.detail.startswith("bad input: "), outcome.detail
    assert expect in outcome.detail, outcome.detail
    assert "\n" not in outcome.detail
    assert not result.changed
    return outcome


# ------------------------------------------------------------------------------ the two found


def test_a_package_of_another_release_is_refused_not_sent(lab: Lab) -> None:
    # GIVEN a package for 24.2R2-S1.3 WHEN the task is asked to install 25.1R1.1 with it
    result = lab.run("upgrade", target_release="25.1R1.1", package=PACKAGE)
    # THEN refused, as the CLI refuses --target-release/--package that disagree
    refused(
        result,
        "bad input: package: installs 24.2R2-S1.3 (read from its name), "
        "not the target_release 25.1R1.1",
    )


def test_a_package_path_with_a_command_in_it_is_refused(lab: Lab) -> None:
    result = lab.run("upgrade", target_release=TARGET, package=f"{PACKAGE};reboot")
    refused(result, "bad input: package: ")
    refused(result, "is not an absolute /var/tmp/... path or an ftp/http/https/scp URL")


# ------------------------------------------------------------------------------ the target


def _t(release: Any, package: Any, expect: str, id: str) -> Any:
    given = {k: v for k, v in (("target_release", release), ("package", package)) if v is not None}
    return pytest.param(given, expect, id=id)


NOT_LOCAL = "is not an absolute /var/tmp/... path"
NOT_RELEASE = "is not a Junos release"
TARGETS = [
    _t(
        "24.2R2; request system reboot",
        PACKAGE,
        "target_release: '24.2R2; request system reboot' is not",
        "injection",
    ),
    _t("banana", PACKAGE, f"target_release: 'banana' {NOT_RELEASE}", "release-banana"),
    _t(24.2, PACKAGE, "target_release: must be a release such as 24.2R2-S1.3", "release-float"),
    _t(TARGET, None, "target_release: needs package: an override names both", "no-package"),
    _t(None, PACKAGE, "package: needs target_release: an override names both", "no-release"),
    _t(TARGET, 123, "package: must be a path such as /var/tmp/", "package-number"),
    _t(TARGET, "/var/tmp/junos.tgz", "the file name carries no release", "package-no-release"),
    _t(TARGET, f"junos-srxsme-{TARGET}.tgz", NOT_LOCAL, "package-relative"),
    _t(TARGET, f"/var/tmp/../etc/junos-srxsme-{TARGET}.tgz", NOT_LOCAL, "package-dotdot"),
    _t(TARGET, f"/etc/junos-srxsme-{TARGET}.tgz", NOT_LOCAL, "package-outside-var-tmp"),
    _t(TARGET, f"{PACKAGE} no-validate unlink", NOT_LOCAL, "package-cli-words"),
    _t(TARGET, f"{PACKAGE}</package-name><reboot/>", NOT_LOCAL, "package-xml"),
    _t(TARGET, f"ftp://10.0.0.9/junos-srxsme-{TARGET}.tgz;x", NOT_LOCAL, "url-semicolon"),
    _t(TARGET, f"file:///var/tmp/junos-srxsme-{TARGET}.tgz", NOT_LOCAL, "file-url"),
]


@pytest.mark.parametrize(("kwargs", "expect"), TARGETS)
@pytest.mark.parametrize("job", ["upgrade", "stage"])
def test_target_arguments(lab: Lab, job: str, kwargs: dict[str, Any], expect: str) -> None:
    refused(lab.run(job, **kwargs), expect)


def test_no_target_anywhere(lab: Lab) -> None:
    lab.set("groups", "SRX345.data.package", DELETE)
    refused(lab.run("upgrade"), "bad input: no target_release/package in inventory")


# ------------------------------------------------------------------------------ other arguments

FLAG_ARGUMENTS = [
    ("upgrade", flag)
    for flag in (
        "no_sync",
        "no_tcp_syn_check",
        "no_validate",
        "unlink",
        "retry_failed",
        "align_rgs",
        "service_checks",
    )
] + [("abort", "no_recover"), ("abort", "even_if_idle")]
FLAG_ARGUMENTS += [(job, "dry_run") for job in ("upgrade", "stage", "abort", "recover")]


@pytest.mark.parametrize(("job", "flag"), FLAG_ARGUMENTS)
def test_flags_are_true_or_false(lab: Lab, job: str, flag: str) -> None:
    refused(lab.run(job, **{flag: "yes"}), f"bad input: {flag}: must be true or false, not str")


@pytest.mark.parametrize(
    ("kwargs", "expect"),
    [
        ({"restore_primary": "node2"}, "restore_primary: unknown node 'node2' (node0, node1)"),
        ({"restore_primary": 0}, "restore_primary: unknown node 0"),
        ({"allow_alarms": ["PEM [0-9"]}, "allow_alarms: 'PEM [0-9' is not a regular expression"),
        (
            {"allow_alarms": ["ok", "(unclosed"]},
            "allow_alarms: '(unclosed' is not a regular expression",
        ),
        ({"allow_alarms": "PEM.*"}, "allow_alarms: must be a list of regular expressions, not str"),
        ({"allow_alarms": [3]}, "allow_alarms: must be a regular expression, not int"),
        ({"stage": {"url": "http://h/"}}, "stage: must be a StageSpec (tasks.StageSpec) or None"),
        (
            {"method": "zero-downtime"},
            "method: unknown method 'zero-downtime' (auto, icu, issu, dual-reboot, "
            "minimal-downtime)",
        ),
        ({"method": None}, "method: unknown method None"),
    ],
    ids=[
        "restore-primary-node2",
        "restore-primary-number",
        "allow-alarms-bad-regex",
        "allow-alarms-second-bad",
        "allow-alarms-a-string",
        "allow-alarms-number",
        "stage-a-dict",
        "method-unknown",
        "method-none",
    ],
)
def test_upgrade_options(lab: Lab, kwargs: dict[str, Any], expect: str) -> None:
    refused(lab.run("upgrade", **kwargs), f"bad input: {expect}")


@pytest.mark.parametrize("job", sorted(TASKS))
def test_context_is_a_run_context(lab: Lab, job: str) -> None:
    result = lab.run(job, context="state")
    expect = "context: must be a RunContext (tasks.RunContext) or None, not str"
    if job == "status":
        assert result.result.refused and expect in result.result.findings[0]
    elif job == "snapshot":
        assert result.failed and result.result == f"bad input: {expect}"
    else:
        refused(result, expect)


def test_unknown_keyword_is_not_taken(lab: Lab) -> None:
    # Python refuses it before any rule: the Result holds the TypeError, nothing was sent.
    result = lab.run("upgrade", no_syncc=True)
    assert result.failed and isinstance(result.exception, TypeError)


# ------------------------------------------------------------------------------ stage spec


@pytest.fixture
def pushed_file(tmp_path: Path) -> Path:
    path = tmp_path / "up" / f"junos-srxsme-{TARGET}.tgz"
    path.parent.mkdir()
    path.write_bytes(b"x" * 10)
    return path


def _s(expect: str, id: str, **fields: Any) -> Any:
    return pytest.param(fields, expect, id=id)


NOT_URL = "is not an ftp/http/https/scp URL of a file or a directory"
URL = "http://h/"
SPECS = [
    _s(
        f"spec.url: 'http://h/images/x.tgz;reboot' {NOT_URL}",
        "url-semicolon",
        url="http://h/images/x.tgz;reboot",
    ),
    _s(f"spec.url: 'file:///var/tmp/' {NOT_URL}", "url-file-scheme", url="file:///var/tmp/"),
    _s(f"spec.url: 'http://h/a b/' {NOT_URL}", "url-space", url="http://h/a b/"),
    _s(f"spec.url: 'http://h/../x/' {NOT_URL}", "url-dotdot", url="http://h/../x/"),
    _s("spec.url: must be a URL such as http://host/images/, not list", "url-list", url=[URL]),
    _s("spec.push: no such file: ", "push-missing", push="missing.tgz"),
    _s("spec.push: no such file: ", "push-a-directory", push="."),
    _s("spec.push: must be a local file (a pathlib.Path), not str", "push-a-string", push="str"),
    _s("spec: give url or push, not both", "url-and-push", url=URL, push="file"),
    _s("spec.nodes: unknown nodes 'all' (primary, both)", "nodes-all", url=URL, nodes="all"),
    _s("spec.cleanup: must be true or false, not str", "cleanup-str", url=URL, cleanup="no"),
    _s(
        "spec.min_rate_mbps: must be a positive number of Mbit/s",
        "rate-zero",
        url=URL,
        min_rate_mbps=0,
    ),
    _s("spec.min_rate_mbps: must be a positive number", "rate-text", url=URL, min_rate_mbps="fast"),
    _s(
        "spec.progress_every: must be a positive number of seconds",
        "every-negative",
        url=URL,
        progress_every=-1,
    ),
    _s("spec.pushed: must be an Expected", "pushed-a-tuple", url=URL, pushed=(1, "a")),
    _s(
        "spec.published: must be a mapping of URL to Expected",
        "published-str",
        url=URL,
        published={URL: "a"},
    ),
    _s("spec.link: must be a TransferSlots, not int", "link-a-number", url=URL, link=4),
    _s("spec.ready: must be a TransferSlots, not NoneType", "ready-none", url=URL, ready=None),
]


def _spec(fields: dict[str, Any], pushed_file: Path) -> StageSpec:
    """The push= markers of SPECS made real: "file" the test's file, "str" its path as a
    string, a name the path beside it."""
    push = fields.get("push")
    if isinstance(push, str):
        named = {"file": pushed_file, "str": str(pushed_file)}
        fields = {**fields, "push": named.get(push, pushed_file.parent / push)}
    return StageSpec(**fields)


@pytest.mark.parametrize(("fields", "expect"), SPECS)
def test_stage_spec(lab: Lab, pushed_file: Path, fields: dict[str, Any], expect: str) -> None:
    refused(lab.run("stage", spec=_spec(fields, pushed_file)), f"bad input: {expect}")
    # the same spec as srx_upgrade's stage= is checked under that name
    as_stage = expect.replace("spec", "stage", 1)
    refused(lab.run("upgrade", stage=_spec(fields, pushed_file)), f"bad input: {as_stage}")


def test_stage_needs_a_source(lab: Lab) -> None:
    refused(
        lab.run("stage"),
        "bad input: spec: no source: give url or push (or the inventory's package_url)",
    )


def test_a_pushed_file_must_match_the_inventory(lab: Lab, pushed_file: Path) -> None:
    spec = StageSpec(push=pushed_file, pushed=Expected.of_file(pushed_file))
    refused(
        lab.run("stage", spec=spec),
        "bad input: spec: the pushed file does not match the inventory's package_size",
    )


def test_a_copy_needs_something_to_verify_it_against(lab: Lab) -> None:
    lab.set("groups", "SRX345.data.package_md5", DELETE)
    refused(
        lab.run("stage", spec=StageSpec(url="http://h/images/")),
        "bad input: spec: nothing to verify the copy against: no package_size and "
        "package_md5/package_sha256 in the inventory, no spec.pushed, no spec.published for "
        f"http://h/images/junos-srxsme-{TARGET}.tgz",
    )


# ------------------------------------------------------------------------------ the inventory


def _i(id: str, file: str, dotted: str, value: Any, expect: str) -> Any:
    return pytest.param(file, dotted, value, expect, id=id)


NODE0 = HOSTS["c1"]["connection_options"]["node0"]  # type: ignore[index]

INVENTORY = [
    _i(
        "group-package-semicolon",
        "groups",
        "SRX345.data.package",
        f"{PACKAGE};reboot",
        "data.package: '/var/tmp/junos-srxsme-24.2R2-S1.3.tgz;reboot' is not an absolute",
    ),
    _i(
        "group-package-other-release",
        "groups",
        "SRX345.data.package",
        f"/var/tmp/junos-srxsme-{OTHER}.tgz",
        f"data.package: installs {OTHER} (read from its name), not the target_release {TARGET}",
    ),
    _i(
        "host-release-not-package",
        "hosts",
        "c1.data.target_release",
        OTHER,
        f"data.package: installs {TARGET} (read from its name), not the target_release {OTHER}",
    ),
    _i(
        "release-banana",
        "groups",
        "SRX345.data.target_release",
        "banana",
        "data.target_release: 'banana' is not a Junos release",
    ),
    _i(
        "release-list",
        "groups",
        "SRX345.data.target_release",
        [TARGET],
        "data.target_release: must be a string, not list",
    ),
    _i(
        "package-list",
        "groups",
        "SRX345.data.package",
        [PACKAGE],
        "data.package: must be a string, not list",
    ),
    _i(
        "size-text",
        "groups",
        "SRX345.data.package_size",
        "12MB",
        "data.package_size: must be a whole number, not str '12MB'",
    ),
    _i(
        "size-negative",
        "groups",
        "SRX345.data.package_size",
        -1,
        "data.package_size: must be a number of bytes at least 0, not -1",
    ),
    _i(
        "md5-not-hex",
        "groups",
        "SRX345.data.package_md5",
        "x" * 32,
        "data.package_md5: must be 32 hex digits",
    ),
    _i(
        "sha256-short",
        "groups",
        "SRX345.data.package_sha256",
        "0" * 32,
        "data.package_sha256: must be 64 hex digits",
    ),
    _i(
        "package-url-semicolon",
        "groups",
        "SRX345.data.package_url",
        "http://h/images/;reboot",
        "data.package_url: 'http://h/images/;reboot' is not an ftp/http/https/scp URL",
    ),
    _i(
        "model-list",
        "groups",
        "SRX345.data.model",
        ["SRX345"],
        "data.model: must be a string, not list",
    ),
    _i(
        "host-key-check-text",
        "defaults",
        "data.host_key_check",
        "no",
        "data.host_key_check: must be true or false, not str 'no'",
    ),
    _i("known-hosts-blank", "defaults", "data.known_hosts", " ", "data.known_hosts: is blank"),
    _i(
        "timezone-unknown",
        "hosts",
        "c1.data.timezone",
        "Nowhere/Zone",
        "data.timezone: unknown time zone 'Nowhere/Zone'",
    ),
    _i(
        "timing-list", "defaults", "data.timing", [1, 2], "data.timing: must be a mapping, not list"
    ),
    _i(
        "timing-text",
        "hosts",
        "c1.data.timing",
        {"rpc_timeout": "fast"},
        "data.timing.rpc_timeout: must be a number, not str",
    ),
    _i(
        "timing-zero",
        "groups",
        "SRX345.data.timing",
        {"poll_interval": 0},
        "data.timing.poll_interval: must be greater than 0",
    ),
    _i(
        "timing-unknown-key",
        "groups",
        "SRX345.data.timing",
        {"rebot_deadline": 5},
        "data.timing.rebot_deadline: unknown key",
    ),
    _i(
        "timing-bool",
        "hosts",
        "c1.data.timing",
        {"rpc_timeout": True},
        "data.timing.rpc_timeout: must be a number, not bool",
    ),
    _i(
        "config-timing-zero",
        "config",
        "user_defined.timing",
        {"rpc_timeout": 0},
        "user_defined.timing.rpc_timeout: must be greater than 0",
    ),
    _i("username-blank", "defaults", "username", " ", "username: must not be blank"),
    _i("username-space", "defaults", "username", "a b", "username: must not contain spaces"),
    _i("password-list", "defaults", "password", ["s3cret-in-a-list"], "password: must be a string"),
    _i(
        "port-zero",
        "hosts",
        "c1.connection_options.node0.port",
        0,
        "connection_options.node0.port: must be a port 1..65535, not 0",
    ),
    _i(
        "port-text",
        "hosts",
        "c1.connection_options.node0.port",
        "830",
        "connection_options.node0.port: must be a whole number, not str",
    ),
    _i(
        "ports-differ",
        "hosts",
        "c1.connection_options.node1.port",
        1,
        "connection_options.node1.port: port 1 and extras.optional_args.port 10 differ",
    ),
    _i(
        "optional-port-big",
        "hosts",
        "c1.connection_options.node1.extras",
        {"optional_args": {"port": 70000}},
        "connection_options.node1.extras.optional_args.port: must be a port 1..65535",
    ),
    _i(
        "hostname-injection",
        "hosts",
        "c1.connection_options.node0.hostname",
        "10.0.0.1; reboot",
        "connection_options.node0.hostname: '10.0.0.1; reboot' is not an IP address or a host name",
    ),
    _i(
        "hostname-missing",
        "hosts",
        "c1.connection_options.node1",
        DELETE,
        "connection_options.node1.hostname: missing: each node needs its own address",
    ),
    _i(
        "node-username-blank",
        "hosts",
        "c1.connection_options.node0.username",
        " ",
        "connection_options.node0.username: must not be blank",
    ),
    _i(
        "node1-is-node0",
        "hosts",
        "c1.connection_options.node1",
        NODE0,
        "connection_options.node1: 127.0.0.1:9 is also node0's address: one box cannot be "
        "both nodes",
    ),
]


@pytest.mark.parametrize(("file", "dotted", "value", "expect"), INVENTORY)
def test_inventory_values(lab: Lab, file: str, dotted: str, value: Any, expect: str) -> None:
    lab.set(file, dotted, value)
    outcome = refused(lab.run("upgrade"), f"bad input: {expect}")
    assert "s3cret" not in outcome.detail  # a password is never shown


@pytest.mark.parametrize("job", sorted(TASKS))
def test_every_task_checks_the_inventory(lab: Lab, job: str) -> None:
    # GIVEN the model group's package names a command, WHEN any of the six tasks runs
    lab.set("groups", "SRX345.data.package", f"{PACKAGE};reboot")
    result = lab.run(job)
    expect = "bad input: data.package: "
    # THEN each refuses it, in its own result type
    if job == "status":
        summary = result.result
        assert isinstance(summary, ClusterSummary) and result.failed
        assert summary.refused and summary.state == "unknown" and not summary.healthy
        assert summary.findings[0].startswith(expect)
    elif job == "snapshot":
        assert result.failed and str(result.result).startswith(expect)
    else:
        refused(result, expect)


@pytest.mark.parametrize(
    "name", ["../x", ".hidden", "a b", "c1\nc2"], ids=["dotdot", "hidden", "space", "newline"]
)
def test_a_cluster_name_must_be_safe_for_file_names(lab: Lab, name: str) -> None:
    lab.files["hosts"] = {name: lab.files["hosts"]["c1"]}
    refused(lab.run("recover"), "is not safe for file names")


def test_every_problem_is_listed_the_first_named(lab: Lab) -> None:
    lab.set("hosts", "c1.connection_options.node0.port", 0)
    lab.set("defaults", "data.timing", [1])
    outcome = refused(lab.run("upgrade", no_sync="yes"), "bad input: no_sync: ")
    assert outcome.detail.endswith("(and 2 more)")
    problems = outcome.extra["problems"]
    assert len(problems) == 3
    assert any("connection_options.node0.port" in p for p in problems)


# ------------------------------------------------------------------------------ before the rules


def test_no_credentials_is_bad_input_and_nothing_is_journaled(lab: Lab) -> None:
    lab.set("defaults", "username", DELETE)
    nr = lab.nornir()
    result = nr.run(task=srx_upgrade)["c1"][0]
    refused(result, "bad input: no credentials: set JUNOS_USERNAME and JUNOS_PASSWORD")
    assert nr.inventory.hosts["c1"].connections == {}
    assert not (lab.state / "journal" / "c1.jsonl").exists()
    assert not list((lab.state / "locks").glob("*"))


def test_a_relative_state_dir_is_bad_input(lab: Lab) -> None:
    nr = lab.nornir()
    nr.config.user_defined["state_dir"] = "state"
    result = nr.run(task=srx_abort)["c1"][0]
    refused(result, "bad input: state_dir 'state' is relative")


def test_status_through_a_plain_init_nornir_with_a_relative_state_dir_is_bad_input(
    lab: Lab, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a user's own script: nornir's InitNornir (not tasks.init_nornir), state_dir
    # relative as in the shipped config.yaml
    lab.nornir()  # writes the inventory files
    config = yaml.safe_load((lab.root / "config.yaml").read_text())
    config["user_defined"]["state_dir"] = "state"
    config["inventory"] = {
        "plugin": "SimpleInventory",
        "options": {
            "host_file": str(lab.root / "hosts.yaml"),
            "group_file": str(lab.root / "groups.yaml"),
            "defaults_file": str(lab.root / "defaults.yaml"),
        },
    }
    (lab.root / "plain.yaml").write_text(yaml.safe_dump(config))
    monkeypatch.chdir(tmp_path)
    nr = InitNornir(config_file=str(lab.root / "plain.yaml"))
    # WHEN status runs over it
    result = nr.run(task=srx_status)["c1"][0]
    # THEN the refusal is said as one (state unknown, "bad input: ..."), never a device state
    summary = result.result
    assert result.failed and isinstance(summary, ClusterSummary)
    assert summary.state == "unknown" and summary.state != "unreachable"
    assert summary.refused
    assert summary.findings == (
        "bad input: state_dir 'state' is relative: load the config with tasks.init_nornir() "
        "(which resolves it against the config file) or give an absolute path",
    )
    assert not (tmp_path / "state").exists()  # nothing written where the script ran


@pytest.mark.parametrize(
    ("variable", "value", "expect"),
    [
        ("JUNOS_USERNAME", "", "bad input: JUNOS_USERNAME is set but blank"),
        ("JUNOS_USERNAME", " ", "bad input: JUNOS_USERNAME is set but blank"),
        ("JUNOS_PASSWORD", "", "bad input: JUNOS_PASSWORD is set but empty"),
    ],
)
def test_blank_credentials_in_the_environment_are_named_by_the_tasks_too(
    lab: Lab, monkeypatch: pytest.MonkeyPatch, variable: str, value: str, expect: str
) -> None:
    monkeypatch.setenv(variable, value)
    refused(lab.run("upgrade"), expect)
    summary = lab.run("status").result
    assert summary.state == "unknown" and summary.findings[0].startswith(expect)


# ------------------------------------------------------------------------------ a run's context


@dataclasses.dataclass
class Recorder:
    """Stands in for a run's journal, locks, gate and sink: records what reached it."""

    calls: list[tuple[str, Any]] = dataclasses.field(default_factory=list)

    def __getattr__(self, name: str) -> Callable[..., Any]:
        if name.startswith("__"):
            raise AttributeError(name)
        return lambda *args, **kwargs: self.calls.append((name, args))


def test_a_given_run_context_hears_the_refusal_and_nothing_is_locked(lab: Lab) -> None:
    journal, locks, gate, sink = Recorder(), Recorder(), Recorder(), Recorder()
    context = RunContext("r1", lab.state, journal, locks, gate, sink)  # type: ignore[arg-type]
    result = lab.run("upgrade", context=context, restore_primary="node9")
    refused(result, "bad input: restore_primary: unknown node 'node9'")
    assert journal.calls == [] and locks.calls == []
    assert gate.calls == [("record", ("failed",))]
    ((kind, (cluster, outcome, event)),) = sink.calls
    assert (kind, cluster, outcome.outcome) == ("finished", "c1", "failed")
    assert event.data["detail"].startswith("bad input: restore_primary: ")


# ------------------------------------------------------------------------------ the rule tables


@pytest.mark.parametrize("job", sorted(TASKS))
def test_every_keyword_argument_has_a_rule(job: str) -> None:
    params = inspect.signature(TASKS[job]).parameters
    keywords = [p for p in params.values() if p.kind is inspect.Parameter.KEYWORD_ONLY]
    assert keywords, job
    for p in keywords:
        assert p.name in ARGUMENT_RULES or p.name in OVERRIDE + STAGE_ARGUMENTS, p.name


def test_every_stage_spec_field_has_a_rule() -> None:
    assert [f.name for f in dataclasses.fields(StageSpec)] == list(STAGE_RULES)


def test_good_input_passes_every_rule(lab: Lab, pushed_file: Path) -> None:
    # The rules refuse what is wrong, not what the CLI would accept.
    lab.set("groups", "SRX345.data.package_url", "ftp://ops:pw@images.example/junos/")
    lab.set("hosts", "c1.data.timezone", "Europe/Zurich")
    nr = lab.nornir()
    host = nr.inventory.hosts["c1"]
    task = type("T", (), {"host": host, "nornir": nr})()
    url = f"https://images.example:8443/junos/junos-srxsme-{TARGET}.tgz"
    good = [
        {"task": task},
        {"task": task, "target_release": OTHER, "package": f"/var/tmp/junos-srxsme-{OTHER}.tgz"},
        {"task": task, "target_release": TARGET, "package": url, "stage": None},
        {"task": task, "no_sync": True, "restore_primary": "node1", "allow_alarms": ("PEM \\d",)},
        {"task": task, "stage": StageSpec(nodes="both", cleanup=True, min_rate_mbps=0.5)},
        {"task": task, "spec": None, "target_release": None, "package": None},
        {"task": task, "spec": StageSpec(push=pushed_file, nodes="both")},
        {"task": task, "dry_run": None},  # Nornir's own dry_run
        {"task": task, "dry_run": True, "no_recover": False},
    ]
    for arguments in good:
        check_call(task, arguments)  # type: ignore[arg-type]


def test_a_refusal_lists_every_problem() -> None:
    from tasks.input_rules import Problem

    exc = InputRefused([Problem("", "one", "a"), Problem("", "two", "b")])
    assert exc.message == "a: one (and 1 more)" and exc.problems == ["a: one", "b: two"]


# ------------------------------------------------------------------------------ the CLI agrees


@pytest.fixture
def workspace(tmp_path: Path) -> Workspace:
    from tests.unit.tasks.test_input_corpus import write_base

    return Workspace(tmp_path / "ws", ROOT / "config.yaml", write_base(tmp_path / "base"))


@pytest.fixture
def _quiet() -> Iterator[None]:
    names = ("ncclient", "paramiko", "jnpr", "napalm", "nornir")
    levels = {n: logging.getLogger(n).level for n in names}
    yield
    for name, level in levels.items():
        logging.getLogger(name).setLevel(level)


@pytest.mark.usefixtures("_quiet")
@pytest.mark.parametrize(
    "case",
    [
        Case(
            "from-url-semicolon",
            "--from: 'http://h/images/;reboot' is not an ftp/http/https/scp URL",
            ("stage", "--dry-run", "--from", "http://h/images/;reboot"),
        ),
        Case(
            "upgrade-stage-from-file-url",
            "--from: 'file:///var/tmp/' is not an ftp/http/https/scp URL",
            ("upgrade", "--dry-run", "--stage", "--from", "file:///var/tmp/"),
        ),
        Case(
            "allow-alarm-bad-regex",
            "--allow-alarm: 'PEM [0-9' is not a regular expression",
            ("upgrade", "--dry-run", "--allow-alarm", "ok", "--allow-alarm", "PEM [0-9"),
        ),
        Case(
            "inv-package-url-semicolon",
            "groups.yaml: group SRX345: data.package_url: 'http://h/;reboot' is not",
            sets=(("groups", "SRX345.data.package_url", "http://h/;reboot"),),
        ),
    ],
    ids=lambda c: c.id,
)
def test_the_cli_refuses_the_same(
    case: Case, workspace: Workspace, capsys: pytest.CaptureFixture[str]
) -> None:
    run_case(case, workspace, capsys)


def test_the_tripwire_sees_a_task_that_does_connect(lab: Lab, tripwire: list[Any]) -> None:
    # The same set-up with good input does try to reach the nodes: what the tests above
    # assert (no session opened) would have been seen.
    nr = lab.nornir()
    result = nr.run(task=srx_status)["c1"][0]
    assert isinstance(result.result, ClusterSummary) and not result.result.refused
    assert tripwire == ["127.0.0.1", "127.0.0.1"]
    tripwire.clear()


def test_the_rules_read_the_inventory_as_nornir_resolves_it(lab: Lab) -> None:
    from tasks.input_rules import DATA_KEYS, resolved_data

    # GIVEN values set at every level: host (one of them None), nested groups, defaults
    lab.files["groups"]["site"] = {"data": {"timezone": "Europe/Zurich", "model": "SRX300"}}
    lab.files["groups"]["SRX345"]["groups"] = ["site"]
    lab.files["groups"]["other"] = {"data": {"model": "SRX380", "package_url": "http://h/"}}
    lab.set("hosts", "c1.groups", ["SRX345", "other"])
    lab.set("hosts", "c1.data.package_md5", None)
    lab.set("defaults", "data.known_hosts", "/kh")
    lab.set("defaults", "data.package_sha256", "0" * 64)
    host = lab.nornir().inventory.hosts["c1"]
    # THEN the rules see what Host.get gives each key
    wanted = {k: host.get(k) for k in DATA_KEYS if host.get(k) is not None}
    assert resolved_data(host, DATA_KEYS) == wanted
    assert wanted["model"] == "SRX345" and wanted["timezone"] == "Europe/Zurich"
    assert "package_md5" not in wanted and wanted["package_url"] == "http://h/"
