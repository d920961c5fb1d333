"""The abort after a run was killed or stopped: the freed lock taken at once, an ICU of a dead
run followed and recovered in one command, an abort during an install reported only once it
has landed, an ICU sent from another state directory followed, never sent twice."""

from __future__ import annotations

import signal

from tests.e2e.abort_helpers import (
    ABORT,
    NEW,
    OLD,
    REBOOT,
    ROLLBACK,
    aborts,
    icu_sent,
    releases,
    stopped_holder,
)
from tests.e2e.conftest import Runbooks, destructive, icu_sends, kill_group, wait_until


def test_a_holder_killed_before_it_acts_lets_the_abort_go_ahead(  # type: ignore[no-untyped-def]
    make_lab, runbooks_for, coord
) -> None:
    # GIVEN an upgrade following c1's ICU, stopped (it cannot acknowledge), and an abort
    # waiting on it
    lab, ops, upgrade, _ = stopped_holder(make_lab, runbooks_for)
    proc, report = ops.start("abort", "--cluster", "c1")
    wait_until(
        lambda: any((coord / "aborts").glob("*.json")), timeout=60, message="the abort request"
    )
    # WHEN the holder is killed before it acted
    kill_group(upgrade, signal.SIGKILL)
    result = ops.wait(proc, report, timeout=240)
    # THEN the abort took the freed lock (or, on a machine too loaded to kill it within
    # handoff_deadline, fenced the holder off) and sent the abort itself, once
    c1 = result.cluster("c1")
    said = result.stderr + result.stdout
    assert c1["outcome"] in ("ok", "too-late"), (c1, said[-3000:])
    assert [r["node"] for r in aborts(lab, "c1")] == ["node0"]
    assert "let the cluster go" in said or "fenced off" in said, said[-3000:]


def test_abort_after_a_killed_run_recovers_in_one_command(make_lab, runbooks_for) -> None:  # type: ignore[no-untyped-def]
    # GIVEN an upgrade SIGKILLed once the secondary's reboot began (its ICU left open)
    lab = make_lab([{"name": "c1"}], speed=100)
    ops = runbooks_for(lab)
    upgrade, _ = ops.start("upgrade", "--yes")
    wait_until(
        lambda: not lab.state()["clusters"]["c1"]["nodes"]["node1"]["up"],
        timeout=120,
        message="the secondary's reboot",
    )
    kill_group(upgrade, signal.SIGKILL)
    # WHEN abort runs: it lands after the secondary's reboot (inconsistent)
    result = ops.run("abort", "--cluster", "c1", timeout=240)
    # THEN the same command recovers the cluster: consistent and healthy, on the old release
    c1 = result.cluster("c1")
    assert c1["outcome"] in ("ok", "too-late"), c1
    assert c1["state"] == "healthy", c1
    assert "refused" not in c1["detail"], c1
    if c1["outcome"] == "ok":
        assert releases(lab, "c1") == {OLD}
        secondary = [r["rpc"] for r in destructive(lab.audit("c1")) if r["node"] == "node1"]
        assert secondary in ([ABORT, ROLLBACK, REBOOT], []), secondary
    assert len(aborts(lab, "c1")) == 1
    journal = [r["event"] for r in ops.journal("c1")]
    assert journal.count("icu-ended") == 1


def test_an_abort_sent_during_an_install_is_reported_only_once_landed(  # type: ignore[no-untyped-def]
    make_lab, runbooks_for
) -> None:
    # GIVEN an upgrade killed while its ICU installs on the secondary (420 simulated s, 14 s
    # at speed 30): nothing a second session reads changes until that step ends
    lab = make_lab([{"name": "c1"}], speed=30)
    ops = runbooks_for(lab)
    upgrade, _ = ops.start("upgrade", "--yes")
    wait_until(
        lambda: lab.state()["clusters"]["c1"]["icu_phase"] == "install-secondary",
        timeout=120,
        message="the secondary's install",
    )
    kill_group(upgrade, signal.SIGKILL)
    # WHEN abort runs (it knows the ICU from the journal and sends the abort at once)
    result = ops.run("abort", "--cluster", "c1", timeout=240)
    # THEN it reports only once the device has really stopped the ICU (the old code said
    # "rolled back cleanly" while the install step still ran with the abort pending)
    state = lab.state()["clusters"]["c1"]
    assert state["icu_phase"] is None and not state["abort_pending"], state
    c1 = result.cluster("c1")
    assert c1["outcome"] == "ok", c1
    assert releases(lab, "c1") == {OLD}
    assert [r["node"] for r in aborts(lab, "c1")] == ["node0"]
    ended = [r for r in ops.journal("c1") if r["event"] == "icu-ended"]
    assert len(ended) == 1 and "abort landed: clean (" in ended[0]["how"], ended
    # and an upgrade run now finds nothing in flight: no second abort, a new ICU only now
    assert icu_sends(lab.audit())["c1"] == 1


def test_a_run_of_another_state_directory_follows_the_icu_it_did_not_send(  # type: ignore[no-untyped-def]
    make_lab, runbooks_for, coord, tmp_path
) -> None:
    # GIVEN an upgrade of state directory A killed mid-ICU (its journal holds the open ICU)
    lab = make_lab([{"name": "c1"}], speed=100)
    ops = runbooks_for(lab)
    upgrade, _ = ops.start("upgrade", "--yes")
    wait_until(lambda: icu_sent(lab, "c1"), timeout=120, message="c1's ICU")
    kill_group(upgrade, signal.SIGKILL)
    # WHEN an upgrade of another state directory B runs
    other = Runbooks(lab, tmp_path / "elsewhere")
    result = other.run("upgrade", "--yes", timeout=240)
    # THEN it read A's journal through the device lock: re-attached, no second ICU
    c1 = result.cluster("c1")
    assert c1["outcome"] == "ok", c1
    assert icu_sends(lab.audit())["c1"] == 1
    assert any("re-attaching" in str(r.get("message")) for r in other.journal("c1"))
    assert releases(lab, "c1") == {NEW}
