"""A run paused for a person after its canary (--pause-after-canary), answered from another
shell by `python -m runbooks approve|reject RUN_ID` (runbooks/fleet/approval.py)."""

from __future__ import annotations

import re
import subprocess
import sys
from typing import Any

import pytest

from simulator.testing import wait_until
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
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=60, env=ops.env(), cwd=ROOT)
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
    again = subprocess.run(cmd, capture_output=True, text=True, timeout=60, env=ops.env(), cwd=ROOT)
    assert again.returncode == 2 and "already answered" in again.stderr


def test_pause_after_canary_needs_a_canary(make_lab: Any, runbooks_for: Any) -> None:
    lab = make_lab(count=1, speed=300)
    result = runbooks_for(lab).run("upgrade", "--pause-after-canary")
    assert result.code == 2 and "--pause-after-canary needs --canary N" in result.stderr
    assert lab.audit() == [] or destructive(lab.audit()) == []
