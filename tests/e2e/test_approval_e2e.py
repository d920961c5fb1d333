"""A run paused for a person after its canary (--pause-after-canary), answered from another
shell by `python -m runbooks approve|reject RUN_ID` (runbooks/fleet/approval.py)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from typing import Any

import pytest

from simulator.testing import wait_until
from tests import warm_processes
from tests.e2e.conftest import ROOT, destructive

ICU = "request-package-in-service-upgrade"


def paused_run_id(err_file: Any) -> str:
    """The run id once the run says it is paused (its stderr), waited for with a deadline."""

    def said() -> str | None:
        found = re.search(r"run (\S+): the canary is ok; paused for approval", err_file.read_text())
        return found.group(1) if found else None

    return str(wait_until(said, 120, message="the run paused for approval"))


@pytest.mark.parametrize("answer", ["approve", "reject"])
def test_a_person_answers_a_run_paused_after_its_canary(
    make_lab: Any, runbooks_for: Any, answer: str
) -> None:
    # GIVEN three clusters upgraded with a canary of one and a pause after it
    lab = make_lab(count=3, speed=300)
    ops = runbooks_for(lab)
    proc, report = ops.start("upgrade", "--canary", "1", "--pause-after-canary", "--yes")
    run_id = paused_run_id(report.with_suffix(".err"))
    # WHILE it waits: the canary done, nothing else sent
    canary_icus = [r["cluster"] for r in lab.audit() if r["rpc"] == ICU]
    assert len(canary_icus) == 1, canary_icus
    # WHEN a person answers from another shell
    cmd = [sys.executable, "-m", "runbooks", answer, run_id, "--config", str(ops.config)]
    cmd += ["--reason", "change CHG0001"]
    done = warm_processes.run(
        cmd, capture_output=True, text=True, timeout=60, env=ops.env(), cwd=ROOT
    )
    assert done.returncode == 0, done.stderr
    result = ops.wait(proc, report)
    # THEN approved: the rest is upgraded; rejected: the rest is not started, with the reason
    outcomes = {n: c["outcome"] for n, c in result.report["clusters"].items()}
    icus = [r["cluster"] for r in destructive(lab.audit()) if r["rpc"] == ICU]
    if answer == "approve":
        assert set(outcomes.values()) == {"ok"} and result.code == 0, result.stdout
        assert len(icus) == 3
    else:
        rest = {n: c for n, c in result.report["clusters"].items() if n not in canary_icus}
        assert {c["outcome"] for c in rest.values()} == {"not-started"}, rest
        assert all("rejected by" in c["detail"] and "CHG0001" in c["detail"] for c in rest.values())
        assert icus == canary_icus and result.code == 1
    # AND a second answer is refused
    again = warm_processes.run(
        cmd, capture_output=True, text=True, timeout=60, env=ops.env(), cwd=ROOT
    )
    assert again.returncode == 2 and "already answered" in again.stderr


def test_pause_after_canary_needs_a_canary(make_lab: Any, runbooks_for: Any) -> None:
    lab = make_lab(count=1, speed=300)
    result = runbooks_for(lab).run("upgrade", "--pause-after-canary")
    assert result.code == 2 and "--pause-after-canary needs --canary N" in result.stderr
    assert lab.audit() == [] or destructive(lab.audit()) == []


def test_waves_with_a_pause_before_each_one_approved_then_rejected(
    make_lab: Any, runbooks_for: Any
) -> None:
    # GIVEN four clusters in waves ending at 1, 50% and 100%: waves of 1, 1 and 2, worked
    # by two worker processes
    lab = make_lab(count=4, speed=300)
    ops = runbooks_for(lab)
    events = ops.workdir / "events.jsonl"
    args = ("--waves", "1,50%,100%", "--pause-between-waves", "--yes", "--events", str(events))
    args += ("--processes", "2")  # the main process waits; its workers start nothing
    proc, report = ops.start("upgrade", *args)
    err = report.with_suffix(".err")

    def paused_before(wave: int) -> str:
        pattern = rf"run (\S+): wave {wave - 1} of 3 is ok; paused for approval before wave {wave}"

        def said() -> str | None:
            found = re.search(pattern, err.read_text())
            return found.group(1) if found else None

        return str(wait_until(said, 120, message=f"the pause before wave {wave}"))

    def answer(word: str, run_id: str) -> subprocess.CompletedProcess[str]:
        cmd = [sys.executable, "-m", "runbooks", word, run_id, "--config", str(ops.config)]
        return warm_processes.run(
            [*cmd, "--reason", f"CHG0002 {word}"],
            capture_output=True,
            text=True,
            timeout=60,
            env=ops.env(),
            cwd=ROOT,
        )

    run_id = paused_before(2)
    assert len([r for r in lab.audit() if r["rpc"] == ICU]) == 1  # wave 1 only
    assert answer("approve", run_id).returncode == 0
    assert paused_before(3) == run_id
    assert len([r for r in lab.audit() if r["rpc"] == ICU]) == 2  # waves 1 and 2
    # WHEN the last wave is rejected
    assert answer("reject", run_id).returncode == 0
    result = ops.wait(proc, report)
    # THEN the first two waves are ok, the last two clusters not started with the reason
    outcomes = sorted(c["outcome"] for c in result.report["clusters"].values())
    assert outcomes == ["not-started", "not-started", "ok", "ok"] and result.code == 1
    rejected = [c for c in result.report["clusters"].values() if c["outcome"] == "not-started"]
    assert all("CHG0002 reject" in c["detail"] for c in rejected), rejected
    assert len([r for r in destructive(lab.audit()) if r["rpc"] == ICU]) == 2
    # AND the events tell each wave's end, each pause and each answer, in order
    kinds = [json.loads(line) for line in events.read_text().splitlines()]
    said = [(k["event"], k.get("wave")) for k in kinds if k["event"] != "cluster-phase"]
    told = [s for s in said if s[0] in ("wave-ended", "paused-for-approval", "approval")]
    assert told == [
        ("wave-ended", 1),
        ("paused-for-approval", 2),
        ("approval", 2),
        ("wave-ended", 2),
        ("paused-for-approval", 3),
        ("approval", 3),
    ], told
    assert [k["approved"] for k in kinds if k["event"] == "approval"] == [True, False]
