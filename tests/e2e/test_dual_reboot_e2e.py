"""`upgrade --allow-outage` against the lab: an SRX345 cluster before 24.4R1 reaches 25.2R1 hop
by hop (a dual reboot to 24.4R1, then ICU), each hop verified, the two nodes never linked on
different releases (the lab's own record); refused without the flag; resumed after a SIGKILL
with nothing sent twice. Recover after every half-way state and the install the device
refuses are proven in-process (tests/unit/tasks/test_dual_reboot_kills.py and
test_dual_reboot_jobs.py)."""

from __future__ import annotations

import signal
from collections import Counter
from typing import Any

from tests.e2e.conftest import destructive, kill_group, wait_until

HOP, TARGET = "24.4R1.9", "25.2R1.9"
CLUSTER = {"name": "c1", "model": "SRX345", "target": TARGET, "packages": [HOP]}


def sends(audit: list[dict[str, Any]]) -> Counter[tuple[str, str]]:
    """Destructive RPCs per (rpc, node) in the lab's audit log."""
    return Counter((r["rpc"], r["node"]) for r in destructive(audit))


def test_allow_outage_reaches_the_target_hop_by_hop(make_lab: Any, runbooks_for: Any) -> None:
    # GIVEN a fleet of SRX345 clusters on 23.4R2-S3.9 going to 25.2R1.9, a 24.4R1.9 package
    # on both nodes of each
    names = ("c1", "c2", "c3")
    lab = make_lab([{**CLUSTER, "name": name} for name in names])
    # WHEN the fleet is upgraded with --allow-outage, in one run
    result = runbooks_for(lab).run("upgrade", "--allow-outage", "--yes")
    assert result.code == 0, result.stdout + result.stderr
    for name in names:
        c = result.cluster(name)
        # THEN hop 1 went by dual reboot and hop 2 by ICU, each verified, ending on 25.2R1.9
        assert c["outcome"] == "ok", c
        hops = [(h["hop"], h["method"], h["to"], h["outcome"]) for h in c["hops"]]
        assert hops == [(1, "dual-reboot", HOP, "ok"), (2, "icu", TARGET, "ok")], c["hops"]
        assert "hop 1/2 dual-reboot to 24.4R1.9: ok" in c["detail"], c["detail"]
        state = lab.state()["clusters"][name]
        assert {n["release"] for n in state["nodes"].values()} == {TARGET}
        # AND the lab never saw its two nodes linked on different releases outside the ICU
        assert state["mixed_release"] == [], state["mixed_release"]
        # AND each install and reboot went once, to each node's own session, then one ICU
        counts = sends(lab.audit(name))
        assert counts[("request-package-add", "node0")] == 1
        assert counts[("request-package-add", "node1")] == 1
        assert counts[("request-reboot", "node0")] == counts[("request-reboot", "node1")] == 1
        assert sum(n for (rpc, _), n in counts.items() if "in-service" in rpc) == 1


def test_without_allow_outage_or_by_minimal_downtime_the_cluster_is_refused_nothing_sent(
    make_lab: Any, runbooks_for: Any
) -> None:
    # GIVEN the same cluster
    lab = make_lab([CLUSTER])
    ops = runbooks_for(lab)
    # WHEN it is upgraded without --allow-outage, and then dry-run with it
    refused = ops.run("upgrade", "--yes")
    dry = ops.run("upgrade", "--allow-outage", "--dry-run")
    # THEN it is refused, the reason named; the dry run shows every command of every hop
    c = refused.cluster("c1")
    assert c["outcome"] == "refused" and "--allow-outage" in c["detail"], c
    assert refused.code == 1
    d = dry.cluster("c1")
    assert d["outcome"] == "would-upgrade", d
    assert [h["method"] for h in d["plan"]["hops"]] == ["dual-reboot", "icu"]
    assert "request system software add /var/tmp/junos-srxsme-24.4R1.9.tgz no-copy" in d["detail"]
    assert "in-service-upgrade /var/tmp/junos-srxsme-25.2R1.9.tgz no-sync" in d["detail"]
    # AND minimal downtime, even with the outage allowed, is refused with the reason and the
    # way to do it by hand (its detailed steps are not public: docs/design/upgrade-paths.md)
    minimal = ops.run("upgrade", "--method", "minimal-downtime", "--allow-outage", "--yes")
    m = minimal.cluster("c1")
    assert m["outcome"] == "refused" and m["detail"].endswith("Follow KB17947 by hand"), m
    assert minimal.code == 1
    # AND nothing that changes a device was sent
    assert destructive(lab.audit()) == []


def test_a_run_killed_after_the_first_install_resumes_without_resending(
    make_lab: Any, runbooks_for: Any
) -> None:
    # GIVEN a run SIGKILLed once the first install (on the RG0 secondary) is pending and the
    # second has reached node0 (a kill between a journal record and its wire is another
    # case: the re-run fails safe, never resends; recover, then upgrade, see upgrade.md)
    lab = make_lab([CLUSTER])
    ops = runbooks_for(lab)
    proc, _ = ops.start("upgrade", "--allow-outage", "--yes")

    def second_install_sent() -> bool:
        return any(r["rpc"] == "request-package-add" for r in lab.audit("c1", "node0"))

    wait_until(second_install_sent, timeout=120, message="the second install")
    kill_group(proc, signal.SIGKILL)
    nodes = lab.state()["clusters"]["c1"]["nodes"]
    assert nodes["node1"]["pending"] == HOP and nodes["node0"]["release"] != HOP, nodes
    # AND a dry run says it would resume, sending nothing; status calls it pending-install
    before = sends(lab.audit("c1"))
    dry = ops.run("upgrade", "--allow-outage", "--dry-run")
    assert "would resume the dual reboot" in dry.cluster("c1")["detail"], dry.cluster("c1")
    assert sends(lab.audit("c1")) == before
    status = ops.run("status")
    assert status.cluster("c1")["state"] == "pending-install", status.cluster("c1")
    # WHEN the upgrade runs again
    result = ops.run("upgrade", "--allow-outage", "--yes")
    # THEN it goes on from the journal to the target, and nothing was sent twice
    c = result.cluster("c1")
    assert result.code == 0 and c["outcome"] == "ok", c
    counts = sends(lab.audit("c1"))
    assert max(counts.values()) == 1, counts
    assert counts[("request-package-add", "node0")] == 1
    assert counts[("request-package-add", "node1")] == 1
    assert lab.state()["clusters"]["c1"]["mixed_release"] == []
