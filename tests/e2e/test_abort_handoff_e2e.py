"""An abort from a second terminal reaches the ICU our own run follows (Juniper: an ICU may be
aborted at any time): handed to the holder, which sends it at its next step; taken over when
the holder does not answer; followed to a verified end in one command after a killed run."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.e2e.conftest import ROOT, Runbooks, destructive, icu_sends, kill_group, wait_until

OLD, NEW = "23.4R2-S3.9", "24.2R2-S1.3"
ICU, ABORT = "request-package-in-service-upgrade", "abort-in-service-upgrade"
ROLLBACK, REBOOT = "request-package-rollback", "request-reboot"
NAMES = [f"c{i}" for i in range(1, 7)]


def releases(lab, cluster: str) -> set[str]:  # type: ignore[no-untyped-def]
    return {n["release"] for n in lab.state()["clusters"][cluster]["nodes"].values()}


def icu_sent(lab, cluster: str) -> bool:  # type: ignore[no-untyped-def]
    return any(r["rpc"] == ICU for r in lab.audit(cluster))


def aborts(lab, cluster: str) -> list[dict]:  # type: ignore[no-untyped-def,type-arg]
    """The aborts sent to the RG0 primary (a recovery's own abort goes to the secondary)."""
    return [r for r in lab.audit(cluster) if r["rpc"] == ABORT and r["node"] == "node0"]


def stopped_holder(make_lab, runbooks_for):  # type: ignore[no-untyped-def]
    """A lab whose c1 is held by an upgrade following its ICU, stopped dead (SIGSTOP:
    alive, holding its lock, answering nothing)."""
    lab = make_lab([{"name": "c1"}], speed=60)
    ops = runbooks_for(lab)
    upgrade, report = ops.start("upgrade", "--yes")
    wait_until(lambda: icu_sent(lab, "c1"), timeout=120, message="c1's ICU")
    upgrade.send_signal(signal.SIGSTOP)
    return lab, ops, upgrade, report


@pytest.fixture
def coord(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A coordination directory of this test's own (every run it starts inherits it)."""
    path = tmp_path / "coord"
    monkeypatch.setenv("RUNBOOKS_COORD_DIR", str(path))
    return path


@pytest.mark.parametrize("how", ["one-process", "processes-2", "other-state-dir"])
def test_abort_from_a_second_terminal_is_handed_to_the_upgrade(  # type: ignore[no-untyped-def]
    make_lab, runbooks_for, coord, tmp_path, how
) -> None:
    # GIVEN an upgrade of six clusters following c3's ICU (speed 100: an ICU takes ~35 s)
    lab = make_lab([{"name": n} for n in NAMES], speed=100)
    ops = runbooks_for(lab)
    extra = ["--processes", "2"] if how == "processes-2" else []
    upgrade, report = ops.start("upgrade", "--yes", *extra)
    wait_until(lambda: icu_sent(lab, "c3"), timeout=120, message="c3's ICU")
    # WHEN an operator aborts c3 from a second terminal (in another state directory: a run
    # of another working tree)
    second = Runbooks(lab, tmp_path / "elsewhere") if how == "other-state-dir" else ops
    asked = time.monotonic()
    result = second.run("abort", "--cluster", "c3", timeout=240)
    waited = time.monotonic() - asked
    done = ops.wait(upgrade, report, timeout=300)
    # THEN the upgrade run sent the abort (one RPC, to the RG0 primary) and reported c3
    # aborted, verified on its old release; the other five clusters were upgraded
    c3 = done.cluster("c3")
    assert c3["outcome"] in ("aborted", "too-late"), c3
    assert "abort requested by run" in c3["detail"], c3
    assert [r["node"] for r in aborts(lab, "c3")] == ["node0"]
    assert icu_sends(lab.audit())["c3"] == 1
    for name in NAMES:
        if name != "c3":
            assert done.cluster(name)["outcome"] == "ok", done.cluster(name)
            assert aborts(lab, name) == []
    # the abort command reports the holder's verdict, with the lab's truth agreeing
    a = result.cluster("c3")
    assert "handed to run" in a["detail"], a
    if c3["outcome"] == "aborted":
        assert a["outcome"] == "ok" and result.code == 0, a
        assert releases(lab, "c3") == {OLD}
    else:
        assert a["outcome"] == "too-late", a
        assert releases(lab, "c3") == {NEW}
    state = lab.state()["clusters"]["c3"]
    assert state["icu_phase"] is None and not state["abort_pending"]
    # what the second terminal showed while it waited
    said = result.stderr + result.stdout
    assert "abort handed to it" in said and "acknowledged the abort" in said, said[-3000:]
    if how == "other-state-dir":
        assert "outside this state directory" in said, said[-3000:]
    assert waited < 200


def test_an_abort_takes_over_from_a_holder_that_does_not_answer(  # type: ignore[no-untyped-def]
    make_lab, runbooks_for, coord
) -> None:
    # GIVEN an upgrade following c1's ICU, then stopped dead
    lab, ops, upgrade, report = stopped_holder(make_lab, runbooks_for)
    try:
        # WHEN abort runs: nobody acknowledges within handoff_deadline (5 s in the lab)
        started = time.monotonic()
        result = ops.run("abort", "--cluster", "c1", timeout=240)
        took = time.monotonic() - started
    finally:
        upgrade.send_signal(signal.SIGCONT)
    # THEN it fenced the holder off and sent the abort itself: one abort RPC, verified
    c1 = result.cluster("c1")
    assert c1["outcome"] in ("ok", "too-late"), c1
    assert [r["node"] for r in aborts(lab, "c1")] == ["node0"]
    said = result.stderr + result.stdout
    assert "fenced off" in said, said[-3000:]
    assert took < 200
    # the woken holder sends nothing more: its next intent is refused by the fence
    done = ops.wait(upgrade, report, timeout=300)
    assert done.cluster("c1")["outcome"] != "ok" or c1["outcome"] == "too-late"
    assert len(aborts(lab, "c1")) == 1
    assert icu_sends(lab.audit())["c1"] == 1


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
    # THEN the abort took the freed lock at once and sent the abort itself, once
    c1 = result.cluster("c1")
    assert c1["outcome"] in ("ok", "too-late"), c1
    assert [r["node"] for r in aborts(lab, "c1")] == ["node0"]
    said = result.stderr + result.stdout
    assert "let the cluster go" in said, said[-3000:]
    assert "fenced off" not in said


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


def test_a_users_own_nornir_script_is_the_holder(make_lab, runbooks_for, coord) -> None:  # type: ignore[no-untyped-def]
    # GIVEN a user's own script (examples/upgrade_site.py) upgrading three clusters
    lab = make_lab([{"name": n} for n in NAMES[:3]], speed=100)
    ops = runbooks_for(lab)
    ops.workdir.mkdir(parents=True, exist_ok=True)
    out = ops.workdir / "own.out"
    cmd = [sys.executable, str(ROOT / "examples" / "upgrade_site.py"), str(ops.config)]
    cmd += ["--inventory", str(lab.inventory_dir)]
    with out.open("w") as fh:
        proc = subprocess.Popen(
            cmd,
            cwd="/",
            stdout=fh,
            stderr=subprocess.STDOUT,
            env=ops.env(),
            start_new_session=True,
        )
    try:
        wait_until(lambda: icu_sent(lab, "c2"), timeout=120, message="c2's ICU")
        # WHEN the CLI aborts c2
        result = ops.run("abort", "--cluster", "c2", timeout=240)
        assert proc.wait(timeout=300) in (0, 1), out.read_text()[-3000:]
    finally:
        kill_group(proc)
    # THEN the script's run sent it, once; its Result says aborted; the others upgraded
    text = re.sub(r"\x1b\[[0-9;]*m", "", out.read_text())  # print_result's colours
    said = dict(re.findall(r"^(c\d): (\S+) \(", text, re.MULTILINE))
    assert said["c2"] in ("aborted", "too-late"), text[-3000:]
    assert said["c1"] == said["c3"] == "ok", text[-3000:]
    assert [r["node"] for r in aborts(lab, "c2")] == ["node0"]
    assert "handed to run" in result.cluster("c2")["detail"]


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
