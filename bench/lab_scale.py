"""Lab at scale: start-up time of a 300-cluster lab, idle CPU, status wall time over it,
memory of both processes.  Usage: python bench/lab_scale.py [--clusters 300]"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from common import proc_stats, run_measured, table

from simulator.testing import private_config, start_lab


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--clusters", type=int, default=300)
    ap.add_argument("--workers", type=int, default=50)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        t0 = time.monotonic()
        with start_lab(None, work / "lab", clusters=args.clusters, speed=1) as lab:
            ready = time.monotonic() - t0
            pid = lab.pid
            cpu0, rss_idle = proc_stats(pid)
            time.sleep(10)  # measuring idle CPU needs an idle interval
            cpu1, _ = proc_stats(pid)
            status = run_measured(
                [
                    sys.executable,
                    "-m",
                    "runbooks",
                    "status",
                    "--config",
                    str(private_config(work)),
                    "--inventory",
                    str(lab.inventory_dir),
                    "--workers",
                    str(args.workers),
                    "--report",
                    str(work / "status.json"),
                ],
                cwd=work,
            )
            cpu2, rss_after = proc_stats(pid)
        table(
            f"lab of {args.clusters} clusters ({2 * args.clusters} nodes)",
            [
                ("lab ready (s)", f"{ready:.2f}"),
                ("lab idle CPU (% of a core, 10 s)", f"{(cpu1 - cpu0) * 10:.1f}"),
                ("lab RSS idle / after status (MiB)", f"{rss_idle:.0f} / {rss_after:.0f}"),
                ("lab CPU during status (s)", f"{cpu2 - cpu1:.1f}"),
                (f"status wall time, {args.workers} workers (s)", f"{status.wall:.1f}"),
                ("status exit code", str(status.code)),
                (
                    "status CPU (s) / peak RSS (MiB)",
                    f"{status.cpu:.1f} / {status.peak_rss_mib:.0f}",
                ),
            ],
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
