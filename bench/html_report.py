"""The HTML change report at 200 and 500 clusters: the page's size, the time the renderer
takes (runbooks.output.html_report.render_html, in this process once matplotlib is loaded,
and the whole `python -m runbooks report --format html` command in a fresh process), and the
time headless chromium takes to load it (navigation to the load event).

    python bench/html_report.py [--clusters 200 500] [--runs 3]

The reports are synthetic (tests/report_factory.py: shaped like a real upgrade's, the
canary then waves of 25 in flight); chromium is Debian's, through Playwright
(tests/browser.py). Medians over --runs.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import ROOT

from runbooks.output.html_report import render_html
from tests.browser import chromium, load
from tests.report_factory import synthetic_report


def timed(fn: object, runs: int) -> float:
    took = []
    for _ in range(runs):
        began = time.perf_counter()
        fn()  # type: ignore[operator]
        took.append(time.perf_counter() - began)
    return statistics.median(took)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--clusters", type=int, nargs="+", default=[200, 500])
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    render_html(synthetic_report(5))  # matplotlib loaded and its font cache read once
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-html-") as tmp, chromium() as browser:
        for n in args.clusters:
            report = synthetic_report(n)
            source, page = Path(tmp) / f"r{n}.json", Path(tmp) / f"r{n}.html"
            source.write_text(json.dumps(report))
            render = timed(lambda r=report: render_html(r), args.runs)  # type: ignore[misc]
            cmd = [sys.executable, "-m", "runbooks", "report", str(source), "--format", "html"]
            command = timed(
                lambda c=cmd, p=page: subprocess.run(
                    [*c, "--out", str(p)], check=True, cwd=ROOT, timeout=300
                ),
                args.runs,
            )
            loads = []
            for _ in range(args.runs):
                loaded = load(browser, page)
                assert not loaded.console_errors and not loaded.foreign_requests
                loads.append(loaded.seconds)
                loaded.page.close()
            rows.append((n, page.stat().st_size, render, command, statistics.median(loads)))
    print(f"\nHTML change report (median of {args.runs})")
    head = ("clusters", "bytes", "render s", "command s", "chromium load s")
    print("  ".join(f"{h:>15}" for h in head))
    for n, size, render, command, chrome in rows:
        cells = (str(n), f"{size:,}", f"{render:.2f}", f"{command:.2f}", f"{chrome:.2f}")
        print("  ".join(f"{c:>15}" for c in cells))
    return 0


if __name__ == "__main__":
    sys.exit(main())
