"""Around a way with a dual reboot, through the real jobs against in-process clusters
(simulator/inprocess.py) in virtual time: the window fit of the whole way (every hop by its
method), `status` between hops, every hop's package checked before anything is sent, and
`abort` at each phase of a dual reboot. Nothing here opens an SSH session."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from simulator.inprocess import InProcessLab, nornir_for
from simulator.testing import DESTRUCTIVE_RPCS
from tasks.device.wire import WireDevices
from tasks.executor import LogSink
from tasks.jobs import srx_plan, srx_upgrade
from tasks.plans.estimates import estimate
from tasks.srx_facts import DEFAULT_TIMING
from tasks.state.backends import LocalBackend, build_context
from tasks.state.clock import VirtualClock
from tasks.state.run_context import ClusterRun
from tasks.state.settings import Timing
from tasks.upgrade_paths import plan_hops

pytestmark = pytest.mark.unit

OLD, HOP, TARGET = "23.4R2-S3.9", "24.4R1.9", "25.2R1.9"
ACROSS = {"name": "c1", "model": "SRX345", "target": TARGET, "packages": [HOP]}
HOUR = 3600.0


@dataclass
class Rig:
    clock: VirtualClock
    lab: InProcessLab
    state: Path
    runs: int = 0

    def run(self, job: Any, window: float | None = None, sink: Any = None, **kwargs: Any) -> Any:
        """One job on c1 in a run of its own; `window`: seconds its window has left; `sink`:
        the run's (a Killer's: the run dies at a journal record, returns None)."""

        def before_start(task: Any, run: ClusterRun) -> None:
            if window is not None:
                run.window_end = self.clock.time() + window
                run.icu_estimate = (HOUR, "timing.icu_estimate")

        self.runs += 1
        context = build_context(
            LocalBackend(self.state),
            run_id=f"run-{self.runs}",
            state_dir=self.state,
            sink=sink or LogSink(),
            transcripts=False,
            clock=self.clock,
            devices=WireDevices(self.lab),
            before_start=before_start,
        )
        if sink is not None:
            sink.context = context
        try:
            result = nornir_for(self.lab).filter(name="c1").run(task=job, context=context, **kwargs)
        except Killed:
            return None
        found = result["c1"][0].result
        assert found is not None, result["c1"][0].exception
        return found

    def sends(self) -> Counter[tuple[str, str]]:
        return Counter((r["rpc"], r["node"]) for r in self.lab.sent("c1", *DESTRUCTIVE_RPCS))

    def releases(self) -> set[str]:
        return {n["release"] for n in self.lab.truth("c1")["nodes"].values()}


class Killed(BaseException):
    """The run dies here (not an Exception: nothing of the runbooks catches it)."""


class At(LogSink):
    """At the journal record of `dual` on `node`: the run dies (`kill`) or is interrupted
    with `--on-interrupt abort` (else), as a Ctrl-C would."""

    def __init__(self, dual: str, node: str, kill: bool) -> None:
        self.want, self.kill, self.fired = (dual, node), kill, False
        self.context: Any = None

    def event(self, event: Any, *, quiet: bool = False) -> None:
        super().event(event, quiet=quiet)
        data = event.data
        node = str(data.get("node") or (data.get("nodes") or [""])[0])
        if self.fired or (data.get("dual"), node) != self.want:
            return
        self.fired = True
        if self.kill:
            raise Killed(str(self.want))
        self.context.gate.interrupt("abort")


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Any]:
    made: list[Rig] = []

    def make(cluster: dict[str, Any] = ACROSS) -> Rig:
        clock = VirtualClock()
        made.append(Rig(clock, InProcessLab(clock, {"clusters": [cluster]}), tmp_path))
        return made[-1]

    yield make
    for r in made:
        r.lab.close()
        r.clock.close()


# 1. the window fit of the whole way ----------------------------------------------------


def test_estimate_is_per_hop_and_per_method() -> None:
    timing = Timing(**{k: float(v) for k, v in DEFAULT_TIMING.items()})
    hops, _ = plan_hops("SRX345", OLD, TARGET, {HOP: "h.tgz", TARGET: "t.tgz"})
    guess = estimate(hops, timing)
    dual = timing.install_deadline + timing.reboot_deadline + timing.settle_deadline
    assert [(h.method, h.seconds) for h in guess.hops] == [
        ("dual-reboot", dual),
        ("icu", timing.icu_estimate),
    ]
    assert guess.seconds == dual + timing.icu_estimate == 3 * HOUR
    assert guess.words().startswith("hop 1/2 dual-reboot to 24.4R1.9 120 min (install + reboot")
    assert "hop 2/2 icu to 25.2R1.9 60 min (timing.icu_estimate)" in guess.words()
    past = estimate(hops, timing, (600.0, "median of 3 past ICUs of SRX345"))
    assert past.hops[1].seconds == 600 and past.hops[0].seconds == dual


def test_a_way_that_does_not_fit_the_window_is_not_started_nothing_sent(rig: Any) -> None:
    r = rig()
    # 2 h 30 min left: the ICU's hour fits (the runner's check), the whole way's 3 h not
    outcome = r.run(srx_upgrade, window=2.5 * HOUR, allow_outage=True)
    assert outcome.outcome == "not-started", outcome.detail
    assert outcome.detail.startswith("would not fit: the plan needs 180 min (hop 1/2 dual-reboot")
    assert "hop 2/2 icu to 25.2R1.9 60 min (timing.icu_estimate)" in outcome.detail
    assert outcome.detail.endswith("150 min left in the window; nothing sent")
    assert outcome.extra["plan"]["estimate"]["seconds"] == 3 * HOUR
    assert r.sends() == Counter() and r.releases() == {OLD}


def test_a_dry_run_names_the_estimate_and_a_window_that_holds_it_is_carried_out(rig: Any) -> None:
    r = rig({**ACROSS, "packages": [HOP, TARGET]})
    dry = r.run(srx_upgrade, window=4 * HOUR, allow_outage=True, dry_run=True)
    assert dry.outcome == "would-upgrade" and dry.detail.endswith("(estimate 180 min)"), dry
    assert [h["method"] for h in dry.extra["plan"]["estimate"]["hops"]] == ["dual-reboot", "icu"]
    outcome = r.run(srx_upgrade, window=4 * HOUR, allow_outage=True)
    assert outcome.outcome == "ok", outcome.detail
    assert r.releases() == {TARGET}


def test_the_plan_job_shows_each_hops_estimate(rig: Any) -> None:
    plan = rig().run(srx_plan)
    said = plan.to_json()["estimate"]
    assert [(h["method"], h["basis"]) for h in said["hops"]] == [
        ("dual-reboot", "install + reboot + settle deadlines: a dual reboot cannot be stopped"),
        ("icu", "timing.icu_estimate"),  # the plan job reads no journal: the timing's figure
    ]
    assert said["seconds"] == sum(h["seconds"] for h in said["hops"]) > 0


# 2. status between hops ----------------------------------------------------------------


def test_status_names_a_cluster_between_hops(rig: Any) -> None:
    from tasks.jobs import srx_status

    r = rig()  # no 25.2R1 package on node1: the way stops after its first hop
    before = r.run(srx_status)
    assert before.state == "healthy" and before.between is None
    # hop 1 alone: a run to 24.4R1.9 (a way stopped after its first hop looks the same)
    hop = r.run(srx_upgrade, allow_outage=True, target_release=HOP, package=_package(HOP))
    assert hop.outcome == "ok" and r.releases() == {HOP}, hop.detail
    between = r.run(srx_status)
    assert between.state == "healthy" and between.healthy
    assert between.between is not None and between.between.startswith(
        f"between hops: both nodes on {HOP}, the dual reboot to it verified by run run-"
    )
    assert f"the target {TARGET} is the next hop's" in between.between
    assert between.extra()["between_hops"] == between.between
    assert between.words == between.between  # no finding: the table's column says it
    # the next hop carried out: on the target, no longer between hops
    done = r.run(srx_upgrade)
    assert done.outcome == "ok" and r.releases() == {TARGET}, done.detail
    assert r.run(srx_status).between is None


def _package(release: str) -> str:
    from simulator.__main__ import package_for

    return package_for(release)


# 3. every hop's package before anything is sent ---------------------------------------


def test_dual_reboot_for_every_hop_checks_hop_2s_package_on_both_nodes_first(rig: Any) -> None:
    r = rig()  # 25.2R1's package on node0 only: hop 2's dual reboot needs it on both
    for dry in (True, False):
        outcome = r.run(srx_upgrade, method="dual-reboot", allow_outage=True, dry_run=dry)
        assert outcome.outcome == "failed", outcome.detail
        assert outcome.detail == (
            f"pre-check hop-packages failed: hop 2/2 dual-reboot to {TARGET}: "
            f"{_package(TARGET)} not found on node1; nothing sent"
        )
        assert outcome.extra["checks"][0]["name"] == "hop-packages"
    assert r.sends() == Counter() and r.releases() == {OLD}


def test_auto_checks_the_icu_hops_package_on_the_primary_first(rig: Any) -> None:
    r = rig({**ACROSS, "faults": ["package-missing"]})
    outcome = r.run(srx_upgrade, allow_outage=True)
    assert outcome.outcome == "failed", outcome.detail
    assert f"hop 2/2 icu to {TARGET}: {_package(TARGET)} not found on node0" in outcome.detail
    assert r.sends() == Counter() and r.releases() == {OLD}


def test_every_hops_package_in_place_the_check_passes_with_its_evidence(rig: Any) -> None:
    r = rig()
    dry = r.run(srx_upgrade, allow_outage=True, dry_run=True)  # auto: hop 2 by ICU, node0
    assert dry.outcome == "would-upgrade", dry.detail


# 4. an approved plan with hops and the outage approved --------------------------------


def _approve(r: Rig, tmp: Path, **options: Any) -> tuple[Any, dict[str, Any]]:
    """The dry run saved as a plan file and read back, as `--dry-run --save-plan` then
    `--plan` do (runbooks.fleet.approved_plans)."""
    from runbooks.fleet import approved_plans
    from runbooks.output.report import ClusterReport, Report

    dry = r.run(srx_upgrade, dry_run=True, **options)
    assert dry.outcome == "would-upgrade", dry.detail
    report = Report(job="upgrade", run_id="dry")
    report.clusters["c1"] = ClusterReport(
        dry.outcome, dry.state, dry.versions, dry.detail, dry.extra
    )
    path = tmp / "plan.json"
    approved_plans.save(path, report, {**CLI_DEFAULTS, **options})
    return approved_plans.load(path)


# the options a plan fixes as the CLI gives them when no flag is given
CLI_DEFAULTS: dict[str, Any] = {
    "target_release": None,
    "package": None,
    "no_sync": False,
    "no_tcp_syn_check": False,
    "no_validate": False,
    "unlink": False,
    "restore_primary": None,
    "allow_alarms": (),
    "align_rgs": False,
    "service_checks": True,
    "allow_undocumented_path": False,
    "allow_outage": False,
    "method": "auto",
}


def test_an_approved_plan_carries_its_hops_and_its_outage_out(rig: Any, tmp_path: Path) -> None:
    r = rig({**ACROSS, "packages": [HOP, TARGET]})
    plan, options = _approve(r, tmp_path, allow_outage=True)
    entry = plan.clusters["c1"]
    assert [(h.method, h.to) for h in entry.hops] == [("dual-reboot", HOP), ("icu", TARGET)]
    assert options["allow_outage"] is True and options["method"] == "auto"
    outcome = r.run(srx_upgrade, approved=plan, **options)
    assert outcome.outcome == "ok", outcome.detail
    assert [(h["to"], h["outcome"]) for h in outcome.extra["hops"]] == [(HOP, "ok"), (TARGET, "ok")]
    assert outcome.extra["approved_plan"] == plan.source
    assert r.releases() == {TARGET}
    assert r.sends()[("request-package-in-service-upgrade", "node0")] == 1


def test_an_approved_plan_whose_cluster_changed_is_not_started(rig: Any, tmp_path: Path) -> None:
    r = rig({**ACROSS, "packages": [HOP, TARGET]})
    plan, options = _approve(r, tmp_path, allow_outage=True)
    # someone takes the cluster to 24.4R1 between the review and the approved run
    r.run(srx_upgrade, allow_outage=True, target_release=HOP, package=_package(HOP))
    before = r.sends()
    outcome = r.run(srx_upgrade, approved=plan, **options)
    assert outcome.outcome == "not-started", outcome.detail
    assert outcome.detail.startswith("state changed since the plan was approved: node0 ")
    assert f"{OLD} -> {HOP}" in outcome.detail and outcome.detail.endswith("nothing sent")
    assert r.sends() == before


def test_an_approved_plan_for_every_hop_by_dual_reboot(rig: Any, tmp_path: Path) -> None:
    r = rig({**ACROSS, "packages": [HOP, TARGET]})
    plan, options = _approve(r, tmp_path, allow_outage=True, method="dual-reboot")
    assert options["method"] == "dual-reboot"
    assert {h.method for h in plan.clusters["c1"].hops} == {"dual-reboot"}
    outcome = r.run(srx_upgrade, approved=plan, **options)
    assert outcome.outcome == "ok", outcome.detail
    assert (
        r.releases() == {TARGET} and r.sends()[("request-package-in-service-upgrade", "node0")] == 0
    )


# 5. abort during a dual reboot ---------------------------------------------------------

ICU_ABORT = "request-abort-in-service-upgrade"


def _installs_pending(r: Rig) -> None:
    """An upgrade killed with node1's install pending and node0's journaled, never sent."""
    assert r.run(srx_upgrade, sink=At("install", "node0", kill=True), allow_outage=True) is None
    pending = {n: v["pending"] for n, v in r.lab.truth("c1")["nodes"].items()}
    assert pending == {"node0": None, "node1": HOP} or pending["node1"], pending


def test_abort_before_the_reboots_cancels_the_installs_as_recover_does(rig: Any) -> None:
    from tasks.jobs import srx_abort

    r = rig()
    _installs_pending(r)
    dry = r.run(srx_abort, dry_run=True)
    assert dry.outcome == "would-abort" and "would cancel the dual reboot's installs" in dry.detail
    before = r.sends()
    outcome = r.run(srx_abort)
    assert outcome.outcome == "ok", outcome.detail
    assert outcome.detail.startswith(
        f"no ICU to abort: the dual reboot to {HOP} has installs sent to node0 and node1"
    )
    assert "cancelled the dual reboot's installs" in outcome.detail
    sent = r.sends() - before
    assert sent == Counter({("request-package-rollback", "node1"): 1}), sent  # no ICU abort
    truth = r.lab.truth("c1")
    assert r.releases() == {OLD} and not any(n["pending"] for n in truth["nodes"].values())
    assert truth["mixed_release"] == []


def test_abort_no_recover_before_the_reboots_sends_nothing_and_names_recover(rig: Any) -> None:
    from tasks.jobs import srx_abort

    r = rig()
    _installs_pending(r)
    before = r.sends()
    outcome = r.run(srx_abort, no_recover=True)
    assert outcome.outcome == "refused", outcome.detail
    assert "--no-recover: nothing sent. `python -m runbooks recover` cancels" in outcome.detail
    assert r.sends() == before


def test_abort_after_the_reboots_were_sent_sends_nothing_too_late(rig: Any) -> None:
    from tasks.jobs import srx_abort, srx_recover

    r = rig()
    assert r.run(srx_upgrade, sink=At("reboot", "node0", kill=True), allow_outage=True) is None
    before = r.sends()
    outcome = r.run(srx_abort)
    assert outcome.outcome == "refused", outcome.detail
    assert outcome.detail.startswith(f"too late to abort: the dual reboot to {HOP} sent its")
    assert "nothing sent" in outcome.detail and "`python -m runbooks recover`" in outcome.detail
    assert r.sends() == before
    assert r.run(srx_recover).outcome == "ok"  # as it says: recover finishes it


def test_an_abort_asked_of_the_upgrade_before_its_reboots_stops_and_cancels(rig: Any) -> None:
    r = rig()
    outcome = r.run(srx_upgrade, sink=At("install", "node1", kill=False), allow_outage=True)
    assert outcome.outcome == "aborted", outcome.detail
    assert outcome.detail.startswith("interrupted before the dual reboot's reboots: cancelled")
    sends = r.sends()
    assert ("request-reboot", "node0") not in sends and (
        "request-package-add",
        "node0",
    ) not in sends
    assert sends[("request-package-rollback", "node1")] == 1
    assert r.releases() == {OLD} and r.lab.truth("c1")["mixed_release"] == []


def test_an_abort_asked_of_the_upgrade_after_its_reboots_ends_the_hop_too_late(rig: Any) -> None:
    r = rig({**ACROSS, "packages": [HOP, TARGET]})
    outcome = r.run(srx_upgrade, sink=At("reboot", "node0", kill=False), allow_outage=True)
    assert outcome.outcome == "too-late", outcome.detail
    assert outcome.detail.startswith("interrupted after the dual reboot's reboots were sent")
    assert outcome.detail.endswith("no further hop")
    assert r.releases() == {HOP}  # hop 1 verified, hop 2's ICU never sent
    assert r.sends()[("request-package-in-service-upgrade", "node0")] == 0
    assert r.sends()[(ICU_ABORT, "node0")] == 0
