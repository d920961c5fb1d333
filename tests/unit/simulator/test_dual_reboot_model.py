"""The lab's dual reboot: a per-node install left pending, reboots into it, and the record of
every time two nodes on different releases were linked outside an ICU."""

from __future__ import annotations

from simulator.model import INSTALL_SECONDS, Cluster, Node

OLD, HOP, ROLLBACK = "23.4R2-S3.9", "24.4R1.9", "23.2R2.21"
PKG = "/var/tmp/junos-srxsme-24.4R1.9.tgz"


def make(model: str = "SRX345", **faults: bool) -> Cluster:
    nodes = {n: Node(n, OLD, ROLLBACK, booted_at=-1000.0) for n in ("node0", "node1")}
    for node in nodes.values():
        node.files[PKG] = 456_000_000
    return Cluster("c1", model, nodes, faults=frozenset(f for f, on in faults.items() if on))


def installed(c: Cluster, node: str) -> None:
    ok, words = c.install(node, PKG, None, validate=True)
    assert ok, words
    c.tick(c.now + INSTALL_SECONDS)
    assert c.nodes[node].pending == HOP


def test_an_install_ends_pending_on_its_node_alone_and_says_so() -> None:
    c = make()
    ok, _ = c.install("node1", PKG, None, validate=True)
    assert ok and c.nodes["node1"].pending is None  # still installing
    c.tick(c.now + INSTALL_SECONDS)
    assert c.nodes["node1"].pending == HOP and c.nodes["node0"].pending is None
    node, done, words = c.installed.pop()
    assert (node, done) == ("node1", True)
    assert f"JUNOS {HOP} will become active at next reboot" in words


def test_install_refusals_are_the_devices_words() -> None:
    c = make()
    assert "is not found or empty" in c.install("node0", "/var/tmp/x.tgz", None, validate=True)[1]
    c.nodes["node0"].free_bytes = 1
    assert "No packages added" in c.install("node0", PKG, None, validate=True)[1]
    v = make(**{"validation-fails": True})
    assert "Validation failed" in v.install("node0", PKG, None, validate=True)[1]
    assert v.install("node0", PKG, None, validate=False)[0]  # no-validate: not checked
    assert "installation in progress" in v.install("node0", PKG, None, validate=False)[1]
    installed(c, "node1")
    assert "already an install pending" in c.install("node1", PKG, None, validate=True)[1]


def test_both_rebooted_together_boot_the_pending_release_never_mixed() -> None:
    c = make()
    installed(c, "node1")
    installed(c, "node0")
    c.reboot("node1")
    c.tick(c.now + 2)
    c.reboot("node0")
    c.tick(c.now + 2000)
    assert {n.release for n in c.nodes.values()} == {HOP}
    assert all(n.up and n.pending is None for n in c.nodes.values())
    assert c.mixed == []


def test_one_node_rebooted_into_its_pending_release_is_recorded_as_mixed() -> None:
    c = make()
    installed(c, "node1")
    c.reboot("node1")
    c.tick(c.now + 2000)
    assert len(c.mixed) == 1 and c.mixed[0]["until"] is None
    assert c.mixed[0]["releases"] == {"node0": OLD, "node1": HOP}
    c.reboot("node1")  # the stretch ends when they are no longer linked
    assert c.mixed[0]["until"] == c.now


def test_an_icu_keeps_its_own_mixed_stretch_out_of_the_record() -> None:
    c = make("SRX550")  # no 24.4R1 boundary on the older branch SRX
    ok, words = c.start_icu("node0", PKG, HOP, reboot=False)
    assert ok, words
    while c.phase is not None or not all(n.up for n in c.nodes.values()):
        c.tick(c.now + 5)
    assert c.mixed == []
