"""An abort from a second terminal while our own upgrade follows the cluster: the time from
`python -m runbooks abort --cluster X` starting to the abort RPC reaching X's primary (the
lab's audit log), over N tries, and the outcomes.

    python bench/abort_handoff.py [--tries 20] [--speed 30]

One lab of N clusters; one `upgrade` of all of them; once a cluster's ICU has left, an
`abort --cluster` for it from its own process (one a second, each a second terminal).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import ROOT, table

from simulator.testing import private_config, start_lab, wait_until

ICU, ABORT = "request-package-in-service-upgrade", "abort-in-service-upgrade"


def runbooks(config: Path, inventory: Path, *args: str) -> list[str]:
    base = [sys.executable, "-m", "runbooks", args[0], "--config", str(config)]
    return [*base, "--inventory", str(inventory), *args[1:]]


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tries", type=int, default=20)
    ap.add_argument("--speed", type=float, default=30.0)
    ap.add_argument("--every", type=float, default=2.0, help="seconds between two aborts")
    args = ap.parse_args()
    names = [f"c{i:02d}" for i in range(1, args.tries + 1)]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        env["RUNBOOKS_COORD_DIR"] = str(work / "coord")
        spec = {"speed": args.speed, "clusters": [{"name": n} for n in names]}
        with start_lab(spec, work / "lab", speed=args.speed) as lab:
            config = private_config(work / "ops")
            inv = lab.inventory_dir
            up = subprocess.Popen(
                runbooks(config, inv, "upgrade", "--yes", "--report", str(work / "up.json")),
                cwd=work,
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            started: dict[str, float] = {}
            procs: dict[str, subprocess.Popen[bytes]] = {}
            for name in names:
                wait_until(
                    lambda n=name: any(r["rpc"] == ICU for r in lab.audit(n)), 120, message=name
                )
                started[name] = time.time()
                procs[name] = subprocess.Popen(
                    runbooks(
                        config,
                        inv,
                        "abort",
                        "--cluster",
                        name,
                        "--report",
                        str(work / f"abort-{name}.json"),
                    ),
                    cwd=work,
                    env=env,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
                time.sleep(args.every)  # operators' pace, not a measurement wait
            for proc in procs.values():
                proc.wait(timeout=600)
            up.wait(timeout=600)
            audit = lab.audit()
        delays, outcomes, sends = [], {}, {}
        for name in names:
            sent = [  # the abort to the RG0 primary (a recovery's abort goes to the secondary)
                r
                for r in audit
                if r["cluster"] == name and r["rpc"] == ABORT and r["node"] == "node0"
            ]
            sends[name] = len(sent)
            if sent:
                delays.append(float(sent[0]["ts"]) - started[name])
            report = json.loads((work / f"abort-{name}.json").read_text())
            outcomes[name] = report["clusters"][name]["outcome"]
        upgrade = json.loads((work / "up.json").read_text())["clusters"]
    counts: dict[str, int] = {}
    for o in outcomes.values():
        counts[o] = counts.get(o, 0) + 1
    held = {}
    for c in upgrade.values():
        held[c["outcome"]] = held.get(c["outcome"], 0) + 1
    table(
        f"abort handed to the upgrade that holds the cluster ({args.tries} tries, "
        f"speed {args.speed:g})",
        [
            ("abort start -> abort RPC, median (s)", f"{statistics.median(delays):.2f}"),
            ("abort start -> abort RPC, worst (s)", f"{max(delays):.2f}"),
            ("abort RPCs to the primary per cluster (max)", str(max(sends.values()))),
            ("abort command outcomes", json.dumps(counts)),
            ("upgrade outcomes", json.dumps(held)),
        ],
    )
    return 0 if max(sends.values()) == 1 else 1


if __name__ == "__main__":
    sys.exit(main())
