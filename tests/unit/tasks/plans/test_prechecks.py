"""The pre-check table: each check on its own, and the table's stop rules."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from tasks.device.readings import (
    Alarm,
    ClusterLinks,
    ClusterStatus,
    FileInfo,
    Filesystem,
    NodeSoftware,
    NodeView,
    RedundancyGroup,
    RgMember,
)
from tasks.errors import SessionLost
from tasks.plans import prechecks as pc
from tasks.state.settings import Target
from tests.factories import NEW, OLD, cluster, node, status

PKG = f"/var/tmp/junos-srxsme-{NEW}.tgz"
GIB = 1 << 30


@dataclass
class FakeRpc:
    """The primary's read-only RPCs, as the package checks use them."""

    files: dict[str, int] = field(default_factory=lambda: {PKG: 1000})
    digest: str = "ab" * 16
    free: dict[str, int] = field(default_factory=lambda: {"node0": GIB, "node1": GIB})
    links: ClusterLinks = field(default_factory=lambda: ClusterLinks("up", "up"))
    active: list[Alarm] = field(default_factory=list)
    calls: list[str] = field(default_factory=list)

    def cluster_links(self) -> ClusterLinks:
        self.calls.append("cluster-interfaces")
        return self.links

    def alarms(self) -> list[Alarm]:
        self.calls.append("alarms")
        return self.active

    def file_info(self, path: str) -> FileInfo | None:
        self.calls.append("file-list")
        return FileInfo(path, self.files[path]) if path in self.files else None

    def checksum(self, path: str, algorithm: str = "md5") -> str:
        self.calls.append(algorithm)
        return self.digest

    def storage(self) -> dict[str, list[Filesystem]]:
        self.calls.append("storage")
        return {n: [Filesystem(n, "/dev/gpt/junos", "/.mount", b)] for n, b in self.free.items()}


def facts(view=None, target=None, rpc=None, **learned) -> pc.Facts:  # type: ignore[no-untyped-def]
    f = pc.Facts(view or cluster(), target or Target(NEW, PKG), lambda node: rpc or FakeRpc())
    for key, value in learned.items():
        setattr(f, key, value)
    return f


def test_table_order_is_the_documented_one() -> None:
    assert [name for name, _ in pc.PRECHECKS] == [
        "reachable",
        "cluster-enabled",
        "no-icu-running",
        "same-release",
        "already-on-target",
        "no-pending-install",
        "cluster-healthy",
        "rg0-primary",
        "cluster-links",
        "no-major-alarms",
        "rg-placement",
        "model-supports-icu",
        "path-rules",
        "package-present",
        "package-md5",
        "package-sha256",
        "free-space",
    ]


def test_reachable_names_the_unreachable_node_and_why() -> None:
    assert pc.reachable(facts()).passed
    found = pc.reachable(facts(cluster(n1=node("node1", reachable=False))))
    assert not found.passed and "node1: ConnectRefusedError" in found.evidence
    error = "authentication failed for ops on node1 (10.0.0.2:830)"
    refused = NodeView("node1", False, error=error, auth_failed=True)
    assert pc.reachable(facts(cluster(n1=refused))).evidence == error


def test_cluster_enabled() -> None:
    off = NodeView(
        "node1", True, software=NodeSoftware("node1", "fw", "SRX345", OLD), clustered=False
    )
    found = pc.cluster_enabled(facts(cluster(n1=off)))
    assert not found.passed and "node1" in found.evidence
    assert pc.cluster_enabled(facts()).passed


def test_cluster_enabled_keeps_the_device_words() -> None:
    words = "error: Chassis cluster is not enabled"
    software = NodeSoftware("node1", "fw", "SRX345", OLD)
    off = NodeView("node1", True, software=software, clustered=False, cluster_words=words)
    found = pc.cluster_enabled(facts(cluster(n1=off)))
    assert found.evidence == f"chassis cluster is not enabled on node1 (device: {words})"


def test_no_icu_running_reads_the_device() -> None:
    busy = cluster(node("node0", pending="p"), node("node1", pending="p"))
    found = pc.no_icu_running(facts(busy))
    assert not found.passed and "installs pending on both nodes" in found.evidence
    assert pc.no_icu_running(facts()).passed


def test_same_release() -> None:
    assert pc.same_release(facts()).passed
    found = pc.same_release(facts(cluster(n1=node("node1", NEW))))
    assert not found.passed and NEW in found.evidence


def test_already_on_target_ends_the_list_or_does_not_apply() -> None:
    assert pc.already_on_target(facts()) is None
    on = cluster(node("node0", NEW), node("node1", NEW))
    found = pc.already_on_target(facts(on))
    assert found is not None and found.passed and found.on_target


def test_no_pending_install_and_cluster_healthy() -> None:
    pending = cluster(n1=node("node1", pending="install pending"))
    assert not pc.no_pending_install(facts(pending)).passed
    st = status(failures=("IF",))  # as the RG0 primary reports it
    sick = cluster(node("node0", st=st), node("node1", st=st))
    found = pc.cluster_healthy(facts(sick))
    assert not found.passed and "monitor failures IF" in found.evidence
    assert pc.cluster_healthy(facts()).passed


def test_rg0_primary_learns_the_primary_and_its_model() -> None:
    f = facts(cluster(node("node0", st=status("node1")), node("node1", st=status("node1"))))
    assert pc.rg0_primary(f).passed and (f.primary, f.model) == ("node1", "SRX345")


@pytest.mark.parametrize(
    ("model", "passed", "words"),
    [
        ("SRX345", True, "branch SRX, ICU (no-sync)"),
        ("SRX4200", True, "high-end, ISSU with 'reboot'"),
        ("SRX1600", True, "high-end, ISSU with 'reboot'"),
        ("VSRX", False, "no in-service upgrade documented (not documented;"),
        ("SRX4600", False, "not documented; --allow-undocumented-path"),
    ],
)
def test_model_supports_icu(model: str, passed: bool, words: str) -> None:
    found = pc.model_supports_icu(facts(model=model))
    assert found.passed is passed and words in found.evidence, found


def test_path_rules() -> None:
    assert pc.path_rules(facts(model="SRX345")).passed
    to_244 = Target("24.4R1.9", "/var/tmp/junos-srxsme-24.4R1.9.tgz")
    found = pc.path_rules(facts(target=to_244, model="SRX340"))
    assert not found.passed and "24.4R1" in found.evidence and "icu-to-24.4R1" in found.evidence
    assert pc.path_rules(facts(target=to_244, model="SRX4200")).passed
    # judged from the running release: across 24.4R1 refused, from 24.4R1 on allowed
    to_252 = Target("25.2R1.9", "/var/tmp/junos-srxsme-25.2R1.9.tgz")
    across = pc.path_rules(facts(target=to_252, model="SRX345"))
    assert not across.passed and "across 24.4R1" in across.evidence
    on_244 = cluster(node("node0", "24.4R1.9"), node("node1", "24.4R1.9"))
    assert pc.path_rules(facts(on_244, target=to_252, model="SRX345")).passed


def test_an_undocumented_path_goes_only_with_the_override_and_says_so() -> None:
    refused = pc.path_rules(facts(model="SRX4600"))
    assert not refused.passed and "--allow-undocumented-path" in refused.evidence
    allowed = pc.path_rules(facts(model="SRX4600", allow_undocumented=True))
    assert allowed.passed and "allowed by --allow-undocumented-path" in allowed.evidence
    # a documented refusal is never overridden
    to_244 = Target("24.4R1.9", "/var/tmp/junos-srxsme-24.4R1.9.tgz")
    assert not pc.path_rules(facts(target=to_244, model="SRX345", allow_undocumented=True)).passed


def test_package_present_size_and_remote() -> None:
    f = facts(primary="node0")
    assert pc.package_present(f).passed and f.package_size == 1000
    wrong = facts(target=Target(NEW, PKG, size=999), primary="node0")
    found = pc.package_present(wrong)
    assert not found.passed and "expected 999" in found.evidence
    missing = pc.package_present(facts(rpc=FakeRpc(files={}), primary="node0"))
    assert not missing.passed and "not found on node0" in missing.evidence
    remote = facts(target=Target(NEW, "ftp://u:p@h/junos.tgz", size=5), primary="node0")
    assert pc.package_present(remote).passed and remote.package_size == 5


def test_checksums_apply_only_when_the_inventory_gives_them() -> None:
    md5, sha = dict(pc.PRECHECKS)["package-md5"], dict(pc.PRECHECKS)["package-sha256"]
    assert md5(facts(primary="node0")) is None
    good = facts(target=Target(NEW, PKG, md5="AB" * 16), primary="node0")
    found = md5(good)
    assert found is not None and found.passed
    bad = sha(facts(target=Target(NEW, PKG, sha256="cd" * 32), primary="node0"))
    assert bad is not None and not bad.passed and "expected" in bad.evidence


def test_free_space_needs_twice_the_package_on_both_nodes() -> None:
    rpc = FakeRpc(free={"node0": 5000, "node1": 1500})
    found = pc.free_space(facts(rpc=rpc, primary="node0", package_size=1000))
    assert not found.passed and "need 2000" in found.evidence and "node1 1500" in found.evidence
    assert pc.free_space(facts(primary="node0", package_size=1000)).passed
    assert pc.free_space(facts(primary="node0")).evidence.startswith("not checked")


def test_table_stops_at_the_first_failure_and_reports_each_check() -> None:
    seen: list[str] = []
    rpc = FakeRpc(files={})
    pre = pc.run_prechecks(facts(rpc=rpc), lambda c: seen.append(c.name))
    assert [c.name for c in pre.failed] == ["package-present"]
    assert seen[-1] == "package-present" and "free-space" not in seen
    # nothing read after the failure
    assert rpc.calls == ["cluster-interfaces", "alarms", "file-list"]
    assert (pre.primary, pre.model, pre.already_on_target) == ("node0", "SRX345", False)


def test_table_on_target_ends_with_nothing_to_do() -> None:
    pre = pc.run_prechecks(facts(cluster(node("node0", NEW), node("node1", NEW))))
    assert pre.already_on_target and not pre.failed
    assert pre.checks[-1].name == "already-on-target"


def test_a_read_that_fails_is_a_failed_check_not_a_pass() -> None:
    class Lost(FakeRpc):
        def storage(self) -> dict[str, list[Filesystem]]:
            raise SessionLost("no reply to get-system-storage within 10s")

    pre = pc.run_prechecks(facts(rpc=Lost()))
    assert pre.failed[0].name == "free-space"
    assert "could not read: no reply" in pre.failed[0].evidence


# ---------------------------------------------------------------- ICU prerequisites


@pytest.mark.parametrize(
    ("links", "passed", "words"),
    [
        (ClusterLinks("up", "up", {"em0": "up"}), True, "control link up, fabric link up"),
        (ClusterLinks("down", "up", {"em0": "down"}), False, "control link down"),
        (
            ClusterLinks("up", "down", {}, {"ge-0/0/2": "up / down"}),
            False,
            "fabric link down (ge-0/0/2 up / down)",
        ),
        (ClusterLinks("", "", {}), False, "control link unknown"),
        (
            ClusterLinks("", "", words="error: Chassis cluster is not enabled"),
            False,
            "chassis cluster is not enabled (device: error: Chassis cluster is not enabled)",
        ),
        (
            ClusterLinks("", "", words="error: jsrpd is not running"),
            False,
            "control link unknown, fabric link unknown (device: error: jsrpd is not running)",
        ),
    ],
)
def test_cluster_links(links: ClusterLinks, passed: bool, words: str) -> None:
    found = pc.cluster_links(facts(rpc=FakeRpc(links=links), primary="node0"))
    assert found.passed is passed and words in found.evidence


def test_major_alarm_fails_minor_is_listed_and_allowed_ones_pass() -> None:
    major = Alarm("node1", "Major", "FPC 0 Hard errors", "chassis")
    minor = Alarm("node0", "Minor", "Rescue configuration is not set", "system")
    found = pc.no_major_alarms(facts(rpc=FakeRpc(active=[major, minor]), primary="node0"))
    assert not found.passed and "node1 chassis Major: FPC 0 Hard errors" in found.evidence
    assert "minor (not fatal): node0 system Minor: Rescue" in found.evidence
    only_minor = pc.no_major_alarms(facts(rpc=FakeRpc(active=[minor]), primary="node0"))
    assert only_minor.passed and "Rescue" in only_minor.evidence
    allowed = facts(rpc=FakeRpc(active=[major]), primary="node0", allow_alarms=("Hard errors",))
    found = pc.no_major_alarms(allowed)
    assert found.passed and "allowed: node1 chassis Major" in found.evidence
    assert pc.no_major_alarms(facts(primary="node0")).evidence == "no active alarms on either node"


def _rg1_on(node_name: str) -> ClusterStatus:
    other = "node1" if node_name == "node0" else "node0"
    rg0 = RedundancyGroup(
        0, 1, (RgMember("node0", 200, "primary", False, False, ()),
               RgMember("node1", 100, "secondary", False, False, ()))
    )  # fmt: skip
    members = {node_name: "primary", other: "secondary"}
    rg1 = RedundancyGroup(
        1, 2, tuple(RgMember(n, 100, members[n], True, False, ()) for n in ("node0", "node1"))
    )
    return ClusterStatus(1, (rg0, rg1))


def test_rg_placement_refuses_a_split_cluster_unless_align_rgs() -> None:
    split = cluster(node("node0", st=_rg1_on("node1")), node("node1", st=_rg1_on("node1")))
    f = facts(split, primary="node0")
    found = pc.rg_placement(f)
    assert not found.passed and "RG1 not primary on node0" in found.evidence
    assert "--align-rgs" in found.evidence and f.misplaced == [1]
    f = facts(split, primary="node0", align_rgs=True)
    found = pc.rg_placement(f)
    assert found.passed and "aligned before the ICU" in found.evidence and f.misplaced == [1]
    assert pc.rg_placement(facts(primary="node0")).passed
