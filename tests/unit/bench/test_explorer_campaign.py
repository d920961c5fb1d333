"""The explorer in the suite: a fixed seed, as many scenarios as fit in about two minutes on
two idle cores (about 0.05-0.06 CPU-s a scenario, the two worker processes included), and
no violation beyond the findings reported and described in docs/development/benchmarks.md
("What the explorer found"), each matched here by its words. A new kind of violation fails
this test with its replay line."""

from __future__ import annotations

import os
import re
import time

import pytest

from bench.simulate import run_all

# Scheduled first (tests/conftest.py) and so sharing the two cores with every other test of
# `make test` for most of the run: 230-270 s of wall there (about 60 s on two idle cores),
# past pytest's default 300 s limit once in five fresh-clone runs.
pytestmark = [pytest.mark.starts_first, pytest.mark.timeout(900)]

SEED = 7
SCENARIOS = int(os.environ.get("SIMULATE_SCENARIOS", "2000"))
KNOWN: dict[str, re.Pattern[str]] = {
    # F2 for abort's abort: an abort journaled and never sent is sent once the device shows
    # it never arrived (tasks.plans.abort.Landing.never_arrived); when only the ICU's last
    # step could show it, the ICU's own end is accepted (bench.simulate.untouched). For the
    # ICU: `upgrade --retry-failed` after the re-run failed (documented, checked). F4 and
    # the ICU's F2 on a lab whose own ICU runs were the harness comparing two moments of that
    # ICU (bench.simulate.Bench.quiet_end).
    # D5 (a dual install journaled and never sent, not resent: a person had to act) is
    # fixed: tasks.plans.dual_reboot._resend_install, once the install deadline passed
    # F1 (a recovery killed after its abort left sent it again on its re-run) is fixed:
    # tasks.plans.recover._abort_once follows an abort an earlier run journaled
    # F3 (an abort killed while it recovered said `skipped` when run again) is fixed:
    # tasks.plans.abort.finish_recovery
    # D1-D4 (the dual reboot: a redelivery after an abort, a garbled pre-check reply, a
    # recover killed before its cancel, a cancel's lost reply) are fixed: benchmarks.md
    # F5 (an upgrade that took another run's abort, delivered again under its run id, sent
    # a new ICU) is fixed: tasks.plans.upgrade.ended_in_this_run, one ICU per run
}


def test_a_fixed_seed_explores_with_no_violation_beyond_the_known_findings() -> None:
    started = time.perf_counter()
    tally = run_all(list(range(SEED, SEED + SCENARIOS)), {"shrink": False}, workers=2)
    seconds = time.perf_counter() - started
    assert tally.scenarios == SCENARIOS
    found = [line for _, text in tally.lines for line in text.splitlines()]
    violations = [line for line in found if line.startswith("seed ")]
    unknown = [v for v in violations if not any(p.search(v) for p in KNOWN.values())]
    assert unknown == [], "\n".join(found)
    print(f"\n{SCENARIOS} scenarios in {seconds:.1f} s, {len(violations)} known violations")
