"""python -m bench.simulate --scenarios N --seed S: seeded scenarios (a lab state x a fault x
a job) through the real jobs against in-process clusters in virtual time
(simulator/inprocess.py), each checked against the model's truth and its audit:

* nothing destructive sent twice (the ICU once per cluster, a rollback or reboot once per
  node, an abort once per node);
* the ICU only to the node that was RG0 primary when the run began;
* recovery on a node in the order abort -> rollback -> reboot;
* `ok` only when the model agrees (both nodes up on one release, nothing pending, no ICU
  running; for an upgrade, the target).

Scenario i runs on seed S + i, so a failing one replays alone with the command it prints.
The last line is `N scenarios, V violations`. A skeleton (issue, point 2): the draws are
uniform and the invariants the four above.
"""

from __future__ import annotations

import argparse
import logging
import random
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from simulator.__main__ import NEW, PHASES, LabError
from simulator.inprocess import InProcessLab, nornir_for
from tasks.device.wire import WireDevices
from tasks.executor import LogSink
from tasks.jobs import srx_abort, srx_recover, srx_upgrade
from tasks.state.backends import LocalBackend, build_context
from tasks.state.clock import VirtualClock

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
JOBS = {"upgrade": srx_upgrade, "abort": srx_abort, "recover": srx_recover}
ONCE_PER_NODE = ("request-package-rollback", "request-reboot", "abort-in-service-upgrade")


@dataclass(frozen=True)
class Scenario:
    seed: int
    state: str
    phase: str | None
    fault: str | None
    job: str

    @classmethod
    def draw(cls, seed: int) -> Scenario:
        rnd = random.Random(seed)
        state = rnd.choice(STATES)
        phase = rnd.choice(PHASES) if state == "icu-in-progress" else None
        return cls(seed, state, phase, rnd.choice(FAULTS), rnd.choice(sorted(JOBS)))

    def cluster(self) -> dict[str, Any]:
        spec: dict[str, Any] = {"name": "sim-1", "state": self.state}
        if self.phase:
            spec["icu_phase"] = self.phase
        if self.fault:
            spec["faults"] = [self.fault]
        return spec

    def __str__(self) -> str:
        phase = f"/{self.phase}" if self.phase else ""
        return f"{self.job} on {self.state}{phase} with {self.fault or 'no fault'}"


def run(scenario: Scenario, state_dir: Path) -> list[str] | None:
    """The scenario's violations ([] when every invariant held); None for a lab the
    simulator refuses to build (an ICU in progress that its fault would have refused)."""
    clock = VirtualClock()
    try:
        lab = InProcessLab(clock, {"clusters": [scenario.cluster()]})
    except LabError:
        return None
    primary_at_start = lab.truth("sim-1")["primary"]
    context = build_context(
        LocalBackend(state_dir),
        run_id=f"sim-{scenario.seed}",
        state_dir=state_dir,
        sink=LogSink(),
        transcripts=False,
        clock=clock,
        devices=WireDevices(lab),
    )
    try:
        result = nornir_for(lab).run(task=JOBS[scenario.job], context=context)
        outcome = result["sim-1"][0].result
        return check(scenario, lab, primary_at_start, getattr(outcome, "outcome", repr(outcome)))
    finally:
        lab.close()
        clock.close()


def check(scenario: Scenario, lab: InProcessLab, primary: str, outcome: str) -> list[str]:
    audit = lab.audit
    out = []
    icus = [r for r in audit if r["rpc"] == "request-package-in-service-upgrade"]
    if len(icus) > 1:
        out.append(f"the ICU was sent {len(icus)} times")
    if icus and icus[0]["node"] != primary:
        out.append(f"the ICU went to {icus[0]['node']}, the RG0 primary was {primary}")
    for rpc in ONCE_PER_NODE:
        for node in ("node0", "node1"):
            n = sum(1 for r in audit if r["rpc"] == rpc and r["node"] == node)
            if n > 1:
                out.append(f"{rpc} sent {n} times to {node}")
    out += order_violations(audit)
    if outcome == "ok":
        out += disagreement(scenario, lab.truth("sim-1"))
    return out


def order_violations(audit: list[dict[str, Any]]) -> list[str]:
    """Recovery on a node: its rollback after an abort on it, its reboot after its rollback."""
    out = []
    for node in ("node0", "node1"):
        mine = [r["rpc"] for r in audit if r["node"] == node]
        for step, before in (
            ("request-package-rollback", "abort-in-service-upgrade"),
            ("request-reboot", "request-package-rollback"),
        ):
            if step in mine and before not in mine[: mine.index(step)]:
                out.append(f"{step} on {node} without {before} before it")
    return out


def disagreement(scenario: Scenario, truth: dict[str, Any]) -> list[str]:
    nodes = truth["nodes"]
    releases = {n["release"] for n in nodes.values()}
    out = []
    if not all(n["up"] for n in nodes.values()):
        out.append("ok, but a node is down")
    if len(releases) != 1:
        out.append(f"ok, but the nodes run {sorted(releases)}")
    if any(n["pending"] for n in nodes.values()) or truth["icu_phase"]:
        out.append("ok, but an install is pending or an ICU runs")
    if scenario.job == "upgrade" and releases != {NEW}:
        out.append(f"upgrade ok, but the nodes run {sorted(releases)}")
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.simulate", description=__doc__)
    ap.add_argument("--scenarios", type=int, default=100)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("-v", "--verbose", action="store_true", help="one line per scenario")
    args = ap.parse_args(argv)
    logging.disable(logging.WARNING)  # the jobs' own log lines are not the report
    violations = impossible = 0
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="simulate-") as tmp:
        for i in range(args.scenarios):
            scenario = Scenario.draw(args.seed + i)
            try:
                found = run(scenario, Path(tmp) / str(i))
            except Exception as exc:  # a crash is a finding too
                found = [f"crashed: {type(exc).__name__}: {exc}"]
            if found is None:
                impossible += 1
                continue
            if args.verbose:
                print(f"seed {scenario.seed}: {scenario}: {len(found)} violation(s)")
            for what in found:
                print(f"seed {scenario.seed}: {scenario}: {what}")
            if found:
                violations += len(found)
                print(f"  replay: python -m bench.simulate --scenarios 1 --seed {scenario.seed}")
    seconds = time.perf_counter() - started
    rate = args.scenarios / seconds if seconds else 0.0
    print(
        f"{rate:.1f} scenarios/s ({seconds:.1f} s real; {impossible} labs the simulator "
        "refuses to build were skipped)",
        file=sys.stderr,
    )
    print(f"{args.scenarios} scenarios, {violations} violations")
    return 1 if violations else 0


if __name__ == "__main__":
    sys.exit(main())
