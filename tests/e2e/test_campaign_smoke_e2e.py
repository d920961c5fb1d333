"""The fault campaign (bench/campaign.py) in small: five seeded scenarios, one of each
episode but the last (left alone, SIGKILL and re-run, SIGTERM with abort, SIGTERM with
finish, abort from a second process), each followed by recover and status, every invariant
checked. Seed 1941 draws a garbled reply, a session drop and refusals among healthy
clusters while staying under a minute on two cores."""

from __future__ import annotations

import subprocess
import sys
import time

from tests.e2e.conftest import ROOT

SEED = 1941


def test_five_scenarios_hold_every_invariant(tmp_path) -> None:  # type: ignore[no-untyped-def]
    started = time.monotonic()
    proc = subprocess.run(
        [
            sys.executable,
            str(ROOT / "bench" / "campaign.py"),
            "--scenarios",
            "5",
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
    assert "5 scenarios" in proc.stdout and "0 with violations" in proc.stdout, proc.stdout
    assert time.monotonic() - started < 120  # about 45 s on an idle 2-core machine
