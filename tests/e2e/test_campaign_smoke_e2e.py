"""The fault campaign over the real stack (bench/campaign.py) in small, so the script keeps
working: two seeded scenarios (a fleet left alone; one SIGKILLed and run again), each followed
by recover and status, every invariant checked. The many schedules, faults and kill points
are explored in-process (tests/unit/bench/test_explorer_campaign.py); the signal episodes
have their own end-to-end tests."""

from __future__ import annotations

import subprocess
import sys
import time

from tests.e2e.conftest import ROOT

SEED = 1941


def test_two_scenarios_hold_every_invariant(tmp_path) -> None:  # type: ignore[no-untyped-def]
    started = time.monotonic()
    proc = subprocess.run(
        [
            sys.executable,
            str(ROOT / "bench" / "campaign.py"),
            "--scenarios",
            "2",
            "--seed",
            str(SEED),
            "--jobs",
            "2",
            "--keep",
            str(tmp_path / "failed"),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert "2 scenarios" in proc.stdout and "0 with violations" in proc.stdout, proc.stdout
    assert time.monotonic() - started < 120  # about 20 s on an idle 2-core machine
