"""Shared bits for the benchmarks: run a command, measure its wall time, CPU and peak memory."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


@dataclass
class Measured:
    code: int
    wall: float
    cpu: float  # the command and every process it started (worker processes included)
    peak_rss_mib: float  # largest sum of RSS over the command's process tree
    peak_pss_mib: float  # the same in PSS: pages the processes share are counted once
    peak_processes: int
    stderr: str


def tree(pid: int) -> list[int]:
    """`pid` and its descendants, from /proc."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children.get(p, []))
    return out


def proc_stats(pid: int) -> tuple[float, float]:
    """(CPU seconds so far, RSS MiB) of a running process, from /proc."""
    ticks = os.sysconf("SC_CLK_TCK")
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    cpu = (int(fields[11]) + int(fields[12])) / ticks
    rss = 0.0
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            rss = int(line.split()[1]) / 1024
    return cpu, rss


def pss_mib(pid: int) -> float:
    """Proportional set size: a page shared by n processes counts 1/n in each."""
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        if line.startswith("Pss:"):
            return int(line.split()[1]) / 1024
    return 0.0


def run_measured(cmd: list[str], cwd: Path) -> Measured:
    """Run one command to completion. CPU from wait4 (it includes the worker processes the
    command waited for); memory by sampling the RSS of its whole process tree."""
    start = time.monotonic()
    proc = subprocess.Popen(
        cmd,
        cwd=cwd,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert proc.stderr is not None
    err: list[str] = []
    reader = threading.Thread(target=lambda: err.append(proc.stderr.read()), daemon=True)  # type: ignore[union-attr]
    reader.start()
    peak = [0.0, 0.0, 0]
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.25):
            rss = pss = 0.0
            pids = tree(proc.pid)
            for pid in pids:
                try:
                    rss += proc_stats(pid)[1]
                    pss += pss_mib(pid)
                except OSError:
                    continue
            peak[0], peak[1] = max(peak[0], rss), max(peak[1], pss)
            peak[2] = max(peak[2], len(pids))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.monotonic() - start
    done.set()
    sampler.join()
    reader.join(timeout=10)
    return Measured(
        os.waitstatus_to_exitcode(status),
        wall,
        usage.ru_utime + usage.ru_stime,
        peak[0],
        peak[1],
        int(peak[2]),
        "".join(err),
    )


def table(title: str, rows: list[tuple[str, str]]) -> None:
    width = max(len(k) for k, _ in rows)
    print(f"\n{title}\n" + "-" * (width + 20))
    for k, v in rows:
        print(f"{k:<{width}}  {v}")
