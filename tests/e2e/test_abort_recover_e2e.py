"""abort and recover end to end over the real stack: the abort that needs the whole documented
recovery, the one that comes too late, and a fleet-wide recover. Every phase, refusal, fault
and re-run is proven on the in-process lab (tests/unit/tasks/test_abort_recover_jobs.py)."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import STACK, client_stacks, destructive

OLD, NEW = "23.4R2-S3.9", "24.2R2-S1.3"
ABORT, ROLLBACK, REBOOT = "abort-in-service-upgrade", "request-package-rollback", "request-reboot"


def releases(lab, cluster: str) -> dict[str, str]:  # type: ignore[no-untyped-def]
    nodes = lab.state()["clusters"][cluster]["nodes"]
    return {n: nodes[n]["release"] for n in nodes}


@pytest.mark.parametrize(
    ("phase", "outcome", "final", "transport"),
    [
        ("secondary-reboot", "ok", OLD, "napalm"),  # inconsistent, then recovered
        ("primary-reboot", "too-late", NEW, "napalm"),
        ("secondary-reboot", "ok", OLD, "asyncssh"),  # parity: abort, then recover
    ],
)
def test_abort_after_the_secondary_reboot_and_too_late(  # type: ignore[no-untyped-def]
    make_lab, runbooks_for, phase, outcome, final, transport
) -> None:
    # GIVEN an ICU somebody started, now in `phase`; it stands still until the abort reaches
    # the cluster (phase-holds), so a loaded machine cannot let the phase end first
    lab = make_lab(
        [{"name": "c1", "state": "icu-in-progress", "icu_phase": phase, "faults": ["phase-holds"]}],
        speed=300,
    )
    ops = runbooks_for(lab)
    # WHEN abort runs
    result = ops.run("abort", "--cluster", "c1")
    # THEN the outcome matches the documented one and the cluster ends consistent and healthy
    c = result.cluster("c1")
    assert c["outcome"] == outcome, c
    assert c["state"] == "healthy", c
    assert releases(lab, "c1") == {"node0": final, "node1": final}
    audit = [r for r in lab.audit() if r["cluster"] == "c1"]
    aborts = [r for r in audit if r["rpc"] == ABORT]
    # the first abort goes to the RG0 primary of the moment: node1 once node0 is rebooting
    assert aborts and aborts[0]["node"] == ("node1" if phase == "primary-reboot" else "node0")
    if phase == "secondary-reboot":
        assert "inconsistent" in c["detail"] and "recovered" in c["detail"]
        secondary = [r["rpc"] for r in destructive(audit) if r["node"] == "node1"]
        assert secondary == [ABORT, ROLLBACK, REBOOT]
    assert result.code == (0 if outcome == "ok" else 1)
    assert client_stacks(audit) == {STACK[transport]}


def test_twelve_inconsistent_clusters_recovered_in_order(make_lab, runbooks_for) -> None:  # type: ignore[no-untyped-def]
    # GIVEN 12 clusters a failed window left inconsistent (secondary node1 on the new release)
    lab = make_lab([{"name": f"c{i:02d}", "state": "inconsistent"} for i in range(12)])
    # WHEN one recover run sweeps them
    result = runbooks_for(lab).run("recover", "--workers", "12")
    # THEN each is recovered, healthy, on one release
    not_ok = {n: c["detail"] for n, c in result.report["clusters"].items() if c["outcome"] != "ok"}
    assert result.code == 0, (result.stderr, not_ok)
    audit = lab.audit()
    for i in range(12):
        name = f"c{i:02d}"
        c = result.cluster(name)
        assert c["outcome"] == "ok" and c["state"] == "healthy", c
        assert releases(lab, name) == {"node0": OLD, "node1": OLD}
        mine = destructive([r for r in audit if r["cluster"] == name])
        # exactly abort < rollback(node 1) < reboot, all on the secondary; nothing to the primary
        assert [(r["node"], r["rpc"]) for r in mine] == [
            ("node1", ABORT),
            ("node1", ROLLBACK),
            ("node1", REBOOT),
        ]
        assert mine[1]["args"]["node"] == "1"
