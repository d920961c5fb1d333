"""bench/simulate.py: seeded scenarios replay, its kill points kill as a SIGKILL would, and
its invariants catch what they are for (a planted bug is found, with its replay line)."""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from typing import Any

import pytest

from bench.killpoints import Kill
from bench.simulate import Scenario, main, order_violations, run, sent_twice, shrink
from tasks.state.journal import LocalJournal

logging.disable(logging.WARNING)


def test_a_seed_draws_the_same_scenario_every_time() -> None:
    assert Scenario.draw(7) == Scenario.draw(7)
    assert len({Scenario.draw(s) for s in range(50)}) > 20
    assert {Scenario.draw(s).kill_at for s in range(200)} >= {"journal", "reply", None}


def test_a_kill_point_is_parsed_and_refused_when_malformed() -> None:
    assert Kill.parse("after-send:2") == Kill("after-send", 2)
    assert Kill.parse("none") is None
    with pytest.raises(ValueError):
        Kill.parse("somewhere:1")


def test_a_few_scenarios_run_with_no_violation(capsys: Any) -> None:
    assert main(["--scenarios", "3", "--seed", "11"]) == 0
    out = capsys.readouterr()
    assert out.out.splitlines()[-1] == "3 scenarios, 0 violations"
    assert "scenarios/s" in out.err


def test_a_killed_upgrade_run_again_sends_one_icu_and_ends_as_left_alone(tmp_path: Path) -> None:
    for kill in ("after-send:1", "reply:30", "journal:12"):
        at, _, n = kill.partition(":")
        report = run(Scenario(5, "healthy", None, None, "upgrade", at, int(n)), tmp_path / at)
        assert report is not None
        assert report.fired is not None, kill  # the kill point was reached
        assert report.violations == [], (kill, report.outcomes)
        assert report.outcomes[-1] == "ok"


def test_a_second_abort_is_handed_to_the_upgrade_and_the_cluster_ends_on_the_old_release(
    tmp_path: Path,
) -> None:
    scenario = Scenario(5, "healthy", None, None, "upgrade", abort_at=600.0)
    report = run(scenario, tmp_path)
    assert report is not None and report.violations == [], report.outcomes
    assert report.outcomes[0] == "upgrade aborted" and report.outcomes[-1] == "ok"


def _drop_icu_intent(monkeypatch: pytest.MonkeyPatch) -> None:
    """The planted bug: the journal loses the ICU's intent record."""
    write = LocalJournal.write

    def lossy(self: LocalJournal, event: Any) -> None:
        if str(event.kind) != "icu-sending":
            write(self, event)

    monkeypatch.setattr(LocalJournal, "write", lossy)


def test_a_journal_that_drops_the_icu_record_is_caught_sending_it_twice(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _drop_icu_intent(monkeypatch)
    scenario = Scenario(5, "healthy", None, None, "upgrade", "after-send", 1)
    report = run(scenario, tmp_path)
    assert report is not None
    assert any("request-package-in-service-upgrade sent again" in v for v in report.violations)
    small = shrink(dataclasses.replace(scenario, fault="session-drop", redeliver=True), tmp_path)
    assert (small.fault, small.redeliver, small.kill) == (None, False, Kill("after-send", 1))


def test_the_explorer_prints_the_replay_line_of_a_failing_seed(
    monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    _drop_icu_intent(monkeypatch)
    flags = ["--fault", "none", "--kill", "after-send:1", "--abort-at", "none", "--no-redeliver"]
    assert main(["--replay", "5", "--jobs", "upgrade", "--states", "healthy", *flags]) == 1
    out = capsys.readouterr().out
    replay = "replay: python -m bench.simulate --replay 5 --job upgrade --state healthy"
    replay += " --method icu"
    assert f"{replay} --prelude none --fault none --kill after-send:1" in out
    assert "replay shrunk: python -m bench.simulate --replay 5" in out
    assert out.splitlines()[-1].startswith("1 scenarios, ") and "0 violations" not in out


def test_the_invariants_catch_a_resend_and_a_wrong_order() -> None:
    audit = [
        {"node": "node1", "rpc": "request-package-rollback"},
        {"node": "node1", "rpc": "request-reboot"},
        {"node": "node1", "rpc": "request-reboot"},
    ]
    assert order_violations(audit) == [
        "request-package-rollback on node1 without abort-in-service-upgrade before it"
    ]
    assert sent_twice(audit, []) == [
        "request-reboot sent again to node1 (1 time(s)) with nothing showing the previous one ended"
    ]
    shown = [(2, {"event": "recover-done"})]  # journaled between the two reboots
    assert sent_twice(audit, shown) == []


def test_a_job_delivered_again_after_a_handed_over_abort_sends_no_second_icu(
    tmp_path: Path,
) -> None:
    """Finding F5 (seed 399), fixed: an upgrade that took another run's abort, delivered
    again under its run id (an engine's redelivery), sent a new ICU; one ICU per run now."""
    scenario = Scenario.draw(399, icu_only=True)
    assert scenario.abort_at is not None and scenario.redeliver, scenario
    report = run(scenario, tmp_path)
    assert report is not None and report.violations == [], report.outcomes
    assert report.outcomes[0] == "upgrade aborted", report.outcomes


@pytest.mark.parametrize("seed", [415, 753])
def test_a_recovery_killed_between_its_reboot_record_and_the_send_is_finished_on_a_re_run(
    seed: int, tmp_path: Path
) -> None:
    """Finding F2 for recover's reboot, fixed: the re-run waited for a reboot that never
    left, on every later run. Now, a whole reboot deadline after the record with the node
    up on its old boot time, the device has shown the reboot did not happen: sent again."""
    scenario = Scenario.draw(seed, icu_only=True)
    assert scenario.job == "recover", scenario
    report = run(scenario, tmp_path)
    assert report is not None and report.fired is not None, scenario
    assert report.violations == [], report.outcomes


def test_a_dual_reboot_delivered_again_after_a_handed_over_abort_sends_nothing(
    tmp_path: Path,
) -> None:
    """Found by the explorer (seed 1116): an `upgrade --allow-outage` that took another run's
    abort before its reboots (its installs cancelled, `aborted`), delivered again under its
    run id, began a new dual reboot (both installs, both reboots); one per run now."""
    scenario = Scenario(
        1116, "healthy", None, None, "upgrade", abort_at=272.2, redeliver=True, method="dual"
    )
    report = run(scenario, tmp_path)
    assert report is not None and report.violations == [], report.violations
    assert report.outcomes[:2] == ["upgrade aborted", "ok"], report.outcomes
    assert report.outcomes[-1] == "redelivered: aborted", report.outcomes


def test_a_dual_reboot_pre_check_read_garbled_once_is_looked_at_again(tmp_path: Path) -> None:
    """Found by the explorer (seed 1163): the dual reboot's pre-checks took a garbled reply to
    `show system storage` as a failed free-space check and ended `failed` (the ICU's look
    again); a killed run that had used up the garbled reply, run again, went on: two ends.
    Now a read the node did not answer is read again, as the ICU's pre-checks do."""
    scenario = Scenario(1163, "healthy", None, "reply-garbled", "upgrade", method="dual")
    report = run(scenario, tmp_path / "alone")
    assert report is not None and report.violations == [], report.violations
    assert report.outcomes == ["ok"], report.outcomes
    killed = dataclasses.replace(scenario, kill_at="journal", kill_n=14)
    report = run(killed, tmp_path / "killed")
    assert report is not None and report.violations == [], report.violations


@pytest.mark.parametrize(
    ("seed", "fault", "kill"),
    [(2284, None, "before-send:2"), (2300, "rollback-reply-lost", "journal:2")],
)
def test_a_dual_reboot_cancel_journaled_and_never_sent_is_sent_once_the_device_shows_it(
    seed: int, fault: str | None, kill: str, tmp_path: Path
) -> None:
    """Found by the explorer: a recover of a dual reboot half-way (both installs pending),
    killed between its cancel's record and the send, ended `failed` on every re-run (the
    journaled cancel waited for, never sent); and a cancel whose reply was lost failed the
    recovery though the device had cancelled. Now the cancel is sent again once the node
    is still pending past the bound a sent one shows in, and a lost reply is read on the
    device: both recoveries end ok on the old release, each cancel received once."""
    at, _, n = kill.partition(":")
    scenario = Scenario(
        seed, "healthy", None, fault, "recover", at, int(n), method="dual", prelude="after-send:2"
    )
    report = run(scenario, tmp_path)
    assert report is not None and report.fired is not None, report
    assert report.violations == [] and report.outcomes[-1] == "ok", report
