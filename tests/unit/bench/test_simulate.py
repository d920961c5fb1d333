"""bench/simulate.py: seeded scenarios replay, its kill points kill as a SIGKILL would, and
its invariants catch what they are for (a planted bug is found, with its replay line)."""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from typing import Any

import pytest

from bench.killpoints import DESTRUCTIVE, Kill
from bench.simulate import (
    Bench,
    Scenario,
    baseline,
    main,
    order_violations,
    run,
    sent_twice,
    shrink,
)
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


def test_a_job_delivered_again_after_a_separate_abort_of_its_cluster_starts_nothing(
    tmp_path: Path,
) -> None:
    """Finding F6 (seed 5268 of --seed 5000), fixed: an upgrade that failed its pre-checks,
    then an abort that ran by itself (it stopped the lab's own ICU and recovered), then the
    same upgrade delivered again under its run id sent an ICU. An abort of the cluster since
    the job began now stops it: the redelivery ends `aborted`, nothing sent."""
    scenario = dataclasses.replace(
        Scenario.draw(5268, icu_only=True), fault=None, kill_at=None, abort_at=0.0, redeliver=True
    )
    assert scenario.job == "upgrade" and scenario.state == "icu-in-progress", scenario
    report = run(scenario, tmp_path)
    assert report is not None and report.violations == [], report.outcomes
    assert report.outcomes[-1] == "redelivered: aborted", report.outcomes


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


@pytest.mark.parametrize("seed", [50, 265, 349, 477, 591, 766])
def test_a_recovery_killed_after_its_abort_left_does_not_send_it_again(
    seed: int, tmp_path: Path
) -> None:
    """Finding F1, fixed: a recovery killed after its abort left (its reply unread, or read
    and not yet verified) sent the abort again on its re-run. Now the re-run follows it:
    the device is observed until it shows what a landed abort shows, nothing is resent; an
    abort the device refused is journaled (`recover-refused`) and took no effect."""
    scenario = Scenario.draw(seed, icu_only=True)
    assert scenario.job == "recover", scenario
    report = run(scenario, tmp_path)
    assert report is not None and report.fired is not None, scenario
    assert report.violations == [], report.outcomes


@pytest.mark.parametrize("kill", ["before-send:1", "journal:3"])
def test_a_recovery_abort_journaled_and_never_sent_is_sent_once_the_rollback_shows_it(
    kill: str, tmp_path: Path
) -> None:
    """The other side of F1: an abort journaled and never sent is followed all the same (the
    journal cannot tell it from one that left); when the rollback is then refused because
    the ICU state the abort clears is still on the node, the device has shown the abort
    never took effect: it is sent (journaled first), then the rollback, in that order."""
    at, _, n = kill.partition(":")
    scenario = Scenario(71, "inconsistent", None, None, "recover", at, int(n))
    report = run(scenario, tmp_path)
    assert report is not None and report.fired is not None, scenario
    assert report.violations == [], report.outcomes
    assert report.outcomes[-1] == "ok", report.outcomes


@pytest.mark.parametrize("seed", [181, 709])
def test_an_abort_killed_while_it_recovers_finishes_the_recovery_when_run_again(
    seed: int, tmp_path: Path
) -> None:
    """Finding F3, fixed: an abort killed during its recovery (181: after the reboot left)
    or after its landing was journaled and before the recovery sent anything (709) said
    `skipped` when run again (no ICU visible) and left the cluster inconsistent. Now the
    journal shows the recovery unfinished and the re-run finishes it, nothing sent twice."""
    scenario = Scenario.draw(seed, icu_only=True)
    assert scenario.job == "abort", scenario
    report = run(scenario, tmp_path)
    assert report is not None and report.fired is not None, scenario
    assert report.violations == [], report.outcomes
    assert report.outcomes[1] == "ok", report.outcomes


def test_an_abort_on_an_inconsistent_cluster_with_no_icu_names_the_recovery(
    tmp_path: Path,
) -> None:
    """No ICU visible and nothing in the journal: nothing is sent, but an inconsistent
    cluster is never `skipped`: it is reported `inconsistent` with the command."""
    bench = Bench(Scenario(3, "inconsistent", None, None, "abort"), tmp_path)
    try:
        outcome = bench.job("abort")
    finally:
        bench.close()
    assert outcome is not None and outcome.outcome == "inconsistent", outcome
    assert "python -m runbooks recover --cluster sim-1" in outcome.detail
    assert not [r for r in bench.lab.audit if r["rpc"] in DESTRUCTIVE]


def _audited(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """Every RPC the scenario's labs received (each Bench's audit, kept when it closes)."""
    seen: list[dict[str, Any]] = []
    close = Bench.close

    def keep(self: Bench) -> None:
        seen.extend(self.lab.audit)
        close(self)

    monkeypatch.setattr(Bench, "close", keep)
    return seen


def test_an_abort_journaled_and_never_sent_is_sent_once_the_device_shows_it_never_arrived(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Finding F2 for abort's abort (seed 580), fixed: killed between the abort's record and
    its send, the re-run followed an abort that never left while the ICU ran on to its end.
    Now the re-run sends it when the device shows it never arrived: a node up at the
    re-run's first look has booted since (an ICU with an abort pending begins no new step).
    It reaches the device once: the first never did."""
    scenario = Scenario.draw(580, icu_only=True)
    assert (scenario.job, scenario.kill_at) == ("abort", "before-send"), scenario
    base = baseline(scenario, tmp_path / "alone")
    assert base is not None
    audit = _audited(monkeypatch)
    report = run(scenario, tmp_path, base)
    assert report is not None and report.fired is not None, scenario
    assert report.violations == [], report.outcomes
    to_primary = [
        r for r in audit if r["rpc"] == "abort-in-service-upgrade" and r["node"] == "node0"
    ]
    assert len(to_primary) == 1, audit


def test_an_abort_the_device_could_not_show_missing_is_followed_to_the_icus_own_end(
    tmp_path: Path,
) -> None:
    """F2 for abort's abort, the documented limit (seed 551): killed between the record and
    the send while the secondary was already rebooting, only the primary's reboot (the ICU's
    last step: nothing left to stop) could show the abort never arrived. Nothing is sent
    again; the ICU ends as it would have with nobody asking, which the explorer accepts."""
    scenario = Scenario.draw(551, icu_only=True)
    report = run(scenario, tmp_path)
    assert report is not None and report.fired is not None, scenario
    assert report.violations == [], report.outcomes
    assert report.outcomes[-1] == "the abort never left: the ICU's own end", report.outcomes


@pytest.mark.parametrize("seed", [35, 229, 310, 727])
def test_an_upgrade_killed_at_its_icu_over_the_labs_own_icu_ends_as_left_alone(
    seed: int, tmp_path: Path
) -> None:
    """Findings F4 (229) and F2 for the ICU on a lab whose own ICU runs (35, 310, 727): the
    harness's comparison, not the plans. Left alone, our ICU is refused (one is already in
    progress) and the run fails at once; killed at the send, the re-run re-attaches and
    follows the lab's ICU to its end (nothing sent). The left-alone end was judged 10
    virtual minutes after a run that ended at once, in the middle of the lab's ICU: two
    moments of the same ICU. Ends are now compared once the lab is quiet."""
    scenario = Scenario.draw(seed, icu_only=True)
    assert scenario.state == "icu-in-progress" and scenario.job == "upgrade", scenario
    report = run(scenario, tmp_path)
    assert report is not None and report.fired is not None, scenario
    assert report.violations == [], report.outcomes


@pytest.mark.parametrize("seed", [5087, 5283])
def test_a_leftover_install_whose_journaled_abort_never_left_is_rolled_back_in_order(
    seed: int, tmp_path: Path
) -> None:
    """F1's other side on a leftover install (seeds of --seed 5000): the abort journaled and
    never sent is followed; the node has no in-service-upgrade state, so the rollback is
    accepted. The plan's order held (the abort's record before the rollback), which the
    explorer's order check now reads from the journal as well as from the audit."""
    scenario = Scenario.draw(seed, icu_only=True)
    assert (scenario.job, scenario.kill_at) == ("recover", "before-send"), scenario
    report = run(scenario, tmp_path)
    assert report is not None and report.fired is not None, scenario
    assert report.violations == [], report.outcomes


def test_the_order_check_reads_an_abort_journaled_before_the_rollback() -> None:
    audit = [{"node": "node1", "rpc": "request-package-rollback", "result": "ok"}]
    assert order_violations(audit) != []
    journaled = [(0, {"event": "recover-sending", "step": "abort", "node": "node1"})]
    assert order_violations(audit, journaled) == []
    refused = [{"node": "node1", "rpc": "request-package-rollback", "result": "error"}]
    assert order_violations(refused) == []  # refused: it took no effect


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
