"""upgrade, the real job against in-process clusters in virtual time (tests/inprocess.py): each
pre-check failing on its own cluster, each fault during the ICU, the RG placement after it,
and an unreadable reply. The SSH tier keeps the fleet, the exact RPC plan, signals and
resumes over the real stack (tests/e2e/test_upgrade_e2e.py)."""

from __future__ import annotations

from typing import Any

import pytest

from tasks.jobs import srx_upgrade
from tests.inprocess import ICU, NEW

FAILOVER = "request-chassis-cluster-failover"

PRECHECK_FAILURES = [
    ({"faults": ["package-missing"]}, "package-present", "failed"),
    ({"faults": ["disk-full"]}, "free-space", "failed"),
    ({"faults": ["version-mismatch"]}, "same-release", "failed"),
    ({"faults": ["rg-unhealthy"]}, "cluster-healthy", "failed"),
    ({"state": "pending-install"}, "no-pending-install", "failed"),
    ({"state": "upgraded"}, "already-on-target", "skipped"),
    ({"faults": ["package-corrupt"]}, "package-md5", "failed"),
    # file-list shows the package path as a symlink (<file-symlink-target>): not a package
    ({"faults": ["package-symlink"]}, "package-present", "failed"),
    ({"faults": ["control-link-down"]}, "cluster-links", "failed"),
    ({"faults": ["fabric-link-down"]}, "cluster-links", "failed"),
    ({"faults": ["major-alarm"]}, "no-major-alarms", "failed"),
]


def test_each_precheck_fails_on_its_own_cluster_and_nothing_reaches_it(rig: Any) -> None:
    bad = [{"name": f"bad-{i}", **spec} for i, (spec, _, _) in enumerate(PRECHECK_FAILURES)]
    r = rig(*bad, {"name": "good-1"})
    outcomes = r.run_all(srx_upgrade)
    for i, (_, check, outcome) in enumerate(PRECHECK_FAILURES):
        c = outcomes[f"bad-{i}"]
        assert c.outcome == outcome, (check, c)
        named = {x["name"]: x for x in c.extra["checks"]}
        assert check in named, (check, c.extra["checks"])
        if outcome == "failed":
            assert named[check]["passed"] is False and check in c.detail
        assert r.destructive(f"bad-{i}") == []
    assert outcomes["good-1"].outcome == "ok"


@pytest.mark.parametrize(
    ("fault", "outcome", "words"),
    [
        ("session-drop", "ok", None),
        ("rpc-silent", "ok", None),
        ("validation-fails", "failed", "ICU refused"),
        ("reboot-hangs", "failed", "secondary-rebooting"),
        ("icu-fails", "failed", "install on node1 failed"),
    ],
)
def test_faults_during_the_icu_end_as_documented_with_one_icu(
    rig: Any, fault: str, outcome: str, words: str | None
) -> None:
    r = rig({"name": "c1", "faults": [fault]})
    c = r.run(srx_upgrade, "c1")
    assert c.outcome == outcome, c
    if words:
        assert words in f"{c.detail} {c.extra.get('phase')}", c
    assert r.destructive("c1") == [("node0", ICU)]  # never retried


def test_restore_primary_fails_every_rg_back_and_resets(rig: Any) -> None:
    r = rig({"name": "c1"})
    c = r.run(srx_upgrade, "c1", restore_primary="node0")
    assert c.outcome == "ok" and "every RG primary on node0 (held)" in c.detail, c
    assert r.releases("c1") == {"node0": NEW, "node1": NEW}
    rgs = r.truth("c1")["rgs"]
    assert {rg["primary"] for rg in rgs.values()} == {"node0"}
    assert not any(rg["manual"] for rg in rgs.values())
    # after the ICU the upgraded node1 holds RG0 (RG1 preempts back by itself): RG0 only,
    # sent to its primary, then the manual flag reset on the node that now holds it
    moves = r.lab.sent("c1", FAILOVER, f"{FAILOVER}-reset")
    assert [(m["node"], m["rpc"], m["args"]) for m in moves] == [
        ("node1", FAILOVER, {"redundancy-group": "0", "node": "0"}),
        ("node0", f"{FAILOVER}-reset", {"redundancy-group": "0"}),
    ]


def test_restore_primary_against_preempt_is_refused_up_front_and_not_sticky(rig: Any) -> None:
    # the lab's priorities: node0 200 / node1 100 in both RGs, preempt on RG1 only
    r = rig({"name": "c1"})
    for dry_run in (True, False):
        c = r.run(srx_upgrade, "c1", restore_primary="node1", dry_run=dry_run)
        assert c.outcome == "refused", c
        assert "RG1 has preempt" in c.detail and "200 over 100" in c.detail, c
        assert "refused before the ICU, nothing sent" in c.detail, c
    assert r.destructive("c1") == []
    # without the flag the same cluster upgrades; asked again once there, nothing is sent
    assert r.run(srx_upgrade, "c1").outcome == "ok"
    assert r.run(srx_upgrade, "c1", restore_primary="node1").outcome == "skipped"
    assert r.destructive("c1") == [("node0", ICU)]
    # RG1 went back to node0 by preempt after the ICU; RG0 stays where the ICU left it
    rgs = r.truth("c1")["rgs"]
    assert {rg: v["primary"] for rg, v in rgs.items()} == {"0": "node1", "1": "node0"}


def test_a_garbled_reply_is_read_again_not_an_internal_error(rig: Any) -> None:
    # the first storage reply arrives cut in half (framed, unparseable)
    r = rig({"name": "c1", "faults": ["reply-garbled"]})
    c = r.run(srx_upgrade, "c1")
    assert c.outcome == "ok", c
    assert len(r.lab.sent("c1", "get-system-storage")) >= 2  # the garbled one, read again
    checks = [e for e in r.journal("c1") if e.get("event") == "check"]
    assert any(
        "could not read: unreadable reply to get-system-storage" in str(e.get("evidence"))
        for e in checks
    ), checks
    assert r.destructive("c1") == [("node0", ICU)]


def test_a_service_lost_after_the_upgrade_is_not_ok(rig: Any) -> None:
    # one cluster whose second tunnel, one whose reth1 does not come back, one healthy
    r = rig(
        {"name": "tunnel", "faults": ["tunnel-lost-after-upgrade"]},
        {"name": "reth", "faults": ["interface-down-after-upgrade"]},
        {"name": "good"},
    )
    outcomes = r.run_all(srx_upgrade)
    good, tunnel, reth = (outcomes[n] for n in ("good", "tunnel", "reth"))
    assert good.outcome == "ok" and "services back" in good.detail, good
    assert tunnel.outcome == "services-lost", tunnel
    assert "tunnel 198.51.100.2#131074 up -> gone" in tunnel.detail
    assert tunnel.extra["services"]["diff"]["tunnels"]["gone"] == ["198.51.100.2#131074"]
    assert reth.outcome == "services-lost" and "interface reth1 up -> down" in reth.detail
    assert reth.extra["services"]["diff"]["interfaces"]["reth1"] == ["up", "down"]
    for name, c in outcomes.items():
        assert set(c.versions.values()) == {NEW}
        assert c.extra["services"]["before"]["routes"] == {"inet.0": 24, "inet6.0": 4}
        assert r.destructive(name) == [("node0", ICU)]


def test_skip_service_checks_reads_nothing_of_them(rig: Any) -> None:
    r = rig({"name": "c1", "faults": ["tunnel-lost-after-upgrade"]})
    assert r.run(srx_upgrade, "c1", service_checks=False).outcome == "ok"
    assert r.lab.sent("c1", "get-security-associations-information") == []


def test_allow_alarm_accepts_a_known_major_alarm(rig: Any) -> None:
    r = rig({"name": "c1", "faults": ["major-alarm"]})
    c = r.run(srx_upgrade, "c1", dry_run=True)
    assert c.outcome == "failed" and "no-major-alarms" in c.detail, c
    assert "node1 chassis Major: FPC 0 Hard errors" in c.detail
    allowed = r.run(srx_upgrade, "c1", dry_run=True, allow_alarms=("FPC 0 Hard",))
    assert allowed.outcome == "would-upgrade", allowed
    assert r.destructive("c1") == []
