"""The real upgrade, abort and recover jobs (tasks.jobs.srx_*, through Nornir, the executor,
locks and journal) against in-process clusters: the simulator's model and replies
(simulator/inprocess.py) under a virtual clock (tasks.state.clock), each RPC's XML read by
the real parsers. Each scenario is checked against the model's truth and its audit of the
RPCs it received, and takes well under a second of real time."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tasks.jobs import srx_abort, srx_recover, srx_upgrade
from tests.inprocess import JOB_SECONDS, NEW, OLD


def versions(truth: dict[str, Any]) -> dict[str, str]:
    return {n: v["release"] for n, v in truth["nodes"].items()}


def test_a_healthy_cluster_is_upgraded_to_a_verified_ok_in_virtual_time(rig: Any) -> None:
    r = rig({"name": "br-1"})
    outcome = r.run(srx_upgrade)
    assert outcome.outcome == "ok", outcome.detail
    truth = r.truth()
    assert versions(truth) == {"node0": NEW, "node1": NEW}  # the model agrees
    assert truth["icu_phase"] is None and not any(n["pending"] for n in truth["nodes"].values())
    assert r.destructive() == [("node0", "request-package-in-service-upgrade")]  # RG0 primary
    assert 45 * 60 < r.clock.monotonic() < 90 * 60  # a whole ICU passed on the virtual clock
    # a second run finds it on target and sends nothing
    assert r.run(srx_upgrade).outcome == "skipped"
    assert len(r.destructive()) == 1


def test_an_abort_during_the_icu_lands_clean_and_leaves_the_old_release(rig: Any) -> None:
    r = rig({"name": "br-1", "state": "icu-in-progress", "icu_phase": "install-primary"})
    outcome = r.run(srx_abort)
    assert outcome.outcome == "ok", outcome.detail
    truth = r.truth()
    assert truth["icu_phase"] is None and versions(truth) == {"node0": OLD, "node1": OLD}
    assert r.destructive() == [("node0", "abort-in-service-upgrade")]


def test_an_abort_after_the_secondary_rebooted_recovers_it_in_the_documented_order(
    rig: Any,
) -> None:
    r = rig({"name": "br-1", "state": "icu-in-progress", "icu_phase": "secondary-reboot"})
    outcome = r.run(srx_abort)
    assert outcome.outcome == "ok", outcome.detail
    assert versions(r.truth()) == {"node0": OLD, "node1": OLD}
    assert r.destructive() == [
        ("node0", "abort-in-service-upgrade"),  # the ICU's abort on the RG0 primary
        ("node1", "abort-in-service-upgrade"),  # then recovery on the secondary
        ("node1", "request-package-rollback"),
        ("node1", "request-reboot"),
    ]


def test_an_inconsistent_cluster_is_recovered_abort_rollback_reboot_on_the_secondary(
    rig: Any,
) -> None:
    r = rig({"name": "br-1", "state": "inconsistent"})
    outcome = r.run(srx_recover)
    assert outcome.outcome == "ok", outcome.detail
    truth = r.truth()
    assert versions(truth) == {"node0": OLD, "node1": OLD}
    assert not truth["nodes"]["node1"]["stale_icu"]
    assert r.destructive() == [
        ("node1", "abort-in-service-upgrade"),
        ("node1", "request-package-rollback"),
        ("node1", "request-reboot"),
    ]
    assert {a["args"].get("node") for a in r.lab.sent("br-1", "request-package-rollback")} == {"1"}


def test_a_lost_rollback_reply_is_read_from_the_device_and_never_sent_again(rig: Any) -> None:
    r = rig({"name": "br-1", "state": "inconsistent", "faults": ["rollback-reply-lost"]})
    outcome = r.run(srx_recover)
    assert outcome.outcome == "ok", outcome.detail
    assert [rpc for _, rpc in r.destructive()].count("request-package-rollback") == 1
    assert r.lab.sent("br-1", "request-package-rollback")[0]["result"] == "no-reply"


def test_sessions_dropped_during_the_icu_are_expected_and_the_icu_is_sent_once(
    rig: Any,
) -> None:
    r = rig({"name": "br-1", "faults": ["session-drop"]})
    outcome = r.run(srx_upgrade)
    assert outcome.outcome == "ok", outcome.detail
    assert versions(r.truth()) == {"node0": NEW, "node1": NEW}
    assert r.destructive() == [("node0", "request-package-in-service-upgrade")]
    icu = r.lab.sent("br-1", "request-package-in-service-upgrade")[0]
    later = [
        a for a in r.lab.sent("br-1") if a["session"] != icu["session"] and a["node"] == "node0"
    ]
    assert len({a["session"] for a in later}) >= 2  # the polls reopened their sessions


def test_an_icu_that_fails_on_the_device_is_answered_late_and_reported_failed(
    rig: Any,
) -> None:
    r = rig({"name": "br-1", "faults": ["icu-fails"]})
    outcome = r.run(srx_upgrade)
    assert outcome.outcome == "failed"
    assert "install on node1 failed" in outcome.detail
    assert versions(r.truth()) == {"node0": OLD, "node1": OLD}
    assert [a["rpc"] for a in r.lab.sent("br-1", "late-reply")] == ["late-reply"]


def test_silent_sessions_after_a_reboot_time_out_in_virtual_time(rig: Any) -> None:
    r = rig({"name": "br-1", "faults": ["rpc-silent"]})
    outcome = r.run(srx_upgrade)
    assert outcome.outcome == "ok", outcome.detail
    assert r.destructive() == [("node0", "request-package-in-service-upgrade")]


def test_a_node_down_and_refused_credentials_send_nothing(rig: Any) -> None:
    r = rig({"name": "br-1", "state": "node-down"}, {"name": "br-2", "faults": ["auth-fails"]})
    down = r.run(srx_upgrade, name="br-1")
    assert down.outcome == "failed" and r.destructive("br-1") == []
    refused = r.run(srx_upgrade, name="br-2")
    assert refused.outcome == "failed" and "authentication failed" in refused.detail
    assert r.lab.sent("br-2") == []


def test_a_run_under_a_virtual_clock_replays_exactly(
    rig: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def once() -> list[tuple[float, str, str, str]]:
        # a world of its own: the device lock (keyed by the nodes' addresses, which both labs
        # share) would otherwise show the first run's journal to the second
        monkeypatch.setenv("RUNBOOKS_COORD_DIR", str(tmp_path / f"coord-{len(seen)}"))
        seen.append(1)
        r = rig({"name": "br-1", "faults": ["session-drop"]})
        r.run(srx_upgrade)
        return [(a["ts"], a["node"], a["rpc"], a["result"]) for a in r.lab.audit]

    seen: list[int] = []
    assert once() == once()


def test_every_in_process_job_takes_well_under_a_second() -> None:
    # CPU seconds: on a machine shared with other work the real time stretches, but nothing
    # here waits for real (about 0.1-0.5 s real on an idle 2-core machine)
    assert JOB_SECONDS and max(cpu for _, cpu in JOB_SECONDS) < 1.0, JOB_SECONDS
    assert max(real for real, _ in JOB_SECONDS) < 10.0, JOB_SECONDS
