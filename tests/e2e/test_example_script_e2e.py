"""A user's own Nornir script (examples/upgrade_site.py) with the srx_* tasks, against the
lab: it upgrades a filtered set with print_result, and keeps the runbooks' promises when it
is killed mid-ICU: the next run re-attaches, no second ICU, the journal under state_dir."""

from __future__ import annotations

import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

from tests.e2e.conftest import ROOT, Runbooks, icu_sends, kill_group, wait_until

ICU = "request-package-in-service-upgrade"
TARGET = "24.2R2-S1.3"


def script(ops: Runbooks, *args: str) -> list[str]:
    return [
        sys.executable,
        str(ROOT / "examples" / "upgrade_site.py"),
        str(ops.config),
        "--inventory",
        str(ops.lab.inventory_dir),
        *args,
    ]


def start(ops: Runbooks, *args: str, name: str) -> tuple[subprocess.Popen[str], Path]:
    out = ops.workdir / f"{name}.out"
    with out.open("w") as fh:
        proc = subprocess.Popen(
            script(ops, *args),
            cwd="/",  # the config, not the working directory, says where the journal is
            stdout=fh,
            stderr=subprocess.STDOUT,
            text=True,
            env=ops.env(),
            start_new_session=True,
        )
    return proc, out


def test_own_script_upgrades_a_filtered_set(make_lab, runbooks_for) -> None:  # type: ignore[no-untyped-def]
    # GIVEN a lab of three clusters on sites lab-a, lab-b, lab-c
    lab = make_lab(count=3)
    ops = runbooks_for(lab)
    # WHEN the user's script upgrades site lab-a only
    proc, out = start(ops, "--filter", "site=lab-a", name="own")
    assert proc.wait(timeout=240) == 0, out.read_text()[-4000:]
    text = out.read_text()
    # THEN print_result shows the steps as subtasks (the pre-checks a group of one subtask
    # per check) and the outcome
    for title in ("connect", "start-icu", "icu secondary-rebooting", "verify"):
        assert f"---- {title} " in text, title
    assert "vvvv pre-checks " in text and "---- cluster-healthy " in text
    assert "br-0001: ok (healthy)" in text
    # only the filtered cluster got an ICU, once, and it is on the target
    assert icu_sends(lab.audit()) == Counter({"br-0001": 1})
    nodes = lab.state()["clusters"]["br-0001"]["nodes"]
    assert {n["release"] for n in nodes.values()} == {TARGET}
    # the journal is where the config says (not under the script's working directory)
    assert [r["event"] for r in ops.journal("br-0001")][-1] == "cluster-finished"


def test_own_script_killed_mid_icu_resumes_without_a_second_icu(make_lab, runbooks_for) -> None:  # type: ignore[no-untyped-def]
    # GIVEN the user's script upgrading two clusters, slow enough to be caught mid-ICU
    lab = make_lab([{"name": "s-1"}, {"name": "s-2"}], speed=150)
    ops = runbooks_for(lab)
    proc, _ = start(ops, name="first")
    wait_until(lambda: len(icu_sends(lab.audit())) == 2, timeout=60, message="both ICUs sent")
    # WHEN it is killed without warning
    kill_group(proc, signal.SIGKILL)
    assert any(r["event"] == "icu-sending" for r in ops.journal("s-1"))
    # AND run again
    again, out = start(ops, name="again")
    assert again.wait(timeout=300) == 0, out.read_text()[-4000:]
    # THEN it re-attached to both ICUs and sent none again; both clusters verified
    assert icu_sends(lab.audit()) == Counter({"s-1": 1, "s-2": 1})
    state = lab.state()["clusters"]
    for name in ("s-1", "s-2"):
        assert {n["release"] for n in state[name]["nodes"].values()} == {TARGET}
        notes = [r.get("message", "") for r in ops.journal(name) if r["event"] == "note"]
        assert any("re-attaching" in n for n in notes), notes
    assert "s-1: ok" in out.read_text() and "s-2: ok" in out.read_text()
