"""Fleet upgrade at scale.  For N clusters at a speed where one ICU takes about 60 s real:
wall time of the fleet upgrade / slowest single cluster's ICU time (target <= 1.10), peak
memory of the runbook process, CPU seconds per cluster; optionally with --max-in-flight M
against its ideal (ceil(N / M) rounds of one ICU).

Usage: python bench/fleet_upgrade.py --clusters 200 [--max-in-flight 50] [--speed 52]
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
from pathlib import Path

from common import ROOT, run_measured, table

from simulator.testing import start_lab

ICU_SIM_SECONDS = 52 * 60  # the lab's default ICU (lab-contract.md)


def icu_times(state_dir: Path) -> dict[str, float]:
    """Per cluster: ICU sent -> verified ok, from the journal."""
    out = {}
    for path in (state_dir / "journal").glob("*.jsonl"):
        sent = done = None
        for line in path.read_text().splitlines():
            rec = json.loads(line)
            if rec.get("event") == "icu-sending":
                sent = rec["ts"]
            if rec.get("event") == "cluster-finished" and rec.get("outcome") == "ok":
                done = rec["ts"]
        if sent and done:
            out[path.stem] = done - sent
    return out


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--clusters", type=int, default=200)
    ap.add_argument("--speed", type=float, default=ICU_SIM_SECONDS / 60)
    ap.add_argument("--max-in-flight", type=int)
    ap.add_argument("--poll", type=float, default=3.0, help="poll interval (real seconds)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        with start_lab(None, work / "lab", clusters=args.clusters, speed=args.speed) as lab:
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
                str(ROOT / "config.yaml"),
                "--inventory",
                str(lab.inventory_dir),
                "--workers",
                str(args.clusters),
                "--report",
                str(work / "report.json"),
            ]
            if args.max_in_flight:
                cmd += ["--max-in-flight", str(args.max_in_flight)]
            m = run_measured(cmd, cwd=work)
        report = json.loads((work / "report.json").read_text())
        outcomes: dict[str, int] = {}
        for c in report["clusters"].values():
            outcomes[c["outcome"]] = outcomes.get(c["outcome"], 0) + 1
        times = icu_times(work / "state")
        slowest = max(times.values()) if times else float("nan")
        fastest = min(times.values()) if times else float("nan")
        rows = [
            (
                "clusters / speed",
                f"{args.clusters} / {args.speed:.1f} (ICU ~{ICU_SIM_SECONDS / args.speed:.0f} s real)",
            ),
            ("outcomes", ", ".join(f"{k} {v}" for k, v in sorted(outcomes.items()))),
            ("exit code", str(m.code)),
            ("fleet wall time (s)", f"{m.wall:.1f}"),
            ("single-cluster ICU time min / max (s)", f"{fastest:.1f} / {slowest:.1f}"),
            ("wall / slowest ICU", f"{m.wall / slowest:.3f}"),
            ("runbook peak RSS (MiB)", f"{m.peak_rss_mib:.0f}"),
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
        table("fleet upgrade", rows)
        if m.code not in (0,):
            print(m.stderr[-2000:])
    return 0


if __name__ == "__main__":
    sys.exit(main())
