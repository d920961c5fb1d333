"""abort and recover, the real jobs against in-process clusters in virtual time
(tests/inprocess.py): every documented outcome of an abort by ICU phase, the refusals and
faults of recover, and re-runs after a kill. The SSH tier keeps one abort and one fleet-wide
recover over the real stack (tests/e2e/test_abort_recover_e2e.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bench.simulate import Scenario, run
from tasks.jobs import srx_abort, srx_recover
from tests.inprocess import ABORT, NEW, OLD, REBOOT, ROLLBACK

NAME = "c1"


def in_icu(phase: str, *faults: str) -> dict[str, Any]:
    """A cluster whose ICU somebody started, now in `phase`. phase-holds: the phase stands
    still until the abort reaches the cluster."""
    return {"name": NAME, "state": "icu-in-progress", "icu_phase": phase, "faults": list(faults)}


@pytest.mark.parametrize(
    ("phase", "outcome", "final"),
    [
        ("validate", "ok", OLD),
        ("push", "ok", OLD),
        ("install-secondary", "ok", OLD),
        ("install-primary", "ok", OLD),
        ("failover", "ok", OLD),
        ("secondary-reboot", "ok", OLD),  # inconsistent, then recovered
        ("primary-reboot", "too-late", NEW),
    ],
)
def test_abort_at_every_phase_ends_as_documented(rig: Any, phase, outcome, final) -> None:  # type: ignore[no-untyped-def]
    r = rig(in_icu(phase, "phase-holds"))
    # an ICU before its first install is done shows nothing: --even-if-idle
    invisible = phase in ("validate", "push", "install-secondary")
    c = r.run(srx_abort, NAME, even_if_idle=invisible)
    assert (c.outcome, c.state) == (outcome, "healthy"), c
    assert r.releases(NAME) == {"node0": final, "node1": final}
    aborts = [node for node, rpc in r.destructive(NAME) if rpc == ABORT]
    # the first abort goes to the RG0 primary of the moment: node1 once node0 is rebooting
    assert aborts[0] == ("node1" if phase == "primary-reboot" else "node0")
    if phase == "secondary-reboot":
        assert "inconsistent" in c.detail and "recovered" in c.detail
        secondary = [rpc for node, rpc in r.destructive(NAME) if node == "node1"]
        assert secondary == [ABORT, ROLLBACK, REBOOT]


def test_abort_of_an_invisible_icu_needs_even_if_idle(rig: Any) -> None:
    r = rig(in_icu("validate", "phase-holds"))
    c = r.run(srx_abort, NAME)
    assert c.outcome == "skipped" and "--even-if-idle" in c.detail, c
    assert r.destructive(NAME) == []


def test_abort_no_recover_names_the_command_and_sends_only_the_abort(rig: Any) -> None:
    r = rig(in_icu("secondary-reboot", "phase-holds"))
    c = r.run(srx_abort, NAME, no_recover=True)
    assert (c.outcome, c.state) == ("inconsistent", "inconsistent"), c
    assert "python -m runbooks recover --cluster c1" in c.detail
    assert r.destructive(NAME) == [("node0", ABORT)]


def test_abort_skips_clusters_with_no_icu(rig: Any) -> None:
    r = rig({"name": "c1"}, {"name": "c2"})
    outcomes = r.run_all(srx_abort)
    assert {c.outcome for c in outcomes.values()} == {"skipped"}
    assert r.destructive("c1") == r.destructive("c2") == []


@pytest.mark.parametrize("fault", ["session-drop", "abort-slow"])
def test_abort_survives_session_drops_and_a_slow_landing(rig: Any, fault: str) -> None:
    # session-drop: the primary closes every session while we wait for the abort to land;
    # abort-slow: the current operation runs ten minutes longer before it lands
    r = rig(in_icu("install-primary", fault, "phase-holds"))
    c = r.run(srx_abort, NAME)
    assert c.outcome == "ok", c
    # sent once, it landed after the install, before any reboot: nothing to recover
    assert r.destructive(NAME) == [("node0", ABORT)]
    assert r.releases(NAME) == {"node0": OLD, "node1": OLD}


@pytest.mark.parametrize(
    ("spec", "reason"),
    [
        ({"state": "inconsistent", "faults": ["inconsistent-primary"]}, "primary"),
        ({"state": "node-down"}, "unreachable"),
        ({"state": "inconsistent", "faults": ["roles-disagree"]}, "disagree"),
        # node1 on 24.4R1, node0 on 24.2R2: rollback back across 24.4R1 is not allowed on
        # SRX300-family (tasks/upgrade_paths.py): refused before the abort, nothing sent
        (
            {"state": "inconsistent", "release": "24.2R2-S1.3", "target": "24.4R1.9"},
            "cannot roll back from 24.4R1.9 to 24.2R2-S1.3",
        ),
    ],
)
def test_recover_refuses_what_it_cannot_judge_and_sends_nothing(
    rig: Any, spec: dict[str, Any], reason: str
) -> None:
    r = rig({"name": NAME, **spec})
    c = r.run(srx_recover, NAME)
    assert c.outcome == "refused" and reason in c.detail, c
    assert r.destructive(NAME) == []


@pytest.mark.parametrize(
    ("fault", "outcome", "words", "sent"),
    [
        # stopped at the failed rollback: no reboot into a bad state
        ("rollback-fails", "failed", "rollback", [ABORT, ROLLBACK]),
        ("reboot-hangs", "failed", "reboot", [ABORT, ROLLBACK, REBOOT]),
        ("reboot-reply-lost", "ok", "recovered", [ABORT, ROLLBACK, REBOOT]),
    ],
)
def test_recover_faults(rig: Any, fault: str, outcome: str, words: str, sent: list[str]) -> None:
    r = rig({"name": NAME, "state": "inconsistent", "faults": [fault]})
    c = r.run(srx_recover, NAME)
    assert c.outcome == outcome and words in c.detail, c
    assert r.destructive(NAME) == [("node1", rpc) for rpc in sent]  # never resent
    if fault == "rollback-fails":
        assert c.state == "inconsistent"


def test_a_lost_rollback_reply_is_read_from_the_device_and_journaled(rig: Any) -> None:
    r = rig({"name": NAME, "state": "inconsistent", "faults": ["rollback-reply-lost"]})
    c = r.run(srx_recover, NAME)
    assert (c.outcome, c.state) == ("ok", "healthy"), c
    assert [rpc for _, rpc in r.destructive(NAME)] == [ABORT, ROLLBACK, REBOOT]
    notes = [e.get("message", "") for e in r.journal(NAME) if e.get("event") == "note"]
    assert any("rollback: no reply" in n for n in notes), notes


def test_recover_again_after_a_recovery_is_skipped_and_sends_nothing(rig: Any) -> None:
    r = rig({"name": NAME, "state": "inconsistent"})
    assert r.run(srx_recover, NAME).outcome == "ok"
    sent = r.destructive(NAME)
    again = r.run(srx_recover, NAME)
    assert (again.outcome, again.state) == ("skipped", "healthy"), again
    assert r.destructive(NAME) == sent


def test_recover_dry_run_sends_nothing(rig: Any) -> None:
    r = rig({"name": NAME, "state": "inconsistent"})
    c = r.run(srx_recover, NAME, dry_run=True)
    assert c.outcome == "would-recover" and "would recover node1" in c.detail, c
    assert r.destructive(NAME) == []


def test_a_recovery_killed_after_its_rollback_resumes_at_the_reboot(tmp_path: Path) -> None:
    # killed just after the second destructive send (the rollback, whose reply never comes),
    # as a SIGKILL leaves it; the same job run again
    scenario = Scenario(5, "inconsistent", None, "rollback-reply-lost", "recover", "after-send", 2)
    report = run(scenario, tmp_path)
    assert report is not None and report.fired is not None
    assert report.violations == [], report.violations  # nothing sent twice, same end
    assert report.outcomes[-1] == "ok", report.outcomes
