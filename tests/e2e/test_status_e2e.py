"""status against a mixed lab, through the real nornir -> napalm -> PyEZ -> SSH stack."""

from __future__ import annotations

import re

import asyncssh
import yaml

from tests.e2e.conftest import STACK, both_transports, client_stacks, destructive

MIXED = [
    {"name": "c-healthy", "state": "healthy"},
    {"name": "c-inconsistent", "state": "inconsistent"},
    {"name": "c-pending", "state": "pending-install"},
    {"name": "c-node-down", "state": "node-down"},
    # installs pending on both nodes: what a second session can see of an ICU (failover step)
    {"name": "c-icu", "state": "icu-in-progress", "icu_phase": "failover"},
    {"name": "c-rg-unhealthy", "state": "healthy", "faults": ["rg-unhealthy"]},
    {"name": "c-auth", "state": "healthy", "faults": ["auth-fails"]},
    {"name": "c-upgraded", "state": "upgraded"},
    {"name": "c-fabric", "state": "healthy", "faults": ["fabric-link-down"]},
    {"name": "c-alarm", "state": "healthy", "faults": ["major-alarm"]},
]

EXPECTED = {
    "c-healthy": "healthy",
    "c-inconsistent": "inconsistent",
    "c-pending": "pending-install",
    "c-node-down": "degraded",
    "c-icu": "icu-in-progress",
    "c-rg-unhealthy": "degraded",
    "c-auth": "auth-failed",  # a wrong password is said as such, not as a network problem
    "c-upgraded": "healthy",
    "c-fabric": "degraded",
    "c-alarm": "degraded",
}


def test_status_classifies_a_mixed_lab(make_lab, runbooks_for) -> None:  # type: ignore[no-untyped-def]
    # GIVEN a lab where a previous window left clusters in every state
    lab = make_lab(MIXED, speed=1)  # slow clock: nothing moves while we look
    ops = runbooks_for(lab)
    # WHEN status runs over the whole fleet
    result = ops.run("status")
    # THEN each cluster is classified as the lab built it, and the run says "attention"
    assert result.code == 1, result.stderr
    states = {name: c["state"] for name, c in result.report["clusters"].items()}
    assert states == EXPECTED
    healthy = result.cluster("c-healthy")
    assert healthy["outcome"] == "ok"
    assert healthy["versions"]["node0"] == healthy["versions"]["node1"]
    assert healthy["rg_primary"]["rg0"] == "node0"
    inconsistent = result.cluster("c-inconsistent")
    assert inconsistent["versions"]["node0"] != inconsistent["versions"]["node1"]
    assert result.cluster("c-pending")["pending_install"]["node1"] is True
    assert any(
        "monitor failures" in f or "priority 0" in f
        for f in result.cluster("c-rg-unhealthy")["findings"]
    )
    assert "node1 unreachable" in result.cluster("c-node-down")["detail"]
    assert "fabric link down" in result.cluster("c-fabric")["findings"]
    assert "alarm node1 chassis Major: FPC 0 Hard errors" in result.cluster("c-alarm")["findings"]
    assert not [f for f in healthy["findings"] if "link" in f or "alarm" in f]
    auth = result.cluster("c-auth")["findings"]
    assert [f.split(" (")[0] for f in auth] == [
        "authentication failed for lab on node0",
        "authentication failed for lab on node1",
    ]
    assert all(re.fullmatch(r".* \(127\.0\.0\.1:\d+\)", f) for f in auth), auth
    assert "unreachable" not in result.cluster("c-auth")["detail"]
    # the terminal table lists every cluster
    for name in EXPECTED:
        assert name in result.stdout
    # and status is read-only
    assert destructive(lab.audit()) == []
    assert "lab" not in result.stderr  # no credentials or noise on stderr
    # a snapshot and a recover of the cluster that refuses our password say so too
    snap = ops.run("snapshot", "--cluster", "c-auth").cluster("c-auth")
    assert snap["state"] == "auth-failed" and "authentication failed" in snap["detail"], snap
    rec = ops.run("recover", "--cluster", "c-auth").cluster("c-auth")
    assert "unreachable" not in rec["detail"], rec


@both_transports
def test_status_all_healthy_exit_0(make_lab, runbooks_for, transport) -> None:  # type: ignore[no-untyped-def]
    lab = make_lab(count=6)
    result = runbooks_for(lab).run("status", "--filter", "site=lab-a")
    assert result.code == 0, result.stderr
    assert result.report["job"] == "status"
    assert result.report["clusters"]
    assert all(c["state"] == "healthy" for c in result.report["clusters"].values())
    assert all(n in ("br-0001", "br-0004") for n in result.report["clusters"])
    assert client_stacks(lab.audit()) == {STACK[transport]}  # the transport asked for spoke


def test_a_lab_cluster_carries_its_own_inventory_data(make_lab, runbooks_for) -> None:  # type: ignore[no-untyped-def]
    # GIVEN a lab whose second cluster has an operator's own site and region
    lab = make_lab(
        [
            {"name": "br-0001"},
            {"name": "nyc-fw1", "data": {"site": "nyc", "region": "us-east"}},
            {"name": "br-0003"},
        ]
    )
    ops = runbooks_for(lab)
    # WHEN status selects by them THEN only that cluster is selected, and it is healthy
    for selection in ("site=nyc", "region=us-east"):
        result = ops.run("status", "--filter", selection)
        assert result.code == 0, result.stderr
        assert list(result.report["clusters"]) == ["nyc-fw1"]
    # and the others keep the lab's round-robin sites
    assert list(ops.run("status", "--filter", "site=lab-c").report["clusters"]) == ["br-0003"]


@both_transports
def test_a_node_whose_host_key_is_not_the_known_one_is_never_talked_to(  # type: ignore[no-untyped-def]
    make_lab, runbooks_for, transport
) -> None:
    # GIVEN a lab whose known_hosts holds another key for br-0001's node1 (a box in its place)
    lab = make_lab(count=2, speed=1)
    port = yaml.safe_load((lab.inventory_dir / "hosts.yaml").read_text())["br-0001"][
        "connection_options"
    ]["node1"]["port"]
    other = asyncssh.generate_private_key("ssh-ed25519").export_public_key().decode().strip()
    lines = lab.known_hosts.read_text().splitlines()
    name = f"[127.0.0.1]:{port}"
    lab.known_hosts.write_text(
        "\n".join(f"{name} {other}" if ln.startswith(name + " ") else ln for ln in lines) + "\n"
    )
    # WHEN status runs over the lab
    result = runbooks_for(lab).run("status")
    # THEN that node is unreachable, the rest is read, and it received no RPC at all
    assert result.code == 1, result.stderr
    bad = result.cluster("br-0001")
    assert "node1 unreachable" in bad["detail"], bad
    assert result.cluster("br-0002")["state"] == "healthy"
    assert [r for r in lab.audit("br-0001", "node1")] == []
    assert lab.audit("br-0001", "node0")
