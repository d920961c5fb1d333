"""python -m bench.simulate --scenarios N --seed S [--workers W]: the explorer. Seeded
scenarios run the real jobs (tasks.jobs.srx_*: Nornir, the executor, the journal, locks and
gate the runs really use) against an in-process cluster (simulator/inprocess.py) in virtual
time. A scenario is a lab state x a fault x a job x a schedule:

* a kill point (bench/killpoints.py): the run dies after its n-th journal record, just
  before or just after its n-th destructive send, or on its n-th reply, as a SIGKILL leaves
  it (flocks and sockets gone, nothing more journaled); then the same job runs again (a new
  run id, the same state directory and lab, the virtual time going on);
* or a second process's `abort` at a virtual time during an upgrade (the hand-off through the
  lock's mailbox: killpoints.SecondAbort), its verdict read as hand_over reads it (the
  abort runs by itself when nobody held the cluster then);
* and a redelivery: the same job once more after the end, under the same run id (an
  engine that delivers a job twice).

Each scenario is checked from the model's truth (after 10 virtual minutes of settling), the
audit of what each node received, the outcomes and the journal:

* nothing destructive sent twice: the ICU once per cluster, a rollback, a reboot or an
  abort once per node;
* the ICU only to the node that was RG0 primary when the scenario began;
* recovery on a node in the order abort -> rollback -> reboot;
* `ok` (and `aborted`, `too-late`) only when the model agrees: both nodes up on one
  release, nothing pending, no ICU running; for an upgrade's ok, the target;
* no new `mixed_release` record in the model's truth (two nodes of different releases
  connected outside an ICU) for an upgrade that sent no abort; after any `ok`, none open;
* killed and run again: the same end (releases, pending installs, nodes up, ICU running,
  compared once the lab is quiet: its own ICU over, its nodes up, Bench.quiet_end) as the
  same scenario left alone, which is run first (and cached per lab and job); an ICU
  journaled and never sent may take `upgrade --retry-failed` to get there, and an abort
  journaled and never sent that the device could not show missing may end as the lab's
  ICU does with no job at all (docs/design/decisions.md);
* a redelivered job after a good end sends nothing destructive.

Scenario i runs on seed S + i. A failing one prints the command that replays it and a
shrunk schedule (its fault, redelivery, abort and kill dropped one by one, the kill point
moved earlier, while it still fails). Then scenarios per second and, per plan step, the kill
points seen in left-alone runs and how many of them were fired. The last line is
`N scenarios, V violations`.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import multiprocessing
import random
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench import dual
from bench.killpoints import (
    DESTRUCTIVE,
    KINDS,
    Kill,
    Killed,
    Killer,
    KillJournal,
    RunLab,
    SecondAbort,
    SimBackend,
    SimClock,
    SimLab,
    forget,
)
from simulator.__main__ import PHASES, LabError
from simulator.inprocess import nornir_for
from tasks.device.wire import WireDevices
from tasks.executor import LogSink
from tasks.jobs import srx_abort, srx_recover, srx_upgrade
from tasks.state.backends import build_context
from tasks.state.run_context import Outcome

STATES = ("healthy", "upgraded", "inconsistent", "pending-install", "icu-in-progress", "node-down")
FAULTS = (
    None,
    "session-drop",
    "rpc-silent",
    "reboot-reply-lost",
    "rollback-reply-lost",
    "icu-fails",
    "abort-slow",
    "slow-reboot",
    "validation-fails",
    "rg-unhealthy",
    "version-mismatch",
    "roles-disagree",
    "reply-garbled",
    "disk-full",
    "package-missing",
    "reboot-hangs",
)
JOBS: dict[str, Callable[..., Any]] = {
    "upgrade": srx_upgrade,
    "abort": srx_abort,
    "recover": srx_recover,
}
ONCE_PER_NODE = ("request-package-rollback", "request-reboot", "abort-in-service-upgrade")
# What shows that a destructive command sent before has ended, so that sending it again is
# no resend: the journal records, written after it and before the next one (of its node).
ENDED_BY: dict[str, tuple[str, ...]] = {
    "request-package-in-service-upgrade": ("icu-ended",),
    "abort-in-service-upgrade": (
        "icu-ended",
        "recover-verified",
        "recover-refused",
        "recover-done",
    ),
    "request-package-rollback": ("recover-refused", "recover-done", "dual-reboot-ended"),
    "request-reboot": ("recover-done", "dual-reboot-ended"),
    "request-package-add": ("dual-reboot-ended",),
}
SETTLE = 600.0  # virtual seconds the model runs on after the last job, before it is judged
QUIET = 4 * 3600.0  # at most this much more before two ends are compared (Bench.quiet_end)
CLUSTER = "sim-1"
GOOD_CLAIMS = ("ok", "aborted", "too-late")  # outcomes that say the cluster is consistent
SHM = "/dev/shm" if Path("/dev/shm").is_dir() else None  # the scenarios' state directories


@dataclass(frozen=True)
class Scenario:
    seed: int
    state: str
    phase: str | None
    fault: str | None
    job: str
    kill_at: str | None = None  # a kind of kill point (killpoints.KINDS)
    kill_n: int = 0  # its ordinal; 0: drawn from `frac` of the left-alone run's count
    abort_at: float | None = None  # virtual seconds after the start; <0: `frac` of the run
    redeliver: bool = False
    frac: float = 0.0
    method: str = "icu"  # bench/dual.py: icu, dual (to 24.4R1.9), hops (dual, then an ICU)
    prelude: str | None = None  # a kill point of an `upgrade` run first (dual labs)

    @classmethod
    def draw(cls, seed: int, *, icu_only: bool = False) -> Scenario:
        """Scenario `seed`: its ICU part as before the dual reboot was drawn (all of it with
        `icu_only`), then a third of the time a dual-reboot lab instead (bench/dual.py)."""
        rnd = random.Random(seed)
        state = rnd.choice(STATES)
        phase = rnd.choice(PHASES) if state == "icu-in-progress" else None
        fault, job = rnd.choice(FAULTS), rnd.choice(sorted(JOBS))
        mode = rnd.choice(("alone", "kill", "kill", "kill", "abort"))
        kill_at = rnd.choice(KINDS) if mode == "kill" else None
        abort_at = -1.0 if mode == "abort" and job == "upgrade" else None
        redeliver, frac = rnd.random() < 0.25, rnd.random()
        drawn = cls(seed, state, phase, fault, job, kill_at, 0, abort_at, redeliver, frac)
        return drawn if icu_only else dataclasses.replace(drawn, **dual.draw(rnd, job))

    @property
    def lab_key(self) -> tuple[str | None, ...]:
        return (self.method, self.state, self.phase, self.fault, self.job, self.prelude)

    @property
    def target(self) -> str:
        return dual.TARGETS[self.method]

    @property
    def kill(self) -> Kill | None:
        return Kill(self.kill_at, self.kill_n) if self.kill_at and self.kill_n else None

    def resolved(self, base: Baseline) -> Scenario:
        """The schedule made concrete from the left-alone run: the kill point's ordinal
        (another kind when the run has none of that kind), the abort's time."""
        out = self
        if self.kill_at and not self.kill_n:
            kinds = [k for k in (self.kill_at, *KINDS) if base.counts[k]]
            if not kinds:
                out = dataclasses.replace(out, kill_at=None)
            else:
                n = 1 + int(self.frac * base.counts[kinds[0]])
                out = dataclasses.replace(out, kill_at=kinds[0], kill_n=n)
        if self.abort_at is not None and self.abort_at < 0:
            out = dataclasses.replace(out, abort_at=round(self.frac * base.duration, 1))
        return out

    def cluster(self) -> dict[str, Any]:
        spec: dict[str, Any] = {"name": CLUSTER, "state": self.state}
        if self.phase:
            spec["icu_phase"] = self.phase
        if self.fault:
            spec["faults"] = [self.fault]
        return dual.lab_spec(self.method, spec)

    def schedule(self) -> str:
        parts = [f"after an upgrade killed at {self.prelude}"] if self.prelude else []
        if self.kill:
            parts.append(f"killed at {self.kill}")
        if self.abort_at is not None:
            parts.append(f"second abort at +{self.abort_at:g}s")
        if self.redeliver:
            parts.append("redelivered")
        return ", ".join(parts) or "left alone"

    def flags(self) -> str:
        """The options that replay exactly this schedule (with --replay SEED)."""
        state = f"{self.state}/{self.phase}" if self.phase else self.state
        out = [f"--job {self.job} --state {state} --method {self.method}"]
        out.append(f"--prelude {self.prelude or 'none'}")
        out += [f"--fault {self.fault or 'none'}", f"--kill {self.kill or 'none'}"]
        out.append(f"--abort-at {'none' if self.abort_at is None else f'{self.abort_at:g}'}")
        out.append("--redeliver" if self.redeliver else "--no-redeliver")
        return " ".join(out)

    def __str__(self) -> str:
        phase = f"/{self.phase}" if self.phase else ""
        lab = f"{self.method}:{self.state}" if self.method != "icu" else self.state
        return f"{self.job} on {lab}{phase} with {self.fault or 'no fault'}"


@dataclass
class Baseline:
    """The scenario's lab and job left alone: what a killed run must end as."""

    end: dict[str, Any]
    outcome: str
    duration: float  # virtual seconds the job took
    counts: Counter[str]
    points: list[tuple[str, str]]  # (kind, step) of every kill point passed
    # an abort or recover left alone that failed: its end once the same job ran again (the
    # documented next step: a re-run gives it a new deadline, F10)
    again: dict[str, Any] | None = None


@dataclass
class Report:
    scenario: Scenario
    violations: list[str]
    outcomes: list[str] = field(default_factory=list)
    fired: tuple[str, str] | None = None  # (kind, step) of the kill that fired


class Bench:
    """One scenario's lab, clock, state directory and runs."""

    def __init__(self, scenario: Scenario, state_dir: Path) -> None:
        self.scenario, self.state_dir = scenario, state_dir
        self.clock = SimClock()
        self.lab = SimLab(self.clock, {"clusters": [scenario.cluster()]})  # LabError
        self.nr = nornir_for(self.lab)
        self.runs = 0
        self.last_ids: dict[str, str] = {}  # job -> the run id it last ran under
        self.last_outcomes: dict[str, Outcome] = {}  # job -> its last run's outcome
        self.start = self.clock.time()
        truth = self.lab.truth(CLUSTER)
        self.primary = truth["primary"]
        self.mixed_before = len(truth["mixed_release"])
        # every journal record of every run, with how many RPCs the lab had received then
        self.records: list[tuple[int, dict[str, Any]]] = []
        self.killed = ""  # the run id of the run the scenario's kill point killed

    def job(
        self,
        job: str,
        killer: Killer | None = None,
        ctx_hook: Any = None,
        run_id: str = "",
        **kwargs: Any,
    ) -> Outcome | None:
        """Run `job` once (a new run id unless given: a redelivery keeps its job's); None
        when its process was killed."""
        self.runs += 1
        if job == "upgrade" and self.scenario.method != "icu":
            kwargs.setdefault("allow_outage", True)  # a dual reboot is an outage
        run_id = run_id or f"sim-{self.scenario.seed}-{self.runs}"
        self.last_ids[job] = run_id
        killer = killer or Killer(run_id)
        killer.run_id = run_id
        runlab = RunLab(self.lab, killer)
        context = build_context(
            SimBackend(self.state_dir),
            run_id=run_id,
            state_dir=self.state_dir,
            sink=LogSink(),
            transcripts=False,
            clock=self.clock,
            devices=WireDevices(runlab),
        )

        def seen(event: Any) -> None:
            self.records.append((len(self.lab.audit), event.to_json()))

        context.journal = KillJournal(context.journal, killer, seen)
        if ctx_hook is not None:
            ctx_hook(context)
        self.lab.killer = killer
        self.nr.data.reset_failed_hosts()  # Nornir would skip a host failed by an earlier run
        try:
            result = self.nr.run(task=JOBS[job], context=context, **kwargs)
        except Killed:
            runlab.close_all()  # the kernel closes a dead process's sockets,
            self.clock.sleep(0)  # and its threads are gone
            return None
        finally:
            self.lab.killer = None
            context.journal.close()
            forget(run_id)
        outcome = result[CLUSTER][0].result
        if not isinstance(outcome, Outcome):
            raise RuntimeError(f"{job}: {result[CLUSTER][0].exception or outcome}")
        self.last_outcomes[job] = outcome
        return outcome

    def prelude(self) -> None:
        """The dual reboot left half-way the scenario's job meets: an upgrade killed at its
        prelude kill point (or ended, when its run has no such point)."""
        kill = Kill.parse(self.scenario.prelude or "")
        if kill is not None:
            self.job("upgrade", Killer("", kill))

    def end(self) -> dict[str, Any]:
        """The model's truth after settling."""
        self.clock.sleep(SETTLE)
        return self.lab.truth(CLUSTER)

    def quiet_end(self, truth: dict[str, Any]) -> dict[str, Any]:
        """What 'the same end' compares, once the lab is quiet: an ICU still running (the
        lab's own, which no run of the tool started or stops, outlasts a run that ends at
        once) or a node still booting is followed for up to QUIET more virtual seconds. Two
        ends judged at different moments of the same ICU are not two ends."""
        waited = 0.0
        while _busy(truth) and waited < QUIET:
            self.clock.sleep(SETTLE)
            waited += SETTLE
            truth = self.lab.truth(CLUSTER)
        return end_state(truth)

    def close(self) -> None:
        self.lab.close()
        self.clock.close()


def _busy(truth: dict[str, Any]) -> bool:
    return bool(truth["icu_phase"]) or not all(n["up"] for n in truth["nodes"].values())


def end_state(truth: dict[str, Any]) -> dict[str, Any]:
    """What 'the same end' compares: releases, pending installs, nodes up, an ICU running."""
    nodes = truth["nodes"]
    return {
        "releases": {n: v["release"] for n, v in nodes.items()},
        "pending": {n: v["pending"] for n, v in nodes.items() if v["pending"]},
        "down": sorted(n for n, v in nodes.items() if not v["up"]),
        "icu": truth["icu_phase"],
    }


def baseline(scenario: Scenario, state_dir: Path) -> Baseline | None:
    """The scenario's lab and job left alone (None: a lab the simulator refuses)."""
    try:
        bench = Bench(scenario, state_dir)
    except LabError:
        return None
    try:
        bench.prelude()
        killer = Killer("")
        start = bench.clock.time()
        outcome = bench.job(scenario.job, killer)
        duration = bench.clock.time() - start
        truth = bench.end()
        said = outcome.outcome if outcome else "killed"
        base = Baseline(bench.quiet_end(truth), said, duration, killer.counts, killer.points)
        if said == "failed" and scenario.job in ("abort", "recover"):
            bench.job(scenario.job)
            base.again = bench.quiet_end(bench.end())
        return base
    finally:
        bench.close()


def run(scenario: Scenario, state_dir: Path, base: Baseline | None = None) -> Report | None:
    """Run the (resolved) scenario and check it; None for a lab the simulator refuses."""
    if base is None and (scenario.kill_at or scenario.abort_at is not None):
        base = baseline(scenario, state_dir / "alone")
        if base is None:
            return None
    if base is not None:
        scenario = scenario.resolved(base)
    try:
        bench = Bench(scenario, state_dir / "run")
    except LabError:
        return None
    try:
        return _play(bench, scenario, base)
    finally:
        bench.close()


def _play(bench: Bench, scenario: Scenario, base: Baseline | None) -> Report:
    report = Report(scenario, [])
    bench.prelude()
    if scenario.kill is not None:
        killer = Killer("", scenario.kill)
        first = bench.job(scenario.job, killer)
        if first is None:
            bench.killed = killer.run_id
            _, _, step = killer.where.partition(" in ")
            report.fired = (scenario.kill.at, step)
            report.outcomes.append(f"killed at {killer.where}")
            outcome = bench.job(scenario.job)
        else:  # the run ended before its kill point: as left alone
            outcome = first
    elif scenario.abort_at is not None and scenario.job == "upgrade":
        outcome = _with_second_abort(bench, scenario, report)
    else:
        outcome = bench.job(scenario.job)
    assert outcome is not None
    report.outcomes.append(outcome.outcome)
    if scenario.redeliver:
        outcome = _redeliver(bench, scenario, report, outcome)
    truth = bench.end()
    job = "abort" if scenario.abort_at is not None else scenario.job  # whose outcome it is
    report.violations += check(job, bench, truth, outcome.outcome)
    if scenario.kill is not None and base is not None and report.fired:
        _compare(bench, scenario, base, report, truth)
    return report


def _redeliver(bench: Bench, scenario: Scenario, report: Report, outcome: Outcome) -> Outcome:
    """The job once more under its run id: after a good end of its own (an upgrade's, not the
    verdict of the abort asked of it), or after an abort of the cluster ran since it began
    (F6: tasks.plans.upgrade.aborted_since_began), it sends nothing destructive."""
    own = bench.last_outcomes.get(scenario.job, outcome)
    sent = len(bench.lab.audit)
    again = bench.job(scenario.job, run_id=bench.last_ids[scenario.job])
    assert again is not None
    report.outcomes.append(f"redelivered: {again.outcome}")
    if scenario.job == "upgrade" and scenario.abort_at is not None:
        for r in bench.lab.audit[sent:]:
            if r["rpc"] in DESTRUCTIVE:
                report.violations.append(
                    f"redelivered after an abort of the cluster: {r['rpc']} sent to {r['node']}"
                )
    elif own.good:
        for r in bench.lab.audit[sent:]:
            if r["rpc"] in DESTRUCTIVE:
                report.violations.append(
                    f"redelivered after {own.outcome}: {r['rpc']} sent to {r['node']}"
                )
    return again if again.outcome not in ("skipped",) else outcome


def _compare(
    bench: Bench, scenario: Scenario, base: Baseline, report: Report, truth: dict[str, Any]
) -> None:
    """Killed and run again: the end of the scenario left alone (both compared once the lab
    is quiet), after the documented next steps of an intent journaled and never sent."""
    mine = bench.quiet_end(truth)
    if _ended_before_kill(bench):
        # The kill fired after the run journaled its own end (its last record): that run
        # ended as the one left alone; what came next is the same job run once more, which
        # `check` judges on its own (a left-alone `failed` run again may well end better).
        return
    if mine != base.end and _intent_unsent(bench):
        # Documented: an ICU journaled but never seen is waited for, never sent again
        # (the re-run fails, nothing sent); `upgrade --retry-failed` then goes on.
        again = bench.job("upgrade", retry_failed=True)
        report.outcomes.append(f"retry-failed: {again.outcome if again else 'killed'}")
        truth = bench.end()
        report.violations += check("upgrade", bench, truth, again.outcome if again else "")
        mine = bench.quiet_end(truth)
    if mine != base.end and _abort_unsent(bench) and mine == untouched(scenario, bench):
        # Documented: an abort journaled and never sent is followed, and sent only once the
        # device shows it never arrived (a node up at the re-run's first look has booted
        # since: a new ICU step). When only the ICU's last step (or nothing) could show it,
        # the ICU ends as it would have with nobody asking for an abort.
        report.outcomes.append("the abort never left: the ICU's own end")
        mine = base.end
    elif mine != base.end and _abort_unsent(bench) and _left_to_a_person(bench):
        # F9 (seed 113235 of --seed 100000): the abort that never left is followed until the
        # device shows it never arrived (the secondary's reboot: a new ICU step), then sent;
        # landing that late leaves the cluster inconsistent (as Juniper documents), and the
        # recovery this needs the device's own state may refuse (roles-disagree). The re-run
        # says so (`refused`/`failed`, the state named), claims nothing good: as designed.
        report.outcomes.append("the abort never left: sent late, the recovery left to a person")
        mine = base.end
    if mine != base.end and mine == base.again:
        # F10 (seeds 314271, 314633 of --seed 300000): left alone the abort failed at its
        # deadline (a slow reboot); the killed run's re-run had a deadline of its own and
        # recovered. Left alone and then run again, as documented, it ends the same.
        report.outcomes.append("left alone it failed; run once more it ends the same")
        mine = base.end
    if mine != base.end:
        report.violations.append(
            f"killed at {scenario.kill} and run again ({' -> '.join(report.outcomes)}): "
            f"ends {mine}; left alone ({base.outcome}): {base.end}"
        )


def _left_to_a_person(bench: Bench) -> bool:
    """The re-run's abort ended `refused` or `failed` on a cluster it names inconsistent."""
    last = bench.last_outcomes.get("abort")
    return (
        last is not None
        and last.outcome in ("refused", "failed")
        and (last.state == "inconsistent")
    )


def _ended_before_kill(bench: Bench) -> bool:
    """The killed run journaled its `cluster-finished`."""
    return any(
        r["event"] == "cluster-finished" and r["run_id"] == bench.killed for _, r in bench.records
    )


def _abort_unsent(bench: Bench) -> bool:
    """The killed run (the scenario's first) journaled an abort of the ICU that never reached
    the device: no abort RPC between its record and the next run's first record."""
    first = f"sim-{bench.scenario.seed}-1"
    at = [n for n, r in bench.records if r["event"] == "command" and r["run_id"] == first]
    later = [n for n, r in bench.records if r["run_id"] != first]
    if bench.scenario.job != "abort" or bench.scenario.method != "icu" or not at or not later:
        return False
    between = bench.lab.audit[at[-1] : later[0]]
    return not any(r["rpc"] == "abort-in-service-upgrade" for r in between)


def untouched(scenario: Scenario, bench: Bench) -> dict[str, Any]:
    """The end of the scenario's lab with no job run at all (its own ICU left to its end),
    as long after the start as the scenario's runs took."""
    lab = Bench(scenario, bench.state_dir / "untouched")
    try:
        lab.clock.sleep(bench.clock.time() - bench.start)
        return lab.quiet_end(lab.lab.truth(CLUSTER))
    finally:
        lab.close()


def _intent_unsent(bench: Bench) -> bool:
    """The killed run journaled the ICU's intent, and it never reached the device."""
    intents = [rec for _, rec in bench.records if rec["event"] == "icu-sending"]
    sent = bench.lab.sent(CLUSTER, "request-package-in-service-upgrade")
    return len(intents) == 1 and not sent


def _with_second_abort(bench: Bench, scenario: Scenario, report: Report) -> Outcome:
    """The upgrade, and a second process's abort at +abort_at virtual seconds."""
    second = SecondAbort(bench.state_dir, CLUSTER)

    def hold(context: Any) -> None:
        second.holder = context.locks

    at = bench.clock.time() + float(scenario.abort_at or 0)
    bench.clock.hooks.append((at, second.fire))
    upgraded = bench.job("upgrade", ctx_hook=hold)
    bench.clock.hooks.clear()
    assert upgraded is not None
    report.outcomes.append(f"upgrade {upgraded.outcome}")
    verdict = second.verdict()
    if verdict is None:  # nobody held the cluster when it asked, or no verdict: by itself
        verdict = bench.job("abort")
        assert verdict is not None
        report.outcomes.append("abort ran by itself")
    if upgraded.outcome in GOOD_CLAIMS:
        truth = bench.lab.truth(CLUSTER)
        report.violations += disagreement("abort", truth, upgraded.outcome, scenario.target)
    return verdict


def check(job: str, bench: Bench, truth: dict[str, Any], outcome: str) -> list[str]:
    audit = bench.lab.audit
    out = []
    icus = [r for r in audit if r["rpc"] == "request-package-in-service-upgrade"]
    if icus and icus[0]["node"] != bench.primary:
        out.append(f"the ICU went to {icus[0]['node']}, the RG0 primary was {bench.primary}")
    out += sent_twice(audit, bench.records)
    out += order_violations(audit, bench.records, dual.dual_sends(audit, bench.records))
    out += dual.dual_violations(audit, bench.records, bench.scenario.method)
    if outcome in GOOD_CLAIMS:
        out += disagreement(job, truth, outcome, bench.scenario.target)
    out += mixed(truth, bench.mixed_before, audit, outcome)
    return out


def sent_twice(audit: list[dict[str, Any]], records: list[tuple[int, dict[str, Any]]]) -> list[str]:
    """A destructive command sent again (the ICU to the cluster, the others to one node)
    with no journal record between the two that shows the first ended (ENDED_BY), nor a
    refusal of the first by the device (its audit result `error`)."""
    out = []
    last: dict[tuple[str, str], int] = {}  # (rpc, node or '') -> audit index of the last send
    counts: Counter[tuple[str, str]] = Counter()
    for i, r in enumerate(audit):
        if r["rpc"] not in ENDED_BY:
            continue
        key = (r["rpc"], "" if r["rpc"] == "request-package-in-service-upgrade" else r["node"])
        if key in last:
            ends = ENDED_BY[r["rpc"]]
            shown = audit[last[key]].get("result") == "error"  # refused: the device did nothing
            shown = shown or any(
                last[key] < at <= i and rec["event"] in ends for at, rec in records
            )
            if not shown:
                counts[key] += 1
        last[key] = i
    for (rpc, node), n in sorted(counts.items()):
        where = f" to {node}" if node else ""
        out.append(
            f"{rpc} sent again{where} ({n} time(s)) with nothing showing the previous one ended"
        )
    return out


def mixed(
    truth: dict[str, Any], before: int, audit: list[dict[str, Any]], outcome: str
) -> list[str]:
    """Two nodes of different releases connected outside an ICU (the model's record)."""
    new = truth["mixed_release"][before:]
    aborted = any(r["rpc"] == "abort-in-service-upgrade" for r in audit)
    out = []
    if new and not aborted:
        out.append(f"mixed releases connected with no abort sent: {new[0]}")
    still = [m for m in truth["mixed_release"] if m["until"] is None]
    if still and outcome in GOOD_CLAIMS:
        out.append(f"{outcome}, but mixed releases still connected: {still[0]}")
    return out


def order_violations(
    audit: list[dict[str, Any]],
    records: Sequence[tuple[int, dict[str, Any]]] = (),
    exempt: set[int] | frozenset[int] = frozenset(),
) -> list[str]:
    """Recovery on a node: its rollback after an abort on it, its reboot after its rollback
    (a command the device refused took no effect: it neither counts nor needs one before;
    `exempt`: audit indexes of a dual reboot's own sends, which have no ICU to abort).
    A rollback whose recovery journaled the abort on that node before it is in order: that
    abort never left (its run died between the record and the send), its re-run followed
    it, and a node with in-service-upgrade state left refuses the rollback (then the abort
    is sent: tasks.plans.recover._rollback)."""
    out = []
    for node in ("node0", "node1"):
        mine = [
            (i, r["rpc"])
            for i, r in enumerate(audit)
            if r["node"] == node and r.get("result") != "error" and i not in exempt
        ]
        rpcs = [rpc for _, rpc in mine]
        for step, before in (
            ("request-package-rollback", "abort-in-service-upgrade"),
            ("request-reboot", "request-package-rollback"),
        ):
            if step not in rpcs or before in rpcs[: rpcs.index(step)]:
                continue
            at = mine[rpcs.index(step)][0]
            if before == "abort-in-service-upgrade" and _abort_journaled(records, node, at):
                continue
            out.append(f"{step} on {node} without {before} before it")
    return out


def _abort_journaled(records: Sequence[tuple[int, dict[str, Any]]], node: str, at: int) -> bool:
    return any(
        n <= at
        and r["event"] == "recover-sending"
        and r.get("step") == "abort"
        and r.get("node") == node
        for n, r in records
    )


def disagreement(
    job: str, truth: dict[str, Any], outcome: str = "ok", target: str = dual.TARGETS["icu"]
) -> list[str]:
    nodes = truth["nodes"]
    releases = {n["release"] for n in nodes.values()}
    out = []
    if not all(n["up"] for n in nodes.values()):
        out.append(f"{outcome}, but a node is down")
    if len(releases) != 1:
        out.append(f"{outcome}, but the nodes run {sorted(releases)}")
    if any(n["pending"] for n in nodes.values()) or truth["icu_phase"]:
        out.append(f"{outcome}, but an install is pending or an ICU runs")
    if job == "upgrade" and outcome in ("ok", "too-late") and releases != {target}:
        out.append(f"upgrade {outcome}, but the nodes run {sorted(releases)}")
    return out


# ------------------------------------------------------------------ the explorer's loop


def judge(scenario: Scenario, state_dir: Path, bases: dict[Any, Baseline | None]) -> Report | None:
    """One scenario, its left-alone run from `bases` (filled on first use); a crash of the
    harness or the runbooks is a finding too."""
    key = scenario.lab_key
    try:
        if scenario.kill_at is None and scenario.abort_at is None and key not in bases:
            return run(scenario, state_dir)  # left alone: no left-alone run needed
        if key not in bases:
            bases[key] = baseline(scenario, state_dir / "alone")
        base = bases[key]
        if base is None:
            return None
        return run(scenario, state_dir, base)
    except Exception as exc:
        return Report(scenario, [f"crashed: {type(exc).__name__}: {exc}"])


def shrink(scenario: Scenario, state_dir: Path) -> Scenario:
    """Drop the fault, the redelivery, the abort and the kill one by one, and move the kill
    earlier, while the scenario still fails."""
    current = scenario
    tries = 0

    def fails(s: Scenario) -> bool:
        nonlocal tries
        tries += 1
        try:
            got = run(s, state_dir / f"shrink-{tries}")
        except Exception:  # a crash still fails
            return True
        return got is not None and bool(got.violations)

    for change in (
        {"fault": None},
        {"redeliver": False},
        {"abort_at": None},
        {"kill_at": None, "kill_n": 0},
    ):
        candidate = dataclasses.replace(current, **change)
        if candidate != current and fails(candidate):
            current = candidate
    lower = 1  # the kill moved earlier: the first point, else halving the way there
    while current.kill is not None and current.kill_n > lower:
        n = lower if lower == 1 else (lower + current.kill_n) // 2
        candidate = dataclasses.replace(current, kill_n=n)
        if fails(candidate):
            current = candidate
        elif n == 1:
            lower = 2 if current.kill_n > 2 else current.kill_n
            continue
        else:
            lower = n + 1
        if tries > 24:
            break
    return current


@dataclass
class Tally:
    scenarios: int = 0
    skipped: int = 0
    violations: int = 0
    lines: list[tuple[int, str]] = field(default_factory=list)  # (seed, text)
    seen: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    fired: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))


def explore(seeds: list[int], options: dict[str, Any]) -> Tally:
    """The scenarios of `seeds` (one worker's share), in a state directory of its own."""
    logging.disable(logging.WARNING)
    tally = Tally()
    bases: dict[Any, Baseline | None] = {}
    fired: dict[str, set[tuple[Any, ...]]] = defaultdict(set)
    where = options.get("tmp", SHM)  # state directories in memory unless told otherwise
    with tempfile.TemporaryDirectory(prefix="simulate-", dir=where) as tmp:
        for i, seed in enumerate(seeds):
            scenario = pick(seed, options)
            report = judge(scenario, Path(tmp) / str(i), bases)
            tally.scenarios += 1
            if report is None:
                tally.skipped += 1
                continue
            if report.fired:
                kind, step = report.fired
                fired[step].add((scenario.lab_key, kind, report.scenario.kill_n))
            if options.get("verbose"):
                said = " -> ".join(report.outcomes)
                tally.lines.append(
                    (seed, f"seed {seed}: {report.scenario}: {report.scenario.schedule()}: {said}")
                )
            if report.violations:
                tally.violations += len(report.violations)
                tally.lines.append((seed, describe(report, Path(tmp) / f"{i}-shrink", options)))
    for base in bases.values():
        for kind, step in base.points if base is not None else ():
            tally.seen[step][kind] += 1  # each point of each left-alone run, once
    for step, points in fired.items():
        for _, kind, _ in points:
            tally.fired[step][kind] += 1
    return tally


def describe(report: Report, state_dir: Path, options: dict[str, Any]) -> str:
    s = report.scenario
    lines = [
        f"seed {s.seed}: {s}: {s.schedule()} ({' -> '.join(report.outcomes)}): {v}"
        for v in report.violations
    ]
    lines.append(f"  replay: python -m bench.simulate --replay {s.seed} {s.flags()}")
    if options.get("shrink", True):
        small = shrink(s, state_dir)
        lines.append(f"  shrunk: {small}: {small.schedule()}")
        lines.append(f"  replay shrunk: python -m bench.simulate --replay {s.seed} {small.flags()}")
    return "\n".join(lines)


def pick(seed: int, options: dict[str, Any]) -> Scenario:
    """Scenario `seed`, drawn again until its job, state and fault are among those asked
    for (each redraw from the seed, so a seed always picks the same), then overridden."""
    over = options.get("override") or {}
    # ICU only (--method icu, --methods icu): each seed's ICU draw, as before the dual reboot
    icu_only = over.get("method") == "icu" or options.get("methods") == {"icu"}
    scenario = Scenario.draw(seed, icu_only=icu_only)
    rnd = random.Random(seed)
    while not _wanted(scenario, options):
        redrawn = Scenario.draw(rnd.randrange(2**31), icu_only=icu_only)
        scenario = dataclasses.replace(redrawn, seed=seed)
    return dataclasses.replace(scenario, **over) if over else scenario


def _wanted(s: Scenario, options: dict[str, Any]) -> bool:
    jobs, states, faults = (options.get(k) for k in ("jobs", "states", "faults"))
    methods = options.get("methods")
    return (
        (not methods or s.method in methods)
        and (not jobs or s.job in jobs)
        and (not states or s.state in states)
        and (not faults or (s.fault or "none") in faults)
    )


def _override(args: argparse.Namespace) -> dict[str, Any]:
    over: dict[str, Any] = {}
    if args.job is not None:
        over["job"] = args.job
    if args.state is not None:
        state, _, phase = args.state.partition("/")
        over.update(state=state, phase=phase or None)
    if args.method is not None:
        over["method"] = args.method
    if args.prelude is not None:
        Kill.parse(args.prelude)  # ValueError when malformed
        over["prelude"] = None if args.prelude == "none" else args.prelude
    if args.fault is not None:
        over["fault"] = None if args.fault == "none" else args.fault
    if args.kill is not None:
        kill = Kill.parse(args.kill)
        over.update(kill_at=kill.at if kill else None, kill_n=kill.n if kill else 0)
    if args.abort_at is not None:
        over["abort_at"] = None if args.abort_at == "none" else float(args.abort_at)
    if args.redeliver is not None:
        over["redeliver"] = args.redeliver
    return over


def parse(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(
        prog="python -m bench.simulate",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ap.add_argument("--scenarios", type=int, default=100)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--workers", type=int, default=1, help="processes (2 on a 2-core machine)")
    ap.add_argument("--replay", type=int, metavar="SEED", help="run scenario SEED alone")
    ap.add_argument("--jobs", help="comma-separated: upgrade,abort,recover")
    ap.add_argument("--methods", help=f"comma-separated, of {','.join(dual.METHODS)}")
    ap.add_argument("--states", help=f"comma-separated, of {','.join(STATES)}")
    ap.add_argument("--faults", help="comma-separated fault names (none: no fault)")
    ap.add_argument("--fault", help="override the drawn fault (none: no fault)")
    ap.add_argument("--job", choices=sorted(JOBS), help="override the drawn job")
    ap.add_argument("--state", help="override the drawn lab state: STATE or STATE/ICU_PHASE")
    ap.add_argument("--method", choices=dual.METHODS, help="override the drawn method")
    ap.add_argument(
        "--prelude", help="override: an upgrade killed at KIND:N before the job, or none"
    )
    ap.add_argument(
        "--kill", help=f"override the kill point: KIND:N (KIND one of {', '.join(KINDS)}) or none"
    )
    ap.add_argument("--abort-at", help="override: a second abort at +SECONDS, or none")
    ap.add_argument("--redeliver", action=argparse.BooleanOptionalAction, default=None)
    ap.add_argument("--no-shrink", action="store_true")
    ap.add_argument("-v", "--verbose", action="store_true", help="one line per scenario")
    return ap.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    options: dict[str, Any] = {
        "verbose": args.verbose,
        "shrink": not args.no_shrink,
        "override": _override(args),
        "tmp": SHM,
    }
    for key in ("jobs", "states", "faults", "methods"):
        value = getattr(args, key)
        options[key] = set(value.split(",")) if value else None
    seeds = (
        [args.replay] if args.replay is not None else [args.seed + i for i in range(args.scenarios)]
    )
    started = time.perf_counter()
    tally = run_all(seeds, options, max(1, args.workers))
    seconds = time.perf_counter() - started
    for _, text in sorted(tally.lines):
        print(text)
    print_coverage(tally, file=sys.stderr)
    rate = tally.scenarios / seconds if seconds else 0.0
    print(
        f"{rate:.1f} scenarios/s ({seconds:.1f} s real, {args.workers} worker(s); "
        f"{tally.skipped} labs the simulator refuses to build were skipped)",
        file=sys.stderr,
    )
    print(f"{tally.scenarios} scenarios, {tally.violations} violations")
    return 1 if tally.violations else 0


def run_all(seeds: list[int], options: dict[str, Any], workers: int) -> Tally:
    if workers == 1 or len(seeds) < 2:
        return explore(seeds, options)
    shares = share_out(seeds, options, 4 * workers)
    with multiprocessing.get_context("fork").Pool(workers) as pool:
        parts = pool.starmap(explore, [(share, options) for share in shares], chunksize=1)
    total = Tally()
    for part in parts:
        total.scenarios += part.scenarios
        total.skipped += part.skipped
        total.violations += part.violations
        total.lines += part.lines
        for mine, theirs in ((total.seen, part.seen), (total.fired, part.fired)):
            for step, counts in theirs.items():
                mine[step].update(counts)
    return total


def share_out(seeds: list[int], options: dict[str, Any], shares: int) -> list[list[int]]:
    """`seeds` in `shares` parts of about one size, the scenarios of one lab and job in one
    part (their left-alone run made once); the largest parts first (the pool's last part is
    a small one)."""
    groups: dict[Any, list[int]] = defaultdict(list)
    for seed in seeds:
        groups[pick(seed, options).lab_key].append(seed)
    parts: list[list[int]] = [[] for _ in range(shares)]
    for group in sorted(groups.values(), key=lambda g: (-len(g), g[0])):
        min(parts, key=len).extend(group)
    return sorted((sorted(p) for p in parts if p), key=len, reverse=True)


def print_coverage(tally: Tally, file: Any) -> None:
    """Per plan step: kill points fired / distinct kill points seen in left-alone runs."""
    steps = sorted(set(tally.seen) | set(tally.fired))
    if not steps:
        return
    width = max(len(s) for s in steps)
    print("kill points per step (fired / seen in left-alone runs), by kind:", file=file)
    print(f"  {'step':<{width}}  " + "  ".join(f"{k:>13}" for k in KINDS), file=file)
    for step in steps:
        cells = [f"{tally.fired[step][k]:>5} / {tally.seen[step][k]:<5}" for k in KINDS]
        print(f"  {step:<{width}}  " + "  ".join(cells), file=file)


if __name__ == "__main__":
    sys.exit(main())
