"""The dual reboot's decisions, without a device: what the journal says is under way, which
way a cluster takes, when it is refused, how hops are reported, what status calls it."""

from __future__ import annotations

from typing import Any

from tasks.events import EventKind
from tasks.plans.cluster_status import summarize
from tasks.plans.dual_reboot import commands, dual_words, progress
from tasks.plans.hops import way, with_hops
from tasks.state.run_context import Outcome
from tasks.state.settings import Target
from tests.factories import cluster, node

HOP, TARGET = "24.4R1.9", "25.2R1.9"
PKG = "/var/tmp/junos-srxsme-24.4R1.9.tgz"
PACKAGES = {HOP: PKG, TARGET: "/var/tmp/junos-srxsme-25.2R1.9.tgz"}


def rec(event: EventKind, run: str = "r1", **data: Any) -> dict[str, Any]:
    return {"event": str(event), "run_id": run, "ts": 1.0, **data}


def install(node_name: str, run: str = "r1") -> dict[str, Any]:
    return rec(EventKind.COMMAND, run, dual="install", node=node_name, release=HOP, package=PKG)


def test_progress_reads_installs_their_evidence_and_the_reboot_from_the_journal() -> None:
    history = [
        install("node1"),
        rec(EventKind.DUAL_VERIFIED, step="install", node="node1", release=HOP),
        install("node0", "r2"),
    ]
    prog = progress(history)
    assert prog.active and prog.release == HOP and prog.package == PKG
    assert prog.sent == {"node1": "r1", "node0": "r2"} and prog.installed == {"node1": HOP}
    assert prog.reboot is None
    reboot = rec(EventKind.COMMAND, dual="reboot", nodes=["node0", "node1"], boot_before={})
    assert progress([*history, reboot]).reboot == reboot
    # a dual reboot that ended (verified, refused and cancelled, ...) is no longer under way
    assert not progress([*history, reboot, rec(EventKind.DUAL_ENDED, how="verified")]).active
    # an ICU's command record is not a dual reboot's
    assert not progress([rec(EventKind.COMMAND, command="request system reboot")]).active


def test_a_refused_install_is_remembered_with_the_devices_words() -> None:
    refused = rec(EventKind.DUAL_VERIFIED, step="install", node="node1", refused="ERROR: x")
    assert progress([install("node1"), refused]).refused == {"node1": "ERROR: x"}


def test_the_way_needs_a_dual_reboot_only_across_24_4r1_on_srx300() -> None:
    target = Target(TARGET, PACKAGES[TARGET])
    hops, refusal = way(cluster(), target, PACKAGES, progress([]))
    assert refusal is None
    assert [(h.method, h.to) for h in hops] == [("dual-reboot", HOP), ("icu", TARGET)]
    # one ICU hop (or none documented): today's upgrade decides, so no way is returned
    assert way(cluster(), Target("24.2R2-S1.3", "/p.tgz"), PACKAGES, progress([])) == ([], None)
    assert way(cluster(), target, {TARGET: "/p.tgz"}, progress([])) == ([], None)  # no 24.4R1
    split = cluster(n1=node("node1", "24.2R2-S1.3"))
    assert way(split, target, PACKAGES, progress([])) == ([], None)  # the pre-checks say why
    # a dual reboot under way is the first hop, whatever the cluster runs now
    resumed, _ = way(cluster(), target, PACKAGES, progress([install("node1")]))
    assert [(h.method, h.to) for h in resumed] == [("dual-reboot", HOP), ("icu", TARGET)]


def test_the_way_by_a_method_or_why_that_method_refuses() -> None:
    target = Target(TARGET, PACKAGES[TARGET])
    hops, refusal = way(cluster(), target, PACKAGES, progress([]), "dual-reboot")
    assert refusal is None and [h.method for h in hops] == ["dual-reboot", "dual-reboot"]
    hops, refusal = way(cluster(), target, PACKAGES, progress([]), "icu")
    assert hops == [] and refusal is not None and refusal.startswith("--method icu:")
    hops, refusal = way(cluster(), target, PACKAGES, progress([]), "minimal-downtime")
    assert hops == [] and refusal is not None and "Follow KB17947 by hand" in refusal
    # a dual reboot under way is finished by auto or dual-reboot only
    hops, refusal = way(cluster(), target, PACKAGES, progress([install("node1")]), "icu")
    assert hops == [] and refusal is not None and "`recover` it first" in refusal
    # on the target already: nothing to refuse, the pre-checks say skipped
    running = str(cluster().versions["node0"])
    on = Target(running, "/p.tgz")
    assert way(cluster(), on, PACKAGES, progress([]), "dual-reboot") == ([], None)


def test_a_two_hop_outcome_names_each_hop() -> None:
    first = {"hop": 1, "of": 1, "method": "dual-reboot", "to": HOP, "outcome": "ok", "detail": "x"}
    last = Outcome("ok", "healthy", {}, "both nodes on 25.2R1.9", {})
    out = with_hops(last, [first], "icu", TARGET)
    assert out.detail.startswith("hop 1/2 dual-reboot to 24.4R1.9: ok; hop 2/2 icu to 25.2R1.9:")
    assert [h["hop"] for h in out.extra["hops"]] == [1, 2]
    assert [h["of"] for h in out.extra["hops"]] == [2, 2]
    alone = Outcome("ok", "healthy", {}, "d", {})
    assert with_hops(alone, [], "icu", TARGET).detail == "d"  # one hop: today's words
    assert "hops" not in alone.extra
    single = with_hops(Outcome("ok", "healthy", {}, "d", {}), [], "dual-reboot", HOP)
    assert single.detail == "d" and single.extra["hops"][0]["method"] == "dual-reboot"


def test_the_commands_install_on_each_node_then_reboot_both() -> None:
    sent = commands(PKG)
    assert sent[0].startswith(f"request system software add {PKG} no-copy")
    assert "secondary" in sent[0] and "primary" in sent[1]
    assert sent[2].startswith("request system reboot")


def test_status_calls_a_dual_reboots_two_pending_installs_pending_install() -> None:
    both = cluster(node("node0", pending="p"), node("node1", pending="p"))
    assert summarize(both).state == "icu-in-progress"  # what the device alone suggests
    words = dual_words([install("node0"), install("node1")])
    assert words is not None and "recover" in words
    summary = summarize(both, dual=words)
    assert summary.state == "pending-install" and summary.findings[0] == words
    assert dual_words([]) is None
