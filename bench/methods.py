"""A mixed-method fleet rehearsal: `python -m bench.methods [--clusters 200] [--dual 0.4]
[--in-flight 200,20]`.

Each cluster is an in-process lab of its own (simulator/inprocess.py) on a virtual clock of
its own, upgraded by the real job (`srx_upgrade(..., allow_outage=True)`, through Nornir, the
executor, locks and journal): some SRX345 clusters need ICU only (23.4R2-S3.9 -> 24.2R2-S1.3),
the others a dual reboot to 24.4R1.9, then ICU to 25.2R1.9. A virtual clock has one driver
thread, so the clusters are worked one after the other in real time; they share no device and
no state but the journal directory, so each one's virtual duration is what it takes in a
fleet run. The fleet's wall time at a concurrency (`--in-flight`, the local engine's
max-in-flight) is the makespan of starting them in inventory order as slots free up:
*composed* from the measured durations, not one run with 200 concurrent drivers.

Printed: per method, the clusters, how many ended ok, the slowest cluster's plan (virtual
minutes, its hops carried out), the moment the fleet's last cluster of that method ended ÷
that slowest plan, RPCs per cluster (all, destructive) and, for two hops, per hop; then the
fleet's wall ÷ the slowest plan at each concurrency. Exit 1 when a cluster did not end ok,
not on the target, or the lab saw its nodes linked on different releases.
"""

from __future__ import annotations

import argparse
import heapq
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from bench.common import ROOT  # noqa: F401  (puts the repository on sys.path)
from simulator.inprocess import InProcessLab, nornir_for
from simulator.testing import DESTRUCTIVE_RPCS
from tasks.device.wire import WireDevices
from tasks.events import EventKind
from tasks.executor import LogSink
from tasks.jobs import srx_upgrade
from tasks.state.backends import LocalBackend, build_context
from tasks.state.clock import VirtualClock
from tasks.state.journal import LocalJournal

ICU_ONLY = {"model": "SRX345", "target": "24.2R2-S1.3"}
DUAL_THEN_ICU = {"model": "SRX345", "target": "25.2R1.9", "packages": ["24.4R1.9"]}
DESTRUCTIVE = DESTRUCTIVE_RPCS


class Quiet(LogSink):
    def event(self, event: Any, *, quiet: bool = False) -> None:
        del event, quiet

    def finished(self, cluster: str, outcome: Any, event: Any, *, published: bool) -> None:
        del cluster, outcome, event, published


def one(name: str, spec: dict[str, Any], state: Path) -> dict[str, Any]:
    """Upgrade one cluster in-process; its virtual duration, RPCs and outcome."""
    clock = VirtualClock()
    lab = InProcessLab(clock, {"clusters": [{"name": name, **spec}]})
    try:
        context = build_context(
            LocalBackend(state),
            run_id=f"bench-{name}",
            state_dir=state,
            sink=Quiet(),
            transcripts=False,
            clock=clock,
            devices=WireDevices(lab),
        )
        start = clock.monotonic()
        result = nornir_for(lab).run(task=srx_upgrade, context=context, allow_outage=True)
        seconds = clock.monotonic() - start
        outcome = result[name][0].result
        truth = lab.truth(name)
        hops = [
            float(r["ts"])
            for r in LocalJournal(state).history(name)
            if r.get("event") == EventKind.HOP
        ]
        audit = lab.sent(name)
        per_hop = [sum(1 for a in audit if a["ts"] >= t) for t in hops]
        nxt = [*per_hop[1:], 0][: len(per_hop)]
        per_hop = [n - later for n, later in zip(per_hop, nxt, strict=True)]
        return {
            "name": name,
            "method": "dual-reboot+icu" if "packages" in spec else "icu",
            "ok": getattr(outcome, "outcome", None) == "ok"
            and {n["release"] for n in truth["nodes"].values()} == {spec["target"]}
            and truth["mixed_release"] == [],
            "detail": getattr(outcome, "detail", str(outcome)),
            "seconds": seconds,
            "rpcs": len(audit),
            "destructive": sum(1 for a in audit if a["rpc"] in DESTRUCTIVE),
            "per_hop": per_hop,
        }
    finally:
        lab.close()
        clock.close()


def makespan(durations: list[float], slots: int) -> list[float]:
    """Each cluster's end when started in order as one of `slots` frees up."""
    free = [0.0] * min(slots, len(durations))
    heapq.heapify(free)
    ends = []
    for d in durations:
        start = heapq.heappop(free)
        ends.append(start + d)
        heapq.heappush(free, start + d)
    return ends


def fleet(clusters: int, dual_share: float) -> list[tuple[str, dict[str, Any]]]:
    """`dual_share` of the clusters need the dual reboot, spread through the inventory order."""
    out = []
    for i in range(clusters):
        dual = int((i + 1) * dual_share) > int(i * dual_share)
        out.append((f"br-{i + 1:04d}", DUAL_THEN_ICU if dual else ICU_ONLY))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clusters", type=int, default=200)
    parser.add_argument("--dual", type=float, default=0.4, help="share needing a dual reboot")
    parser.add_argument("--in-flight", default="200,20", help="concurrencies to compose")
    args = parser.parse_args(argv)
    started, cpu = time.perf_counter(), time.process_time()
    with tempfile.TemporaryDirectory() as tmp:
        rows = [one(name, spec, Path(tmp)) for name, spec in fleet(args.clusters, args.dual)]
    real, cpu = time.perf_counter() - started, time.process_time() - cpu
    durations = [r["seconds"] for r in rows]
    slowest = max(durations)
    print(f"{len(rows)} clusters, in-process, virtual time: {real:.1f} s real, {cpu:.1f} s CPU")
    print()
    concurrencies = [int(x) for x in args.in_flight.split(",")]
    ends = {n: makespan(durations, n) for n in concurrencies}
    head = "| method | clusters | ok | slowest plan (min) | median (min) |"
    head += "".join(f" last end ÷ slowest, in-flight {n} |" for n in concurrencies)
    head += " RPCs/cluster | destructive/cluster | RPCs per hop |"
    print(head)
    print("|" + "---|" * (head.count("|") - 1))
    for method in sorted({r["method"] for r in rows}):
        mine = [i for i, r in enumerate(rows) if r["method"] == method]
        own = [rows[i]["seconds"] for i in mine]
        hops = [rows[i]["per_hop"] for i in mine if rows[i]["per_hop"]]
        per_hop = (
            " / ".join(f"{statistics.mean(h[k] for h in hops):.0f}" for k in range(len(hops[0])))
            if hops
            else "-"
        )
        line = (
            f"| {method} | {len(mine)} | {sum(rows[i]['ok'] for i in mine)} | "
            f"{max(own) / 60:.1f} | {statistics.median(own) / 60:.1f} |"
        )
        for n in concurrencies:
            line += f" {max(ends[n][i] for i in mine) / max(own):.2f} |"
        line += (
            f" {statistics.mean(rows[i]['rpcs'] for i in mine):.0f} |"
            f" {statistics.mean(rows[i]['destructive'] for i in mine):.1f} | {per_hop} |"
        )
        print(line)
    print()
    for n in concurrencies:
        wall = max(ends[n])
        print(
            f"fleet, in-flight {n}: wall {wall / 3600:.2f} h (virtual) = "
            f"{wall / slowest:.2f} x the slowest cluster's plan ({slowest / 60:.1f} min)"
        )
    bad = [r for r in rows if not r["ok"]]
    for r in bad[:5]:
        print(f"NOT OK {r['name']} ({r['method']}): {r['detail']}", file=sys.stderr)
    outcomes = Counter(r["ok"] for r in rows)
    print(f"ok: {outcomes[True]}, not ok: {outcomes[False]}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
