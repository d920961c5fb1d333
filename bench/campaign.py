"""A seeded fault campaign: random labs, faults, policies and interruptions, each scenario
judged by the lab's audit log, the runbooks' reports, journals and transcripts, and the lab's
own state dump.

Per scenario (all drawn from --seed and the scenario's number, so a seed replays exactly):
a lab of 4-10 clusters in random states with random faults from the simulator's fault list;
an upgrade with random fleet policy (workers, processes, max-in-flight, canary,
max-failures, restore-primary) and one episode: left alone, SIGKILLed and re-run, SIGTERMed
with --on-interrupt abort|finish, aborted from a second process mid-ICU, or one worker
process killed; then `recover` over the whole lab and a final `status`.

Invariants (a violation names the scenario and prints the commands to replay it):
  report      every run that was not SIGKILLed wrote a report naming every selected cluster
  one-icu     at most one ICU per cluster, unless a run saw the previous one end (icu-ended)
  icu-primary the ICU only ever reached the RG0 primary (the lab refuses it elsewhere)
  recovery    rollback only after an abort on that node, reboot only after a rollback, and
              the rollback names the node it is sent to (the secondary rolls itself back)
  ok          `ok` only when the lab agrees once it has settled (release, nothing pending,
              no ICU; with --restore-primary every RG primary on that node)
  status      the final status equals the lab's truth (healthy or not, and the releases)
  traceback   no traceback on any run's stderr and no `internal error` in any report
  events      the --events stream agrees with the report (each cluster's last
              cluster-finished, the run-finished counts)
  process     no runbooks process of the scenario left once it is over
  hang        every run ended within its deadline

Usage: python bench/campaign.py --scenarios 300 --seed 7 [--jobs 2] [--keep DIR]
       python bench/campaign.py --seed 7 --scenario 42 --keep /tmp/s42   (replay one)
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from simulator.testing import LabProcess, private_config, start_lab  # noqa: E402

KINDS = ("plain", "kill-rerun", "term-abort", "term-finish", "abort-second", "worker-kill")
# The faults a scenario draws from (those the simulator knows; see
# docs/development/lab-contract.md).
FAULTS = (
    "package-missing",
    "package-corrupt",
    "disk-full",
    "disk-full-primary",
    "validation-fails",
    "version-mismatch",
    "rg-unhealthy",
    "reboot-hangs",
    "slow-reboot",
    "rpc-silent",
    "session-drop",
    "auth-fails",
    "rollback-fails",
    "reboot-reply-lost",
    "rollback-reply-lost",
    "icu-fails",
    "roles-disagree",
    "abort-slow",
    "package-symlink",
    "reply-garbled",
)
STATES = (
    ("healthy", 10),
    ("inconsistent", 2),
    ("pending-install", 1),
    ("icu-in-progress", 2),
    ("upgraded", 1),
    ("node-down", 1),
)
PHASES = ("validate", "push", "install-secondary", "install-primary", "secondary-reboot")
# Faults that keep the lab from building an icu-in-progress cluster (its ICU cannot start).
ICU_START_BLOCKERS = {
    "package-missing",
    "disk-full",
    "disk-full-primary",
    "validation-fails",
    "version-mismatch",
    "icu-fails",
}
TARGET = "24.2R2-S1.3"
ICU = "request-package-in-service-upgrade"
ABORT, ROLLBACK, REBOOT = "abort-in-service-upgrade", "request-package-rollback", "request-reboot"
RUN_TIMEOUT = 300.0  # a run that takes longer hangs
NOT_HEALTHY_FAULTS = {"rg-unhealthy", "roles-disagree", "auth-fails"}


# scenarios ------------------------------------------------------------------------------
@dataclass
class Scenario:
    seed: int
    index: int
    kind: str
    speed: float
    clusters: list[dict[str, Any]]
    policy: list[str]
    restore: str | None
    delay: float  # seconds after the first ICU before the interruption

    @property
    def names(self) -> list[str]:
        return [c["name"] for c in self.clusters]

    def faults(self) -> set[str]:
        return {f for c in self.clusters for f in c.get("faults", [])}


def make_scenario(seed: int, index: int) -> Scenario:
    rng = random.Random(f"{seed}/{index}")
    kind = KINDS[index % len(KINDS)] if index < len(KINDS) else rng.choice(KINDS)
    clusters = []
    for i in range(rng.randint(4, 10)):
        state = rng.choices([s for s, _ in STATES], [w for _, w in STATES])[0]
        entry: dict[str, Any] = {"name": f"s{index:03d}-c{i:02d}", "state": state}
        if state == "icu-in-progress":
            entry["icu_phase"] = rng.choice(PHASES)
        if rng.random() < 0.35:
            faults = set(rng.sample(FAULTS, rng.choice((1, 1, 1, 2))))
            if state == "icu-in-progress":  # the lab's own ICU must have been able to start
                faults -= ICU_START_BLOCKERS
            if faults:
                entry["faults"] = sorted(faults)
        clusters.append(entry)
    n = len(clusters)
    processes = 2 if kind == "worker-kill" else rng.choice((1, 1, 2))
    policy = ["--yes", "--workers", str(rng.randint(2, n)), "--processes", str(processes)]
    if rng.random() < 0.3:
        policy += ["--max-in-flight", str(rng.randint(1, 3))]
    if rng.random() < 0.15:
        policy += ["--canary", "1"]
    if rng.random() < 0.2:
        policy += ["--max-failures", str(rng.randint(1, 3))]
    restore = rng.choice(("node0", "node1")) if rng.random() < 0.2 else None
    if restore:
        policy += ["--restore-primary", restore]
    return Scenario(seed, index, kind, 600.0, clusters, policy, restore, rng.uniform(0, 2.5))


# running --------------------------------------------------------------------------------
@dataclass
class Run:
    label: str
    job: str
    cmd: list[str]
    report_path: Path
    code: int | None = None
    killed: bool = False  # SIGKILLed on purpose: no report is owed
    hung: bool = False
    stderr: str = ""
    report: dict[str, Any] = field(default_factory=dict)
    selected: list[str] = field(default_factory=list)
    lab_after: dict[str, Any] = field(default_factory=dict)  # the lab once the run ended
    lab_before: dict[str, Any] = field(default_factory=dict)  # status: the lab before it ran


class Episode:
    """One scenario against its own lab and state directory."""

    def __init__(self, scn: Scenario, workdir: Path) -> None:
        self.scn, self.workdir = scn, workdir
        self.ops = workdir / "ops"
        self.config = private_config(self.ops)
        self.lab: LabProcess | None = None
        self.runs: list[Run] = []
        self.procs: list[subprocess.Popen[str]] = []
        self.notes: list[str] = []
        self.left: list[int] = []
        self.garbled = 0  # unplanted unparseable replies seen in the transcripts

    # processes ------------------------------------------------------------------------
    def start(self, job: str, *args: str, label: str = "") -> tuple[subprocess.Popen[str], Run]:
        assert self.lab is not None
        n = len(self.runs) + 1
        report = self.ops / f"report-{n}-{job}.json"
        cmd = [sys.executable, "-m", "runbooks", job, "--config", str(self.config)]
        cmd += ["--inventory", str(self.lab.inventory_dir), "--report", str(report)]
        if job != "status":  # status reads only: no event stream
            cmd += ["--events", str(self.ops / "events.jsonl")]
        cmd += list(args)
        run = Run(label or job, job, cmd, report)
        run.selected = [a for i, a in enumerate(args) if i and args[i - 1] == "--cluster"]
        run.selected = run.selected or list(self.scn.names)
        with report.with_suffix(".err").open("w") as err:
            proc = subprocess.Popen(
                cmd,
                cwd=self.ops,
                stdout=subprocess.DEVNULL,
                stderr=err,
                stdin=subprocess.DEVNULL,
                text=True,
                env={**os.environ, "PYTHONPATH": str(ROOT)},
                start_new_session=True,
            )
        self.procs.append(proc)
        self.runs.append(run)
        return proc, run

    def finish(self, proc: subprocess.Popen[str], run: Run, timeout: float = RUN_TIMEOUT) -> None:
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            run.hung = True
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
        run.code = proc.returncode
        run.stderr = run.report_path.with_suffix(".err").read_text()
        if run.report_path.exists():
            with contextlib.suppress(ValueError):
                run.report = json.loads(run.report_path.read_text())

    def run(self, job: str, *args: str, label: str = "") -> Run:
        proc, run = self.start(job, *args, label=label)
        self.finish(proc, run)
        run.lab_after = self.settled_state()
        return run

    def settled_state(self) -> dict[str, Any]:
        """The lab's truth once nodes left hold and preempt had its chance (bounded)."""
        assert self.lab is not None
        end = time.monotonic() + 8.0
        while True:
            state = self.lab.state()
            busy = any(
                status in ("hold", "secondary-hold")
                for c in state["clusters"].values()
                for rg in c["rgs"].values()
                for status in rg["status"].values()
            )
            if not busy or time.monotonic() > end:
                time.sleep(0.3)  # preempt acts on the next event after the hold ends
                return self.lab.state()
            time.sleep(0.2)

    def quiet_state(self, wait: float = 30.0) -> dict[str, Any]:
        """Before the final status: the lab with no ICU of its own still running and every
        node that will come back up (bounded: a node that never boots stays down)."""
        assert self.lab is not None
        end = time.monotonic() + wait
        while True:
            state = self.settled_state()
            busy = [
                name
                for name, c in state["clusters"].items()
                if c["icu_phase"] is not None or not all(n["up"] for n in c["nodes"].values())
            ]
            if not busy or time.monotonic() > end:
                return state
            time.sleep(0.5)

    def first_icu(self, proc: subprocess.Popen[str], timeout: float = 60.0) -> dict[str, Any]:
        """The first ICU the lab received from this scenario, or {} if the run ended first."""
        assert self.lab is not None
        end = time.monotonic() + timeout
        while time.monotonic() < end and proc.poll() is None:
            sent = [r for r in self.lab.audit() if r["rpc"] == ICU]
            if sent:
                return sent[0]
            time.sleep(0.05)
        return {}

    # episodes -------------------------------------------------------------------------
    def play(self) -> None:
        scn = self.scn
        spec = {"speed": scn.speed, "clusters": scn.clusters}
        self.lab = start_lab(spec, self.workdir / "lab", speed=scn.speed)
        try:
            getattr(self, "_" + scn.kind.replace("-", "_"))()
            self.run("recover", "--workers", str(len(scn.names)), label="recover")
            before = self.quiet_state()
            final = self.run("status", label="status")
            final.lab_before = before
        finally:
            for proc in self.procs:
                if proc.poll() is None:
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait(timeout=30)
            self.left = leftovers(str(self.config))
            self.lab.stop()

    def _plain(self) -> None:
        self.run("upgrade", *self.scn.policy)

    def _interrupted(self, act: Any, label: str) -> None:
        proc, run = self.start("upgrade", *self.scn.policy, label=label)
        if self.first_icu(proc):
            time.sleep(self.scn.delay)
            if proc.poll() is None:
                act(proc, run)
            else:
                self.notes.append("run ended before the interruption")
        else:
            self.notes.append("no ICU sent: not interrupted")
        self.finish(proc, run)
        run.lab_after = self.settled_state()

    def _kill_rerun(self) -> None:
        def kill(proc: subprocess.Popen[str], run: Run) -> None:
            run.killed = True
            os.killpg(proc.pid, signal.SIGKILL)

        self._interrupted(kill, "upgrade (SIGKILLed)")
        self.run("upgrade", *self.scn.policy, label="upgrade again")

    def _term(self, how: str) -> None:
        policy = [*self.scn.policy, "--on-interrupt", how]
        proc, run = self.start("upgrade", *policy, label=f"upgrade (SIGTERM, {how})")
        if self.first_icu(proc):
            time.sleep(self.scn.delay)
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGTERM)
        self.finish(proc, run)
        run.lab_after = self.settled_state()

    def _term_abort(self) -> None:
        self._term("abort")

    def _term_finish(self) -> None:
        self._term("finish")

    def _abort_second(self) -> None:
        proc, run = self.start("upgrade", *self.scn.policy)
        first = self.first_icu(proc)
        second = None
        if first:
            time.sleep(self.scn.delay)
            second = self.start("abort", "--cluster", first["cluster"], label="abort (second)")
        else:
            self.notes.append("no ICU sent: no abort")
        self.finish(proc, run)
        if second is not None:
            self.finish(*second)
        state = self.settled_state()
        run.lab_after = state
        if second is not None:
            second[1].lab_after = state

    def _worker_kill(self) -> None:
        def kill(proc: subprocess.Popen[str], run: Run) -> None:
            pids = lock_pids(self.ops / "state") - {proc.pid}
            alive = [p for p in pids if is_child(p, proc.pid)]
            if alive:
                os.kill(alive[0], signal.SIGKILL)
            else:
                self.notes.append("no worker process to kill")

        self._interrupted(kill, "upgrade (a worker killed)")
        self.run("upgrade", *self.scn.policy, label="upgrade again")


def lock_pids(state: Path) -> set[int]:
    pids = set()
    for path in (state / "locks").glob("*.lock"):
        with contextlib.suppress(OSError):
            m = re.search(r"pid (\d+)", path.read_text())
            if m:
                pids.add(int(m.group(1)))
    return pids


def is_child(pid: int, parent: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return int(stat.rsplit(")", 1)[1].split()[1]) == parent


def leftovers(marker: str, wait: float = 10.0) -> list[int]:
    """PIDs of processes whose command line names `marker` (this scenario's config)."""
    end = time.monotonic() + wait
    while True:
        found = []
        for entry in os.listdir("/proc"):
            if not entry.isdigit() or int(entry) == os.getpid():
                continue
            with contextlib.suppress(OSError):
                cmdline = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ")
                stat = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
                if marker.encode() in cmdline and stat[0] != "Z":
                    found.append(int(entry))
        if not found or time.monotonic() > end:
            return found
        time.sleep(0.2)


# invariants -----------------------------------------------------------------------------
def journal(ops: Path) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for path in (ops / "state" / "journal").glob("*.jsonl"):
        for line in path.read_text().splitlines():
            with contextlib.suppress(ValueError):
                out[path.stem].append(json.loads(line))
    return out


def transcripts(ops: Path) -> str:
    return "".join(
        p.read_text(errors="replace") for p in (ops / "state" / "runs").glob("*/transcripts/*")
    )


def target_of(entry: dict[str, Any]) -> str:
    return str(entry.get("target") or TARGET)


def lab_healthy(entry: dict[str, Any], truth: dict[str, Any]) -> bool:
    nodes = truth["nodes"].values()
    if set(entry.get("faults", [])) & NOT_HEALTHY_FAULTS:
        return False
    if not all(n["up"] and not n["pending"] and not n["stale_icu"] for n in nodes):
        return False
    if len({n["release"] for n in nodes}) != 1 or truth["icu_phase"] is not None:
        return False
    for rg in truth["rgs"].values():
        if rg["manual"] or sorted(rg["status"].values()) != ["primary", "secondary"]:
            return False
    return True


def _moving(before: dict[str, Any], after: dict[str, Any]) -> bool:
    def facts(c: dict[str, Any]) -> Any:
        nodes = {n: (v["release"], v["up"], v["pending"]) for n, v in c["nodes"].items()}
        return nodes, c["icu_phase"], {k: rg["primary"] for k, rg in c["rgs"].items()}

    return bool(facts(before) != facts(after))


def check_ok(scn: Scenario, run: Run) -> list[str]:
    """`ok` only when the lab agrees (after settling)."""
    out = []
    entries = {c["name"]: c for c in scn.clusters}
    for name, c in (run.report.get("clusters") or {}).items():
        if c.get("outcome") != "ok" or name not in entries or not run.lab_after:
            continue
        truth = run.lab_after["clusters"][name]
        nodes = truth["nodes"]
        releases = {n["release"] for n in nodes.values()}
        why = []
        if not all(n["up"] for n in nodes.values()):
            why.append("a node is down")
        if any(n["pending"] for n in nodes.values()) or truth["icu_phase"]:
            why.append("an install pending or an ICU running")
        if run.job == "upgrade" and releases != {target_of(entries[name])}:
            why.append(f"releases {sorted(releases)}")
        if run.job in ("recover", "abort") and len(releases) != 1:
            why.append(f"releases {sorted(releases)}")
        if run.job == "upgrade" and scn.restore:
            placed = {rg["primary"] for rg in truth["rgs"].values()}
            manual = any(rg["manual"] for rg in truth["rgs"].values())
            if placed != {scn.restore} or manual:
                why.append(f"RG primaries {sorted(placed)} (asked {scn.restore})")
        if why:
            out.append(f"ok: {run.label}: {name} reported ok but the lab says {'; '.join(why)}")
    return out


def check_status(scn: Scenario, run: Run) -> list[str]:
    """The final status equals the lab's truth."""
    out = []
    for entry in scn.clusters:
        name = entry["name"]
        claimed = (run.report.get("clusters") or {}).get(name)
        if claimed is None or not run.lab_after:
            continue
        truth = run.lab_after["clusters"][name]
        if run.lab_before and _moving(run.lab_before["clusters"][name], truth):
            continue  # the lab changed while status read it: no one truth to compare with
        healthy = lab_healthy(entry, truth)
        if (claimed.get("state") == "healthy") != healthy:
            out.append(
                f"status: {name} reported {claimed.get('state')} ({claimed.get('detail')}) "
                f"but the lab is {'healthy' if healthy else 'not healthy'}"
            )
        for node, version in (claimed.get("versions") or {}).items():
            real = truth["nodes"][node]
            if version and real["up"] and version != real["release"]:
                out.append(f"status: {name} {node} reported {version}, runs {real['release']}")
    return out


def check_icus(scn: Scenario, audit: list[dict[str, Any]], journals: dict[str, Any]) -> list[str]:
    out = []
    for name in scn.names:
        sent = sorted(r["ts"] for r in audit if r["cluster"] == name and r["rpc"] == ICU)
        ended = [r["ts"] for r in journals.get(name, []) if r.get("event") == "icu-ended"]
        for before, after in itertools.pairwise(sent):
            if not any(before <= t <= after for t in ended):
                out.append(f"one-icu: {name} got a second ICU with no run seeing the first end")
    return out


def check_recovery(audit: list[dict[str, Any]]) -> list[str]:
    """Per node: rollback only after an abort, reboot only after a rollback, since the node's
    last reboot; the rollback names the node it is sent to."""
    out = []
    seen: dict[tuple[str, str], list[str]] = defaultdict(list)
    for r in audit:
        if r["rpc"] not in (ABORT, ROLLBACK, REBOOT):
            continue
        key = (r["cluster"], r["node"])
        if r["rpc"] == ROLLBACK:
            if ABORT not in seen[key]:
                out.append(f"recovery: {key[0]} {key[1]} rollback with no abort before it")
            named = str(r["args"].get("node", key[1].removeprefix("node")))
            if named != key[1].removeprefix("node"):
                out.append(f"recovery: {key[0]} rollback of node{named} sent to {key[1]}")
        if r["rpc"] == REBOOT:
            if ROLLBACK not in seen[key]:
                out.append(f"recovery: {key[0]} {key[1]} reboot with no rollback before it")
            seen[key] = []
            continue
        seen[key].append(r["rpc"])
    return out


def check_events(run: Run, events: list[dict[str, Any]]) -> list[str]:
    """The --events stream says what the report says: each cluster-finished event the last
    word on its cluster, and the run-finished counts the report's."""
    if not run.report or run.job == "status" or run.killed:  # SIGKILL: a report in progress
        return []
    mine = [e for e in events if e.get("run_id") == run.report.get("run_id")]
    reported = {n: c.get("outcome") for n, c in (run.report.get("clusters") or {}).items()}
    out = []
    last = {e["cluster"]: e.get("outcome") for e in mine if e.get("event") == "cluster-finished"}
    for name, outcome in last.items():
        if name in reported and reported[name] != outcome:
            out.append(f"events: {run.label}: {name} event says {outcome}, report {reported[name]}")
    ends = [e for e in mine if e.get("event") == "run-finished"]
    if not ends:
        out.append(f"events: {run.label}: no run-finished event")
    elif dict(ends[-1].get("outcomes") or {}) != dict(Counter(reported.values())):
        out.append(f"events: {run.label}: run-finished counts differ from the report")
    return out


def check(ep: Episode) -> list[str]:
    scn, out = ep.scn, []
    assert ep.lab is not None
    audit = ep.lab.audit()
    journals = journal(ep.ops)
    events = []
    with contextlib.suppress(OSError):
        for line in (ep.ops / "events.jsonl").read_text().splitlines():
            with contextlib.suppress(ValueError):
                events.append(json.loads(line))
    for run in ep.runs:
        if run.hung:
            out.append(f"hang: {run.label} did not end within {RUN_TIMEOUT:g}s")
        if not run.killed:
            named = set(run.report.get("clusters") or {})
            missing = sorted(set(run.selected) - named)
            if not run.report:
                out.append(f"report: {run.label} wrote no report (exit {run.code})")
            elif missing:
                out.append(f"report: {run.label} left out {', '.join(missing)}")
        if "Traceback" in run.stderr:
            out.append(f"traceback: {run.label}: {run.stderr.strip().splitlines()[-1][:160]}")
        for name, c in (run.report.get("clusters") or {}).items():
            if "internal error" in str(c.get("detail")):
                out.append(f"traceback: {run.label}: {name} internal error: {c['detail'][:120]}")
        out += check_ok(scn, run) if run.job != "status" else check_status(scn, run)
        out += check_events(run, events)
    out += check_icus(scn, audit, journals)
    if "must be run on the primary node" in transcripts(ep.ops):
        out.append("icu-primary: an ICU reached a node that was not the RG0 primary")
    ep.garbled = garbled_replies(scn, ep.ops)
    out += check_recovery(audit)
    if ep.left:
        out.append(f"process: left running: {ep.left}")
    return out


def garbled_replies(scn: Scenario, ops: Path) -> int:
    """Unparseable replies on clusters the lab did not garble on purpose (not a violation
    when handled, but each one is a transport bug to find)."""
    planted = {c["name"] for c in scn.clusters if "reply-garbled" in c.get("faults", [])}
    count = 0
    for path in (ops / "state" / "runs").glob("*/transcripts/*"):
        if path.name.split(".")[0] not in planted:
            count += path.read_text(errors="replace").count("XMLSyntaxError")
    return count


def replay(ep: Episode) -> str:
    lab = ep.workdir / "lab"
    lines = [
        f"# scenario {ep.scn.index} of seed {ep.scn.seed}: {ep.scn.kind}",
        f"python bench/campaign.py --seed {ep.scn.seed} --scenario {ep.scn.index} "
        f"--keep /tmp/replay-{ep.scn.seed}-{ep.scn.index}",
        "# or by hand:",
        f"python -m simulator --lab {lab / 'lab.yaml'} --speed {ep.scn.speed:g} "
        f"--inventory-dir {lab / 'inventory'} --audit {lab / 'audit.jsonl'} "
        f"--state-out {lab / 'state.json'} &",
    ]
    for run in ep.runs:
        extra = " # SIGKILLed mid-run" if run.killed else ""
        lines.append(" ".join(run.cmd[1:]).replace(str(ROOT) + "/", "") + extra)
    lines += [f"# note: {n}" for n in ep.notes]
    return "\n".join(lines)


# the campaign ---------------------------------------------------------------------------
@dataclass
class Outcome:
    scn: Scenario
    violations: list[str]
    seconds: float
    replay: str
    outcomes: Counter[str]
    garbled: int = 0


def one(seed: int, index: int, base: Path, keep: Path | None) -> Outcome:
    scn = make_scenario(seed, index)
    workdir = Path(tempfile.mkdtemp(prefix=f"s{index:03d}-", dir=base))
    ep = Episode(scn, workdir)
    started = time.monotonic()
    try:
        ep.play()
        violations = check(ep)
    except Exception as exc:  # the campaign itself failed on this scenario: say so
        violations = [f"campaign: {type(exc).__name__}: {exc}"]
        ep.left = []
    outcomes: Counter[str] = Counter()
    for run in ep.runs:
        for c in (run.report.get("clusters") or {}).values():
            outcomes[f"{run.job}:{c.get('outcome')}"] += 1
    text = replay(ep)
    if keep is not None and (violations or keep_all):
        dest = keep / workdir.name
        shutil.copytree(workdir, dest, dirs_exist_ok=True)
        (dest / "REPLAY.txt").write_text(text + "\n")
    shutil.rmtree(workdir, ignore_errors=True)
    return Outcome(scn, violations, time.monotonic() - started, text, outcomes, ep.garbled)


keep_all = False


def summary(results: list[Outcome]) -> None:
    kinds: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    faults: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    for r in results:
        bad = 1 if r.violations else 0
        kinds[r.scn.kind][0] += 1
        kinds[r.scn.kind][1] += len(r.scn.names)
        kinds[r.scn.kind][2] += bad
        for entry in r.scn.clusters:
            for fault in entry.get("faults", []) or ["(none)"]:
                faults[fault][1] += 1
        for fault in r.scn.faults() or {"(none)"}:
            faults[fault][0] += 1
            faults[fault][2] += bad
    print(f"\n{'episode':<14} {'scenarios':>9} {'clusters':>9} {'violating':>9}")
    for kind in KINDS:
        s, c, v = kinds.get(kind, [0, 0, 0])
        print(f"{kind:<14} {s:>9} {c:>9} {v:>9}")
    print(f"\n{'fault':<22} {'scenarios':>9} {'clusters':>9} {'violating':>9}")
    for fault in sorted(faults):
        s, c, v = faults[fault]
        print(f"{fault:<22} {s:>9} {c:>9} {v:>9}")
    total: Counter[str] = Counter()
    for r in results:
        total.update(r.outcomes)
    print("\noutcomes per job: " + ", ".join(f"{k} {v}" for k, v in sorted(total.items())))
    garbled = [(r.scn.index, r.garbled) for r in results if r.garbled]
    print(f"unplanted unparseable replies (XMLSyntaxError in transcripts): {garbled or 'none'}")
    bad = [r for r in results if r.violations]
    seconds = sum(r.seconds for r in results)
    print(
        f"\n{len(results)} scenarios, {sum(len(r.scn.names) for r in results)} clusters, "
        f"{len(bad)} with violations, {seconds:.0f} scenario-seconds"
    )


def main() -> int:
    global keep_all
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--scenarios", type=int, default=20)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--scenario", type=int, help="run only this scenario (replay)")
    ap.add_argument("--first", type=int, default=0, help="number of the first scenario")
    ap.add_argument("--indices", help="run these scenarios only, e.g. 35,37,47")
    ap.add_argument("--jobs", type=int, default=1, help="scenarios at once (2 cores: 1-2)")
    ap.add_argument("--keep", type=Path, help="copy failing scenarios' files here")
    ap.add_argument("--keep-all", action="store_true", help="with --keep: every scenario")
    args = ap.parse_args()
    keep_all = args.keep_all or args.scenario is not None
    indices = list(range(args.first, args.first + args.scenarios))
    if args.scenario is not None:
        indices = [args.scenario]
    elif args.indices:
        indices = [int(i) for i in args.indices.split(",") if i.strip()]
    base = Path(tempfile.mkdtemp(prefix="campaign-"))
    results: list[Outcome] = []
    lock = threading.Lock()

    stopping = threading.Event()  # SIGINT/SIGTERM: start no new scenario, finish the others
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stopping.set())

    def work(index: int) -> None:
        if stopping.is_set():
            return
        result = one(args.seed, index, base, args.keep)
        with lock:
            results.append(result)
            mark = "VIOLATION" if result.violations else "ok"
            print(
                f"[{len(results)}/{len(indices)}] scenario {index} {result.scn.kind} "
                f"{len(result.scn.names)} clusters {sorted(result.scn.faults())} "
                f"{result.seconds:.0f}s {mark}"
                + (f" ({result.garbled} unplanted garbled replies)" if result.garbled else ""),
                flush=True,
            )
            for v in result.violations:
                print(f"    {v}", flush=True)
            if result.violations:
                print("    replay:\n      " + result.replay.replace("\n", "\n      "), flush=True)

    try:
        with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
            list(pool.map(work, indices))
    finally:
        shutil.rmtree(base, ignore_errors=True)
    results.sort(key=lambda r: r.scn.index)
    summary(results)
    return 1 if any(r.violations for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
