"""RG placement (--align-rgs, after a failover made by hand over PyEZ) and the snapshot job's
save and compare, end to end. The service checks around the upgrade (lost, skipped) and the
alarm allow-list are proven on the in-process lab (tests/unit/tasks/test_upgrade_jobs.py)."""

from __future__ import annotations

from typing import Any

from tests.e2e.conftest import STACK, both_transports, client_stacks, destructive
from tests.e2e.test_simulator_e2e import session

ICU = "request-package-in-service-upgrade"
TARGET = "24.2R2-S1.3"  # the lab's package
FAILOVER = "request-chassis-cluster-failover"
RESET = "request-chassis-cluster-failover-reset"


def icus(lab: Any, cluster: str) -> int:
    return sum(1 for r in destructive(lab.audit()) if r["cluster"] == cluster and r["rpc"] == ICU)


def test_align_rgs_moves_rg1_to_the_rg0_primary_first(make_lab, runbooks_for) -> None:  # type: ignore[no-untyped-def]
    # GIVEN RG1 failed over to node1 by hand (RG0 stays on node0)
    lab = make_lab([{"name": "c1"}])
    with session(lab, "c1", "node0") as dev:
        dev.rpc.request_chassis_cluster_failover(redundancy_group="1", node="1")
    ops = runbooks_for(lab)
    # WHEN the upgrade runs without --align-rgs: refused, nothing sent
    refused = ops.run("upgrade", "--yes")
    c = refused.cluster("c1")
    assert c["outcome"] == "failed" and "rg-placement" in c["detail"], c
    assert [r["rpc"] for r in destructive(lab.audit())] == [FAILOVER]  # ours, above
    # WHEN with --align-rgs: RG1 is moved back and reset, verified, then the ICU
    result = ops.run("upgrade", "--yes", "--align-rgs", "--retry-failed")
    c = result.cluster("c1")
    assert c["outcome"] == "ok", c
    sent = [(r["node"], r["rpc"]) for r in destructive(lab.audit())][1:]
    # the manual failover in effect is reset first (preempt may then bring RG1 home
    # by itself); any failover still needed and its reset come before the ICU
    assert sent[0] == ("node0", RESET), sent
    assert sent.index(("node0", ICU)) == len(sent) - 1 - sent[::-1].index(("node0", ICU))
    before = sent[: sent.index(("node0", ICU))]
    assert set(before) <= {("node0", FAILOVER), ("node0", RESET)}, sent
    assert c["aligned"] == [1] and "RG1 aligned on the RG0 primary first" in c["detail"]


@both_transports  # parity: the service reads over napalm/PyEZ and over asyncssh
def test_snapshot_save_then_compare_names_what_was_lost(make_lab, runbooks_for, transport) -> None:  # type: ignore[no-untyped-def]
    # GIVEN a snapshot taken before a manual change (here: an upgrade without service checks)
    lab = make_lab([{"name": "c1", "faults": ["tunnel-lost-after-upgrade"]}, {"name": "c2"}])
    ops = runbooks_for(lab)
    saved = ops.workdir / "before.json"
    first = ops.run("snapshot", "--save", str(saved))
    assert first.code == 0, first.stderr
    assert "2 tunnels" in first.cluster("c1")["detail"]
    assert oct(saved.stat().st_mode & 0o777) == "0o600"
    assert ops.run("upgrade", "--yes", "--skip-service-checks").code == 0
    # WHEN a second snapshot is compared with it
    result = ops.run("snapshot", "--compare", str(saved))
    # THEN the lost tunnel is named, exit 1; the other cluster lost nothing; nothing was sent
    assert result.code == 1
    c1, c2 = result.cluster("c1"), result.cluster("c2")
    assert c1["outcome"] == "services-lost" and "tunnel 198.51.100.2#131074" in c1["detail"]
    assert c1["diff"]["tunnels"]["gone"] == ["198.51.100.2#131074"]
    assert c2["outcome"] == "ok" and "nothing lost" in c2["detail"]
    icu_runs = [r for r in destructive(lab.audit()) if r["rpc"] == ICU]
    assert len(icu_runs) == 2  # the upgrade's only
    bad = ops.run("snapshot", "--compare", str(ops.workdir / "missing.json"))
    assert bad.code == 2 and "--compare" in bad.stderr
    assert client_stacks(lab.audit()) == {STACK[transport]}
