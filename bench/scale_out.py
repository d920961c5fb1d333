"""The Celery + Redis engine at scale (issue 10). Prints tables; not a timed test.

engine  Engine only: N clusters (default 10 000) on 4 worker processes in 2 regions, the
        upgrade plan replaced by a stub (bench/scale_out_stub.py: slot, the ICU records with
        the conditional intent, a sleep). Enqueue rate, enqueue -> start p50/p99, CPU and
        memory per cluster per component (coordinator, workers, Redis), Redis commands/s, AOF.
stack   Full stack: N clusters (default 2 000) in 2 regions (one simulator lab each), ICU
        ~120 s, --max-in-flight M (default 1 000), over 4 worker processes; the same fleet with
        --engine local (4 processes) for the CPU comparison; with --kill, one worker SIGKILLed
        at peak: clusters lost, duplicate destructive commands, time to re-attach.

Usage: python bench/scale_out.py engine [--clusters 10000] [--sleep 5] [--threads 250]
       python bench/scale_out.py stack [--clusters 2000] [--max-in-flight 1000] [--kill]
                                       [--engines celery,local]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis
import yaml
from common import ROOT, proc_stats, table

from simulator.testing import LabProcess, private_config, wait_until
from tasks.state.journal import read_records
from tests.e2e.celery_rig import merged_inventory
from tests.redis_server import RedisServer

ICU = "request-package-in-service-upgrade"
DESTRUCTIVE = {ICU, "request-package-in-service-upgrade-abort", "request-package-rollback"}
ICU_SIM_SECONDS = 52 * 60  # the lab's default ICU (docs/development/lab-contract.md)
REGIONS = ("east", "west")


# processes and what they cost -------------------------------------------------------------
def children() -> dict[int, list[int]]:
    """ppid -> pids, from one pass over /proc."""
    out: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            out.setdefault(int(stat.rsplit(")", 1)[1].split()[1]), []).append(int(entry))
    return out


@dataclass
class Component:
    """Processes of one kind (each with its descendants): CPU read at the start and the end,
    RSS sampled."""

    name: str
    pids: list[int] = field(default_factory=list)
    peak_rss: float = 0.0
    cpu_at_start: float = 0.0
    cpu: float = 0.0

    def stats(self, kids: dict[int, list[int]]) -> tuple[float, float]:
        cpu = rss = 0.0
        todo = list(self.pids)
        while todo:
            pid = todo.pop()
            todo.extend(kids.get(pid, []))
            try:
                c, r = proc_stats(pid)
            except OSError:
                continue
            cpu, rss = cpu + c, rss + r
        return cpu, rss


class Meter:
    """Samples every component's RSS every second while a run lasts; CPU at both ends."""

    def __init__(self, parts: list[Component]) -> None:
        self.parts, self.done = parts, threading.Event()
        self.thread = threading.Thread(target=self._sample, daemon=True)

    def __enter__(self) -> Meter:
        kids = children()
        for p in self.parts:
            p.cpu_at_start = p.stats(kids)[0]
        self.thread.start()
        return self

    def _sample(self) -> None:
        while not self.done.wait(1.0):
            kids = children()
            for p in self.parts:
                p.peak_rss = max(p.peak_rss, p.stats(kids)[1])

    def __exit__(self, *exc: object) -> None:
        self.done.set()
        self.thread.join()
        kids = children()
        for p in self.parts:
            p.cpu = p.stats(kids)[0] - p.cpu_at_start


def env() -> dict[str, str]:
    out = {k: v for k, v in os.environ.items() if not k.startswith("JUNOS_")}
    out["PYTHONPATH"] = str(ROOT)
    return out


def start_workers(
    broker: str,
    work: Path,
    config: Path,
    inventory: Path,
    per_region: int,
    threads: int,
    stub: float | None = None,
) -> list[subprocess.Popen[str]]:
    procs = []
    for region in REGIONS:
        for i in range(per_region):
            head = [sys.executable]
            head += (
                [str(ROOT / "bench" / "scale_out_stub.py"), str(stub)]
                if stub
                else ["-m", "runbooks"]
            )
            cmd = [*head, "worker", "--broker", broker, "--region", region]
            cmd += [
                "--workers",
                str(threads),
                "--config",
                str(config),
                "--inventory",
                str(inventory),
            ]
            log = (work / f"worker-{region}-{i}.log").open("w")
            procs.append(
                subprocess.Popen(cmd, cwd=work, stdout=log, stderr=log, text=True, env=env())
            )
    r = redis.Redis.from_url(broker.replace("redis+socket://", "unix://"), decode_responses=True)
    wait_until(
        lambda: all(r.zcard(f"rb:workers:{reg}") >= per_region for reg in REGIONS),
        60,
        message="workers registered",
    )
    return procs


def start_coordinator(cmd: list[str], work: Path, coord: Component) -> subprocess.Popen[str]:
    """The operator's process, its stderr (progress, warnings) to work/coordinator.err."""
    err = (work / "coordinator.err").open("w")
    proc = subprocess.Popen(
        cmd, cwd=work, stdout=subprocess.DEVNULL, stderr=err, text=True, env=env()
    )
    coord.pids.append(proc.pid)
    return proc


def profile(where: Path | None, eng: str, pids: list[int]) -> list[subprocess.Popen[str]]:
    """py-spy recording each of `pids` (and its children) until it exits or is stopped."""
    if where is None:
        return []
    where.mkdir(parents=True, exist_ok=True)
    spies = []
    for pid in pids:
        cmd = ["py-spy", "record", "--pid", str(pid), "--subprocesses", "--nonblocking", "--gil"]
        cmd += ["--rate", "5", "--format", "raw", "--output", str(where / f"{eng}-{pid}.txt")]
        spies.append(subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    return spies


def stop(procs: list[subprocess.Popen[str]]) -> None:
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    for p in procs:
        try:
            p.wait(timeout=30)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def journal_events(r: redis.Redis, clusters: list[str]) -> list[dict[str, Any]]:  # type: ignore[type-arg]
    """Every cluster's journal records in the store (the --events file has fewer kinds)."""
    out = []
    for name in clusters:
        for _, fields in r.xrange(f"rb:journal:{name}"):
            rec = json.loads(fields["r"])
            rec.setdefault("cluster", name)
            out.append(rec)
    return out


def local_journal(state_dir: Path) -> list[dict[str, Any]]:
    out = []
    for path in (state_dir / "journal").glob("*.jsonl"):
        for rec in read_records(path):
            rec.setdefault("cluster", path.stem)
            out.append(rec)
    return out


def first_ts(events: list[dict[str, Any]], kind: str) -> dict[str, float]:
    seen: dict[str, float] = {}
    for e in events:
        if e.get("event") == kind and e.get("cluster") and e["cluster"] not in seen:
            seen[e["cluster"]] = float(e["ts"])
    return seen


def outcomes_of(report: Path) -> Counter[str]:
    data = json.loads(report.read_text())
    return Counter(c["outcome"] for c in data["clusters"].values())


def redis_info(r: redis.Redis) -> tuple[int, int]:  # type: ignore[type-arg]
    stats: Any = r.info("stats")
    persistence: Any = r.info("persistence")
    return int(stats["total_commands_processed"]), int(persistence.get("aof_current_size", 0))


# engine only -------------------------------------------------------------------------------
def stub_inventory(template: Path, out: Path, clusters: int) -> Path:
    """N clusters of the lab's groups and defaults, 2 distinct (unused) ports each."""
    out.mkdir(parents=True, exist_ok=True)
    for name in ("groups.yaml", "defaults.yaml"):
        (out / name).write_text((template / name).read_text())
    hosts = {}
    for i in range(clusters):
        nodes = {
            n: {
                "hostname": "127.0.0.1",
                "port": 20000 + 2 * i + k,
                "extras": {"optional_args": {"port": 20000 + 2 * i + k}},
            }
            for k, n in enumerate(("node0", "node1"))
        }
        hosts[f"st-{i:05d}"] = {
            "hostname": "127.0.0.1",
            "groups": ["SRX345"],
            "data": {"site": "stub", "cluster_id": 1 + i % 255, "region": REGIONS[i % 2]},
            "connection_options": nodes,
        }
    (out / "hosts.yaml").write_text(yaml.safe_dump(hosts))
    return out


def engine(args: argparse.Namespace) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        work = args.keep or Path(tmp)
        server = RedisServer(work / "redis")
        server.start()
        template = LabProcess(None, work / "template", clusters=1)
        template.stop()
        config = private_config(work / "ops")
        inventory = stub_inventory(template.inventory_dir, work / "inventory", args.clusters)
        r = redis.Redis(unix_socket_path=str(server.socket), decode_responses=True)
        workers = start_workers(
            server.broker, work, config, inventory, 2, args.threads, stub=args.sleep
        )
        try:
            return _engine_run(args, work, server, r, workers, config, inventory)
        finally:
            stop(workers)
            server.stop()


def _engine_run(args, work, server, r, workers, config, inventory) -> int:  # type: ignore[no-untyped-def]
    enq, events, report = work / "enq.json", work / "events.jsonl", work / "report.json"
    cmd = [sys.executable, str(ROOT / "bench" / "scale_out_stub.py"), str(enq), "upgrade"]
    cmd += ["--config", str(config), "--inventory", str(inventory), "--engine", "celery"]
    cmd += ["--broker", server.broker, "--yes", "--events", str(events), "--report", str(report)]
    coord = Component("coordinator")
    wk = Component("workers (4)", [p.pid for p in workers])
    red = Component("redis-server", [server.proc.pid])  # type: ignore[union-attr]
    commands0, aof0 = redis_info(r)
    begun = time.time()
    with Meter([wk, red, coord]):
        proc = start_coordinator(cmd, work, coord)
        _, status, usage = os.wait4(proc.pid, 0)
    wall = time.time() - begun
    coord.cpu = usage.ru_utime + usage.ru_stime
    code = os.waitstatus_to_exitcode(status)
    commands1, aof1 = redis_info(r)
    enqueued = json.loads(enq.read_text())
    started = first_ts(journal_events(r, list(enqueued)), "cluster-started")
    lag = [started[c] - t for c, t in enqueued.items() if c in started]
    t_enq = sorted(enqueued.values())
    n = args.clusters
    rounds = math.ceil(n / (4 * args.threads))
    rows = [
        (
            "clusters / worker processes x threads / stub ICU",
            f"{n} / 4 x {args.threads} / {args.sleep:g} s",
        ),
        ("exit code / outcomes", f"{code} / {dict(outcomes_of(report))}"),
        ("wall (s) / ideal (rounds x sleep)", f"{wall:.1f} / {rounds * args.sleep:.0f}"),
        ("enqueue rate (jobs/s)", f"{n / max(t_enq[-1] - t_enq[0], 1e-6):.0f}"),
        (
            "enqueue -> start p50 / p99 / max (s)",
            f"{pct(lag, 0.5):.2f} / {pct(lag, 0.99):.2f} / {max(lag):.2f}",
        ),
        (
            "redis commands/s / AOF growth (MiB)",
            f"{(commands1 - commands0) / wall:.0f} / {(aof1 - aof0) / 2**20:.1f}",
        ),
    ]
    for part in (coord, wk, red):
        rows.append(
            (
                f"{part.name}: CPU s / per cluster (ms) / peak RSS MiB",
                f"{part.cpu:.1f} / {1000 * part.cpu / n:.2f} / {part.peak_rss:.0f}",
            )
        )
    table("engine only (stub plan)", rows)
    if code != 0:
        print((work / "coordinator.err").read_text()[-2000:])
    return code


# full stack ----------------------------------------------------------------------------------
def merged(labs: dict[str, LabProcess], out: Path, poll: float) -> Path:
    """The e2e rig's inventory over both labs, polled every `poll` s."""
    inventory = merged_inventory(labs, out.parent)
    defaults = yaml.safe_load((inventory / "defaults.yaml").read_text())
    defaults["data"]["timing"]["poll_interval"] = poll
    (inventory / "defaults.yaml").write_text(yaml.safe_dump(defaults))
    return inventory


def region_lab(work: Path, region: str, count: int, speed: float) -> LabProcess:
    """One region's lab; its clusters are named after the region (east-0000, ...)."""
    clusters = [{"name": f"{region}-{i:04d}"} for i in range(count)]
    return LabProcess({"speed": speed, "clusters": clusters}, work / f"lab-{region}", speed=speed)


@dataclass
class StackRun:
    engine: str
    code: int = 0
    wall: float = 0.0
    outcomes: Counter[str] = field(default_factory=Counter)
    icu_times: dict[str, float] = field(default_factory=dict)
    duplicates: int = 0
    lost: int = 0
    parts: list[Component] = field(default_factory=list)
    killed: str = ""
    reattach: list[float] = field(default_factory=list)
    peak_in_flight: int = 0
    rpcs: Counter[str] = field(default_factory=Counter)  # RPC name -> count, every lab
    commands: Counter[str] = field(default_factory=Counter)  # Redis command -> calls
    sessions: int = 0  # NETCONF sessions the labs saw (cluster, node, session id)


def stack(args: argparse.Namespace) -> int:
    speed = ICU_SIM_SECONDS / args.icu
    runs = []
    for eng in args.engines.split(","):
        kill = eng == "celery-kill"
        runs.append(_stack_once(args, "celery" if kill else eng, speed, kill))
    rows = []
    local = next((x for x in runs if x.engine == "local"), None)
    for x in runs:
        name = x.engine + (" (worker killed)" if x.killed else "")
        times = list(x.icu_times.values())
        rounds = math.ceil(args.clusters / args.max_in_flight)
        ideal = rounds * (max(times) if times else float("nan"))
        rows += [
            (f"{name}: exit / outcomes", f"{x.code} / {dict(x.outcomes)}"),
            (
                f"{name}: wall / ideal ({rounds} x slowest ICU {max(times, default=0):.1f} s)",
                f"{x.wall:.1f} / {ideal:.1f} = {x.wall / ideal:.3f}",
            ),
            (
                f"{name}: clusters lost / duplicate destructive commands",
                f"{x.lost} / {x.duplicates}",
            ),
            (f"{name}: peak in flight (sampled)", f"{x.peak_in_flight}"),
            (f"{name}: RPCs per cluster (audit)", f"{sum(x.rpcs.values()) / args.clusters:.1f}"),
            (f"{name}: NETCONF sessions per cluster (audit)", f"{x.sessions / args.clusters:.1f}"),
        ]
        if x.commands:
            top = ", ".join(f"{k} {v / args.clusters:.0f}" for k, v in x.commands.most_common(6))
            rows.append(
                (
                    f"{name}: Redis commands per cluster (the bench's sampling included)",
                    f"{sum(x.commands.values()) / args.clusters:.0f}: {top}",
                )
            )
        for p in x.parts:
            rows.append(
                (
                    f"{name}: {p.name} CPU s / per cluster ms / peak RSS MiB",
                    f"{p.cpu:.1f} / {1000 * p.cpu / args.clusters:.1f} / {p.peak_rss:.0f}",
                )
            )
        runbook_cpu = sum(p.cpu for p in x.parts if p.name != "labs")
        rows.append(
            (
                f"{name}: runbook CPU per cluster (s), labs excluded",
                f"{runbook_cpu / args.clusters:.3f}",
            )
        )
        if local is not None and x is not local:
            lcpu = sum(p.cpu for p in local.parts if p.name != "labs")
            rows.append((f"{name}: CPU / local engine's", f"{runbook_cpu / lcpu:.2f}"))
        if x.killed:
            rows.append(
                (
                    f"{name}: killed / its clusters re-attached after (s) p50 / max",
                    f"{x.killed} / {pct(x.reattach, 0.5):.1f} / {pct(x.reattach, 1.0):.1f}",
                )
            )
    table(
        f"full stack: {args.clusters} clusters, 2 regions, ICU ~{args.icu:g} s, "
        f"--max-in-flight {args.max_in_flight}",
        rows,
    )
    return max(x.code for x in runs)


def _stack_once(args: argparse.Namespace, eng: str, speed: float, kill: bool) -> StackRun:
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        half = args.clusters // 2
        labs = {reg: region_lab(work, reg, half, speed) for reg in REGIONS}
        server = RedisServer(work / "redis")
        server.start()
        workers: list[subprocess.Popen[str]] = []
        try:
            inventory = merged(labs, work / "ops" / "inventory", args.poll)
            config = private_config(work / "ops")
            if eng == "celery":
                # each process can hold its whole region: a survivor of a killed worker has
                # threads free for the re-attached clusters (with clusters/4 the re-attach
                # waited for a thread: 131 s at 400 clusters)
                threads = args.threads or math.ceil(args.clusters / 2)
                workers = start_workers(server.broker, work, config, inventory, 2, threads)
            return _stack_run(args, eng, kill, work, labs, server, workers, config, inventory)
        finally:
            stop(workers)
            server.stop()
            for lab in labs.values():
                lab.stop()


def _stack_run(args, eng, kill, work, labs, server, workers, config, inventory) -> StackRun:  # type: ignore[no-untyped-def]
    events, report = work / "events.jsonl", work / "report.json"
    cmd = [sys.executable, "-m", "runbooks", "upgrade", "--config", str(config)]
    cmd += [
        "--inventory",
        str(inventory),
        "--yes",
        "--events",
        str(events),
        "--report",
        str(report),
    ]
    cmd += ["--max-in-flight", str(args.max_in_flight)]
    if eng == "celery":
        cmd += ["--engine", "celery", "--broker", server.broker]
    else:
        cmd += ["--engine", "local", "--processes", "4", "--workers", str(args.clusters)]
    out = StackRun(eng)
    coord = Component("coordinator" if eng == "celery" else "runbook (all processes)")
    wk = Component("workers (4)", [p.pid for p in workers])
    red = Component("redis-server", [server.proc.pid] if eng == "celery" else [])
    lab_part = Component("labs", [lab.pid for lab in labs.values()])
    out.parts = [coord, wk, red, lab_part] if eng == "celery" else [coord, lab_part]
    r = redis.Redis(unix_socket_path=str(server.socket), decode_responses=True)
    begun = time.time()
    with Meter(out.parts):
        proc = start_coordinator(cmd, work, coord)
        spies = profile(args.profile, eng, [proc.pid, *(p.pid for p in workers)])
        watcher = threading.Thread(
            target=_watch, args=(args, eng, kill, r, workers, out), daemon=True
        )
        watcher.start()
        _, status, usage = os.wait4(proc.pid, 0)
        out.wall = time.time() - begun
        watcher.join(timeout=5)
    for spy in spies:  # py-spy writes its file on SIGINT
        spy.send_signal(signal.SIGINT)
    for spy in spies:
        spy.wait(timeout=120)
    coord.cpu = usage.ru_utime + usage.ru_stime  # local: its forked worker processes included
    out.code = os.waitstatus_to_exitcode(status)
    out.outcomes = outcomes_of(report) if report.exists() else Counter()
    out.lost = (
        args.clusters
        - sum(out.outcomes.values())
        + sum(v for k, v in out.outcomes.items() if k != "ok")
    )
    if eng == "celery":  # every command of the run: the workers', the coordinator's, ours
        stats: Any = r.info("commandstats")
        out.commands = Counter({k[len("cmdstat_") :]: int(v["calls"]) for k, v in stats.items()})
    names = list(json.loads(report.read_text())["clusters"]) if report.exists() else []
    evs = journal_events(r, names) if eng == "celery" else local_journal(work / "ops" / "state")
    sent, done = first_ts(evs, "icu-sending"), {}
    for e in evs:
        if e.get("event") == "cluster-finished" and e.get("outcome") == "ok":
            done[e["cluster"]] = float(e["ts"])
    out.icu_times = {c: done[c] - sent[c] for c in done if c in sent}
    audit, sessions = Counter(), set()
    for lab in labs.values():
        for rec in lab.audit():
            out.rpcs[rec["rpc"]] += 1
            sessions.add((rec["cluster"], rec["node"], rec["session"]))
            if rec["rpc"] in DESTRUCTIVE:
                audit[(rec["cluster"], rec["rpc"])] += 1
    out.duplicates = sum(v - 1 for v in audit.values() if v > 1)
    out.sessions = len(sessions)
    if kill and out.killed:
        out.reattach = _reattach_times(evs, out)
    print(f"{eng} RPCs: {dict(out.rpcs.most_common())}", file=sys.stderr)
    return out


def _watch(args, eng, kill, r, workers, out: StackRun) -> None:  # type: ignore[no-untyped-def]
    """Sample the in-flight set; with kill, SIGKILL one worker once the fleet is at its peak."""
    killed_at = None
    keys: list[str] = []
    end = time.time() + 3 * 3600
    while time.time() < end and out.wall == 0.0:
        if eng == "celery":
            keys = keys or r.keys("rb:run:*:inflight")  # KEYS once: it walks the keyspace
            n = max((r.zcard(k) for k in keys), default=0)
            out.peak_in_flight = max(out.peak_in_flight, n)
            if kill and killed_at is None and n >= args.max_in_flight:
                time.sleep(args.kill_after)
                victim = workers[0]
                victim.send_signal(signal.SIGKILL)
                killed_at = time.time()
                out.killed = f"pid {victim.pid} at {killed_at:.0f}"
                out.reattach = [killed_at]
        time.sleep(0.1)


def _reattach_times(evs: list[dict[str, Any]], out: StackRun) -> list[float]:
    """For each re-attached cluster: kill -> its first 're-attaching' note."""
    killed_at = out.reattach[0]
    notes = {}
    for e in evs:
        if (
            e.get("event") == "note"
            and "re-attaching" in str(e.get("message", ""))
            and float(e["ts"]) > killed_at
        ):
            notes.setdefault(e["cluster"], float(e["ts"]) - killed_at)
    return sorted(notes.values())


def main() -> int:
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="mode", required=True)
    e = sub.add_parser("engine")
    e.add_argument("--clusters", type=int, default=10000)
    e.add_argument("--sleep", type=float, default=5.0)
    e.add_argument("--threads", type=int, default=250)
    e.add_argument("--keep", type=Path, help="work in this directory and keep it")
    s = sub.add_parser("stack")
    s.add_argument("--clusters", type=int, default=2000)
    s.add_argument("--max-in-flight", type=int, default=1000)
    s.add_argument("--icu", type=float, default=120.0, help="ICU seconds (real)")
    s.add_argument("--poll", type=float, default=3.0, help="poll interval (real seconds)")
    s.add_argument("--engines", default="celery,local", help="celery, local, celery-kill")
    s.add_argument("--kill-after", type=float, default=10.0, help="s at peak before the kill")
    s.add_argument("--threads", type=int, help="threads per worker process (default N/2)")
    s.add_argument(
        "--profile",
        type=Path,
        metavar="DIR",
        help="py-spy (on PATH) samples the runbook's "
        "processes into DIR/<engine>-<pid>.txt (collapsed stacks, idle threads left out)",
    )
    args = ap.parse_args()
    return engine(args) if args.mode == "engine" else stack(args)


if __name__ == "__main__":
    sys.exit(main())
