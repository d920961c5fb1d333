"""The independent PyEZ walkthrough (scripts/pyez_walkthrough.py) still passes end to end:
ICU to completion, an abort mid-way, and a recovery, observed with raw PyEZ only."""

from __future__ import annotations

import subprocess
import sys

from tests.e2e.conftest import ROOT


def test_independent_pyez_walkthrough_passes() -> None:
    proc = subprocess.run(
        [sys.executable, "scripts/pyez_walkthrough.py"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
        stdin=subprocess.DEVNULL,
    )
    tail = proc.stdout[-3000:] + proc.stderr[-2000:]
    assert proc.returncode == 0, tail
    assert "RESULT: PASS" in proc.stdout, tail
