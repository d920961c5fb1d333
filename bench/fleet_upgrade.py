"""Fleet upgrade at scale.  For N clusters at a speed where one ICU takes about 60 s real:
wall time of the fleet upgrade / slowest single cluster's ICU time (target <= 1.10), peak
memory of the runbook process, CPU seconds per cluster; optionally with --max-in-flight M
against its ideal (ceil(N / M) rounds of one ICU).

With --mixed F, a mixed-method rehearsal: the first F of the fleet are SRX345 clusters on
23.4R2-S3.9 going to 25.2R1.9 (a dual reboot to 24.4R1.9, then an ICU), run with
--allow-outage; the table adds, per method, the clusters, the slowest whole plan and the RPCs
per cluster (the lab's audit log).

Usage: python bench/fleet_upgrade.py --clusters 200 [--max-in-flight 50] [--speed 52]
       [--processes N] [--runs K] [--mixed 0.4] [--transport napalm|asyncssh]
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from common import run_measured, table

from simulator.testing import private_config, start_lab

ICU_SIM_SECONDS = 52 * 60  # the lab's default ICU (docs/development/lab-contract.md)


@dataclass
class Timeline:
    started: dict[str, float] = field(default_factory=dict)  # cluster-started
    sent: dict[str, float] = field(default_factory=dict)  # icu-sending
    done: dict[str, float] = field(default_factory=dict)  # cluster-finished ok

    def icu(self) -> dict[str, float]:
        """Per cluster: ICU sent -> verified ok."""
        return {n: self.done[n] - self.sent[n] for n in self.done if n in self.sent}

    def whole(self) -> dict[str, float]:
        """Per cluster: its run began (pre-checks) -> verified ok."""
        return {n: self.done[n] - self.started[n] for n in self.done if n in self.started}


def timeline(state_dir: Path) -> Timeline:
    t = Timeline()
    for path in (state_dir / "journal").glob("*.jsonl"):
        for line in path.read_text().splitlines():
            rec = json.loads(line)
            event = rec.get("event")
            if event == "cluster-started":
                t.started[path.stem] = rec["ts"]
            elif event == "icu-sending":
                t.sent[path.stem] = rec["ts"]
            elif event == "cluster-finished" and rec.get("outcome") == "ok":
                t.done[path.stem] = rec["ts"]
    return t


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--clusters", type=int, default=200)
    ap.add_argument("--speed", type=float, default=ICU_SIM_SECONDS / 60)
    ap.add_argument("--max-in-flight", type=int)
    ap.add_argument("--poll", type=float, default=3.0, help="poll interval (real seconds)")
    ap.add_argument("--processes", type=int, help="--processes for the runbook (default: auto)")
    ap.add_argument("--runs", type=int, default=1, help="repeat with a fresh lab each time")
    ap.add_argument("--keep", type=Path, help="copy the report and state here afterwards")
    ap.add_argument("--mixed", type=float, default=0.0, help="share of dual-reboot clusters")
    ap.add_argument("--transport", choices=("napalm", "asyncssh"), help="the run's --transport")
    args = ap.parse_args()
    ratios = [one_run(args) for _ in range(args.runs)]
    if args.runs > 1:
        ratios.sort()
        print(
            f"\n{args.runs} runs, wall / slowest ICU: min {ratios[0]:.3f} "
            f"median {ratios[len(ratios) // 2]:.3f} max {ratios[-1]:.3f}"
        )
    return 0


def one_run(args: argparse.Namespace) -> float:
    """One fleet upgrade on a fresh lab; prints its table, returns wall / slowest ICU (or, with
    --max-in-flight, wall / ideal)."""
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        spec, dual = mixed_lab(args.clusters, args.mixed, args.speed)
        count = None if spec else args.clusters
        with start_lab(spec, work / "lab", clusters=count, speed=args.speed) as lab:
            # Poll less often than the lab suggests: 200+ clusters x 2 nodes on 2 cores.
            defaults = lab.inventory_dir / "defaults.yaml"
            import yaml

            data = yaml.safe_load(defaults.read_text())
            data["data"]["timing"]["poll_interval"] = args.poll
            defaults.write_text(yaml.safe_dump(data))
            cmd = [
                sys.executable,
                "-m",
                "runbooks",
                "upgrade",
                "--config",
                str(private_config(work)),
                "--inventory",
                str(lab.inventory_dir),
                "--workers",
                str(args.clusters),
                "--report",
                str(work / "report.json"),
            ]
            if args.max_in_flight:
                cmd += ["--max-in-flight", str(args.max_in_flight)]
            if args.processes:
                cmd += ["--processes", str(args.processes)]
            if dual:
                cmd.append("--allow-outage")
            if args.transport:
                cmd += ["--transport", args.transport]
            begun = time.time()
            m = run_measured(cmd, cwd=work)
            ended = time.time()
            rpcs = Counter(r["cluster"] for r in lab.audit())
        if args.keep:
            shutil.rmtree(args.keep, ignore_errors=True)
            shutil.copytree(work, args.keep, ignore=shutil.ignore_patterns("lab"))
        report = json.loads((work / "report.json").read_text())
        outcomes: dict[str, int] = {}
        for c in report["clusters"].values():
            outcomes[c["outcome"]] = outcomes.get(c["outcome"], 0) + 1
        t = timeline(work / "state")
        times, whole = t.icu(), t.whole()
        slowest = max(times.values()) if times else float("nan")
        fastest = min(times.values()) if times else float("nan")
        sent = sorted(t.sent.values()) or [float("nan")]
        rows = [
            (
                "clusters / speed / poll",
                f"{args.clusters} / {args.speed:.1f} (ICU ~{ICU_SIM_SECONDS / args.speed:.0f} s "
                f"real) / {args.poll:g} s",
            ),
            ("outcomes", ", ".join(f"{k} {v}" for k, v in sorted(outcomes.items()))),
            ("exit code", str(m.code)),
            ("fleet wall time (s)", f"{m.wall:.1f}"),
            (
                "start -> first ICU sent / ICU sends spread (s)",
                f"{sent[0] - begun:.1f} / {sent[-1] - sent[0]:.1f}",
            ),
            (
                "last cluster verified -> exit (s)",
                f"{ended - max(t.done.values(), default=ended):.1f}",
            ),
            ("single-cluster ICU time min / max (s)", f"{fastest:.1f} / {slowest:.1f}"),
            ("wall / slowest ICU (sent -> verified)", f"{m.wall / slowest:.3f}"),
            (
                "wall / slowest cluster (pre-checks -> verified)",
                f"{m.wall / max(whole.values(), default=float('nan')):.3f}",
            ),
            (
                "runbook processes / peak memory, all processes: RSS / PSS (MiB)",
                f"{m.peak_processes} / {m.peak_rss_mib:.0f} / {m.peak_pss_mib:.0f}",
            ),
            ("runbook CPU (s) / per cluster (s)", f"{m.cpu:.1f} / {m.cpu / args.clusters:.3f}"),
        ]
        if args.max_in_flight:
            rounds = math.ceil(args.clusters / args.max_in_flight)
            ideal = rounds * fastest
            rows.append(
                (
                    f"ideal with max-in-flight {args.max_in_flight} ({rounds} rounds)",
                    f"{ideal:.1f} s; wall / ideal = {m.wall / ideal:.3f}",
                )
            )
        if dual:
            rows += by_method(dual, whole, rpcs, report)
        table("fleet upgrade", rows)
        if m.code not in (0,):
            print(m.stderr[-2000:])
        if args.max_in_flight:
            return m.wall / (math.ceil(args.clusters / args.max_in_flight) * fastest)
        return m.wall / slowest


def mixed_lab(clusters: int, share: float, speed: float) -> tuple[dict[str, Any] | None, set[str]]:
    """The lab of a mixed-method rehearsal, and the names of its dual-reboot clusters."""
    if share <= 0:
        return None, set()
    n = round(clusters * share)
    names = [f"br-{i:04d}" for i in range(1, clusters + 1)]
    across = {"model": "SRX345", "target": "25.2R1.9", "packages": ["24.4R1.9"]}
    entries = [{"name": name, **(across if i < n else {})} for i, name in enumerate(names)]
    return {"speed": speed, "clusters": entries}, set(names[:n])


def by_method(
    dual: set[str], whole: dict[str, float], rpcs: Counter[str], report: dict[str, Any]
) -> list[tuple[str, str]]:
    """Per method: clusters (ok), the slowest whole plan, RPCs per cluster."""
    rows = []
    for method, names in (
        ("dual reboot + ICU", sorted(dual)),
        ("ICU only", sorted(set(report["clusters"]) - dual)),
    ):
        ok = sum(1 for n in names if report["clusters"][n]["outcome"] == "ok")
        slowest = max((whole[n] for n in names if n in whole), default=float("nan"))
        per = sum(rpcs[n] for n in names) / max(len(names), 1)
        rows.append(
            (
                f"{method}: clusters (ok) / slowest plan (s) / RPCs per cluster",
                f"{len(names)} ({ok}) / {slowest:.1f} / {per:.0f}",
            )
        )
    return rows


if __name__ == "__main__":
    sys.exit(main())
