"""An abort from a second terminal reaches the ICU our own run follows (Juniper: an ICU may be
aborted at any time): handed to the holder, which sends it at its next step; taken over when
the holder does not answer; followed to a verified end in one command after a killed run."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time

import pytest

from tests.e2e.abort_helpers import NEW, OLD, aborts, icu_sent, releases, stopped_holder
from tests.e2e.conftest import ROOT, Runbooks, icu_sends, kill_group, wait_until

NAMES = [f"c{i}" for i in range(1, 7)]


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
    said = result.stderr + result.stdout  # what the second terminal showed while it waited
    assert c3["outcome"] in ("aborted", "too-late"), (c3, said[-3000:])
    assert "abort requested by run" in c3["detail"], c3
    assert [r["node"] for r in aborts(lab, "c3")] == ["node0"]
    assert icu_sends(lab.audit())["c3"] == 1
    for name in NAMES:
        if name != "c3":
            assert done.cluster(name)["outcome"] == "ok", (name, done.stdout[-3000:])
            assert aborts(lab, name) == []
    # the abort command reports the holder's verdict, with the lab's truth agreeing
    a = result.cluster("c3")
    assert "handed to run" in a["detail"], (a, said[-3000:])
    if c3["outcome"] == "aborted":
        assert a["outcome"] == "ok" and result.code == 0, a
        assert releases(lab, "c3") == {OLD}
    else:
        assert a["outcome"] == "too-late", a
        assert releases(lab, "c3") == {NEW}
    state = lab.state()["clusters"]["c3"]
    assert state["icu_phase"] is None and not state["abort_pending"]
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
