from __future__ import annotations

import time

from tasks.device.readings import ClusterLinks, NodeView
from tasks.plans.abort import pending_abort
from tasks.plans.classify import ClusterState, classify
from tasks.plans.cluster_status import prerequisites, summarize
from tests.factories import NEW, cluster, node, status


def test_healthy() -> None:
    verdict = classify(cluster())
    assert verdict.state is ClusterState.HEALTHY
    assert verdict.findings == ()


def test_inconsistent_when_releases_differ_and_no_icu() -> None:
    verdict = classify(cluster(n1=node("node1", NEW)))
    assert verdict.state is ClusterState.INCONSISTENT
    assert any("releases differ" in f for f in verdict.findings)


def test_icu_in_progress_from_what_the_device_shows() -> None:
    # the upgraded secondary is back and the primary still has its install pending: the
    # primary's reboot is next, not an inconsistent cluster
    view = cluster(node("node0", pending="p"), node("node1", NEW))
    assert classify(view).state is ClusterState.ICU_IN_PROGRESS
    both = cluster(node("node0", pending="p"), node("node1", pending="p"))
    assert classify(both).state is ClusterState.ICU_IN_PROGRESS
    rebooting = cluster(node("node0", pending="p"), node("node1", reachable=False))
    assert classify(rebooting).state is ClusterState.ICU_IN_PROGRESS
    # a rolled-back secondary (pending the old release) is a recovery, not an ICU
    rolled = cluster(node("node0"), node("node1", NEW, pending="p"))
    assert classify(rolled).state is ClusterState.INCONSISTENT


def test_pending_install_and_journal_hint() -> None:
    view = cluster(n1=node("node1", pending="There is already an install pending"))
    assert classify(view).state is ClusterState.PENDING_INSTALL
    view_no_text = cluster(node("node0"), node("node1", pending="x"))
    assert classify(view_no_text, icu_started=True).state is ClusterState.ICU_IN_PROGRESS


def test_degraded_monitor_failure_priority_zero_and_node_down() -> None:
    st = status(failures=("IF",), priority1=0)
    verdict = classify(cluster(node("node0", st=st), node("node1", st=st)))
    assert verdict.state is ClusterState.DEGRADED
    assert "RG0: node1 priority 0" in verdict.findings
    assert "RG1: node1 monitor failures IF" in verdict.findings
    down = classify(cluster(n1=node("node1", reachable=False)))
    assert down.state is ClusterState.DEGRADED
    assert down.findings[0].startswith("node1 unreachable")


def test_unreachable_when_no_node_answers() -> None:
    view = cluster(node("node0", reachable=False), node("node1", reachable=False))
    assert classify(view).state is ClusterState.UNREACHABLE


def _refused(name: str) -> NodeView:
    error = f"authentication failed for ops on {name} (10.0.0.1:830)"
    return NodeView(node=name, reachable=False, error=error, auth_failed=True)


def test_auth_failed_is_its_own_state_with_the_user_and_the_node() -> None:
    # GIVEN a wrong password: both nodes answer and refuse it
    verdict = classify(cluster(_refused("node0"), _refused("node1")))
    # THEN the state says so, not 'unreachable', and each finding names user, node, address
    assert verdict.state is ClusterState.AUTH_FAILED
    assert verdict.state.value == "auth-failed"
    assert verdict.findings == (
        "authentication failed for ops on node0 (10.0.0.1:830)",
        "authentication failed for ops on node1 (10.0.0.1:830)",
    )
    # a refusal on one node while the other is down is still the credentials' problem
    half = classify(cluster(_refused("node0"), node("node1", reachable=False)))
    assert half.state is ClusterState.AUTH_FAILED
    assert half.findings[1].startswith("node1 unreachable (ConnectRefusedError")


def test_auth_failed_on_one_node_of_a_reachable_cluster_is_degraded_with_the_finding() -> None:
    verdict = classify(cluster(n1=_refused("node1")))
    assert verdict.state is ClusterState.DEGRADED
    assert "authentication failed for ops on node1 (10.0.0.1:830)" in verdict.findings


def test_every_state_has_a_colour_in_the_status_table() -> None:
    from runbooks.output.tables import STATE_STYLE

    assert {s.value for s in ClusterState} <= set(STATE_STYLE)


def test_not_clustered_keeps_the_device_words() -> None:
    words = "error: Chassis cluster is not enabled"
    off = NodeView("node1", True, software=None, clustered=False, cluster_words=words)
    verdict = classify(cluster(n1=off))
    assert verdict.state is ClusterState.NOT_CLUSTERED
    assert f"node1: chassis cluster is not enabled (device: {words})" in verdict.findings


def test_status_finding_of_links_on_a_box_that_is_not_clustered() -> None:
    words = "error: Chassis cluster is not enabled"

    class Rpc:
        def cluster_links(self) -> ClusterLinks:
            return ClusterLinks("", "", words=words)

        def alarms(self) -> list[object]:
            return []

    findings, notes = prerequisites(Rpc())  # type: ignore[arg-type]
    assert findings == [f"chassis cluster is not enabled (device: {words})"] and notes == []
    # the links' words on a cluster whose nodes said they are clustered: a finding of its own
    summary = summarize(cluster(), prereqs=(findings, notes))
    assert summary.state == "degraded"
    assert f"chassis cluster is not enabled (device: {words})" in summary.findings
    # on a node that said it is not clustered: said once, by the node it is about
    off = NodeView("node1", True, software=None, clustered=False, cluster_words=words)
    standalone = summarize(cluster(n1=off), prereqs=(findings, notes))
    assert standalone.state == "not-clustered"
    assert [f for f in standalone.findings if "not enabled" in f] == [
        f"node1: chassis cluster is not enabled (device: {words})"
    ]


def test_roles_disagree_is_a_finding() -> None:
    view = cluster(node("node0", st=status("node0")), node("node1", st=status("node1")))
    verdict = classify(view)
    assert verdict.state is ClusterState.DEGRADED
    assert any("disagree" in f for f in verdict.findings)


def test_secondary_hold_is_not_healthy() -> None:
    st = status(secondary_status="secondary-hold")
    assert (
        classify(cluster(node("node0", st=st), node("node1", st=st))).state is ClusterState.DEGRADED
    )


def test_a_pending_abort_is_no_healthy_cluster() -> None:
    # GIVEN a healthy-looking cluster and an abort journaled 10 s ago, not seen to land
    history = [
        {"event": "icu-sending", "ts": time.time() - 60, "run_id": "r1"},
        {
            "event": "command",
            "ts": time.time() - 10,
            "run_id": "r2",
            "command": "request system software abort in-service-upgrade",
        },
    ]
    why = pending_abort(history, 600, "c1")
    assert why is not None and "abort pending" in why
    # THEN status says ICU in progress with the reason, never healthy
    summary = summarize(cluster(), abort_pending=why)
    assert summary.state == ClusterState.ICU_IN_PROGRESS.value
    assert summary.findings[0] == why
    # once the abort is older than the bound (the longest unseen step), it has landed
    assert pending_abort(history, 5, "c1") is None
    # and a later icu-ended closes it
    assert pending_abort([*history, {"event": "icu-ended", "ts": time.time()}], 600, "c1") is None
