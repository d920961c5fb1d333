"""Package staging at scale.

pull: N clusters (200) each pulling a package (400 MB) at a simulated link (50 Mbit/s) with
      --max-transfers M (50): wall time of `python -m runbooks stage` / ideal, where ideal is
      ceil(N / M) x one transfer (target <= 1.05).
push: K clusters pushed the same local file over SFTP on loopback by the runbooks and, side
      by side in the same run, by a plain paramiko SFTP client at the same concurrency:
      bytes/s of the runbooks / bytes/s of paramiko (target >= 0.8); then the runbooks'
      peak memory pushing a small and a large file (flat in the file size).

Usage: python bench/stage.py [--mode pull|push|both] [--clusters 200] [--max-transfers 50]
       [--package-mb 400] [--link-mbps 50] [--speed 4] [--push-clusters 4] [--push-mb 64]
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import math
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import paramiko
import yaml
from common import run_measured, table

from simulator.testing import LabProcess, private_config, start_lab


def _lab(workdir: Path, n: int, speed: float, extra: tuple[str, ...]) -> LabProcess:
    spec = {"clusters": [{"name": f"br-{i:04d}", "faults": ["package-missing"]} for i in range(n)]}
    return start_lab(spec, workdir, speed=speed, extra_args=extra)


def _stage_cmd(config: Path, lab: LabProcess, *args: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "runbooks",
        "stage",
        "--config",
        str(config),
        "--inventory",
        str(lab.inventory_dir),
        *args,
    ]


def _journal_span(state: Path) -> tuple[float, float, int]:
    """(first copy started, last copy done, bytes copied) from the journals."""
    first, last, total = float("inf"), 0.0, 0
    for path in (state / "journal").glob("*.jsonl"):
        for line in path.read_text().splitlines():
            rec = json.loads(line)
            if rec.get("event") != "transfer":
                continue
            if rec.get("phase") == "started":
                first = min(first, rec["ts"])
            elif rec.get("phase") == "done":
                last, total = max(last, rec["ts"]), total + int(rec["bytes"])
    return first, last, total


def bench_pull(args: argparse.Namespace, root: Path) -> list[tuple[str, str]]:
    size = args.package_mb * 1_000_000
    extra = ("--link-mbps", str(args.link_mbps), "--package-size", str(size))
    lab = _lab(root / "pull-lab", args.clusters, args.speed, extra)
    try:
        config = private_config(root / "pull-ops")
        report = root / "pull.json"
        cmd = _stage_cmd(
            config,
            lab,
            "--max-transfers",
            str(args.max_transfers),
            "--workers",
            str(args.clusters),
            "--report",
            str(report),
        )
        t0 = time.time()
        m = run_measured(cmd, root)
    finally:
        lab.stop()
    first, last, _bytes = _journal_span(root / "pull-ops" / "state")
    one = size * 8 / (args.link_mbps * 1e6) / args.speed  # real seconds of one transfer
    ideal = math.ceil(args.clusters / args.max_transfers) * one
    outcomes = [c["outcome"] for c in json.loads(report.read_text())["clusters"].values()]
    return [
        ("clusters / max-transfers", f"{args.clusters} / {args.max_transfers}"),
        ("package, link, speed", f"{args.package_mb} MB, {args.link_mbps} Mbit/s, x{args.speed:g}"),
        ("one transfer (real s)", f"{one:.2f}"),
        ("ideal (real s)", f"{ideal:.2f}"),
        ("wall (real s)", f"{m.wall:.2f}"),
        ("wall / ideal", f"{m.wall / ideal:.3f}  (target <= 1.05)"),
        ("first copy began after", f"{first - t0:.2f} s (start-up, inventory, connect)"),
        ("last copy done to exit", f"{t0 + m.wall - last:.2f} s"),
        ("ok clusters", f"{outcomes.count('ok')} / {len(outcomes)} (exit {m.code})"),
        ("runbook CPU s, peak RSS MiB", f"{m.cpu:.1f}, {m.peak_rss_mib:.0f}"),
    ]


def _strip_package_facts(lab: LabProcess) -> None:
    path = lab.inventory_dir / "groups.yaml"
    groups = yaml.safe_load(path.read_text())
    for group in groups.values():
        group["data"].pop("package_size", None)
        group["data"].pop("package_md5", None)
    path.write_text(yaml.safe_dump(groups))


def _paramiko_push(lab: LabProcess, local: Path, n: int) -> tuple[float, int]:
    """A plain paramiko SFTP client: n pushes at once, one per cluster's node0."""
    hosts = yaml.safe_load((lab.inventory_dir / "hosts.yaml").read_text())
    ports = [hosts[f"br-{i:04d}"]["connection_options"]["node0"]["port"] for i in range(n)]

    def one(port: int) -> int:
        transport = paramiko.Transport(("127.0.0.1", port))
        transport.connect(username="lab", password="lab")
        sftp = paramiko.SFTPClient.from_transport(transport)
        assert sftp is not None
        with local.open("rb") as fh:
            sftp.putfo(fh, "/var/tmp/baseline.tgz", file_size=local.stat().st_size)
        transport.close()
        return local.stat().st_size

    start = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(n) as pool:
        total = sum(pool.map(one, ports))
    return time.monotonic() - start, total


def _runbook_push(root: Path, lab: LabProcess, local: Path, n: int, tag: str) -> dict[str, Any]:
    config = private_config(root / f"push-ops-{tag}")
    cmd = _stage_cmd(config, lab, "--push", str(local), "--max-transfers", str(n))
    m = run_measured(cmd, root)
    first, last, total = _journal_span(root / f"push-ops-{tag}" / "state")
    return {"m": m, "span": last - first, "bytes": total}


def bench_push(args: argparse.Namespace, root: Path) -> list[tuple[str, str]]:
    n = args.push_clusters
    lab = _lab(root / "push-lab", n, 600.0, ())
    _strip_package_facts(lab)
    rows: list[tuple[str, str]] = []
    try:
        local = root / "push.tgz"
        _write(local, args.push_mb)
        before = _paramiko_push(lab, local, n)  # before and after ours: the better counts
        ours = _runbook_push(root, lab, local, n, "a")
        after = _paramiko_push(lab, local, n)
        base_rate = max(b / s for s, b in (before, after))
        our_rate = ours["bytes"] / max(ours["span"], 1e-6)
        rows += [
            ("push: clusters x file", f"{n} x {args.push_mb} MB"),
            ("paramiko SFTP MB/s", f"{base_rate / 1e6:.1f}"),
            ("runbooks MB/s (copies)", f"{our_rate / 1e6:.1f} (exit {ours['m'].code})"),
            ("runbooks / paramiko", f"{our_rate / base_rate:.3f}  (target >= 0.8)"),
            ("runbooks wall incl. start", f"{ours['m'].wall:.2f} s"),
        ]
        for tag, mb in (("small", max(1, args.push_mb // 8)), ("large", args.push_mb * 2)):
            _write(local, mb)
            run = _runbook_push(root, lab, local, 1, tag)
            rows.append((f"peak RSS pushing {mb} MB", f"{run['m'].peak_rss_mib:.0f} MiB"))
    finally:
        lab.stop()
    return rows


def _write(path: Path, mb: int) -> None:
    block = bytes(range(256)) * 4096  # 1 MiB
    with path.open("wb") as fh:
        for _ in range(mb):
            fh.write(block[:1_000_000])


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--mode", choices=("pull", "push", "both"), default="both")
    ap.add_argument("--clusters", type=int, default=200)
    ap.add_argument("--max-transfers", type=int, default=50)
    ap.add_argument("--package-mb", type=int, default=400)
    ap.add_argument("--link-mbps", type=float, default=50.0)
    ap.add_argument("--speed", type=float, default=4.0)
    ap.add_argument("--push-clusters", type=int, default=4)
    ap.add_argument("--push-mb", type=int, default=64)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-stage-") as tmp:
        root = Path(tmp)
        if args.mode in ("pull", "both"):
            table("stage by device pull", bench_pull(args, root))
        if args.mode in ("push", "both"):
            table("stage by SFTP push (loopback)", bench_push(args, root))
    return 0


if __name__ == "__main__":
    sys.exit(main())
