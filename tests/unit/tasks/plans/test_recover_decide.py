from __future__ import annotations

from tasks.plans.recover import decide
from tests.factories import NEW, cluster, node, status


def test_recovers_the_secondary_on_the_new_release() -> None:
    d = decide(cluster(n1=node("node1", NEW)), NEW)
    assert (d.node, d.primary) == ("node1", "node0")


def test_refuses_when_primary_runs_the_differing_release() -> None:
    st = status("node0")
    d = decide(cluster(node("node0", NEW, st=st), node("node1", st=st)), NEW)
    assert d.node is None and "primary" in d.reason


def test_refuses_unreachable_and_roles_disagree() -> None:
    assert decide(cluster(n1=node("node1", reachable=False)), NEW).node is None
    view = cluster(node("node0", st=status("node0")), node("node1", NEW, st=status("node1")))
    d = decide(view, NEW)
    assert d.node is None and "disagree" in d.reason


def test_without_target_the_newer_secondary_is_recovered() -> None:
    assert decide(cluster(n1=node("node1", NEW)), None).node == "node1"


def test_leftover_pending_install_on_secondary() -> None:
    d = decide(cluster(n1=node("node1", pending="pending")), NEW)
    assert d.node == "node1"
    d = decide(cluster(n0=node("node0", pending="pending")), NEW)
    assert d.node is None and "rollback node 0" in d.reason


def test_a_node_that_refused_our_credentials_is_said_as_such() -> None:
    from dataclasses import replace

    refused = replace(
        node("node1", reachable=False),
        error="authentication failed for lab on node1",
        auth_failed=True,
    )
    d = decide(cluster(n1=refused), NEW)
    assert d.node is None and "refused our credentials" in d.reason
    assert "JUNOS_PASSWORD" in d.reason and "unreachable" not in d.reason
