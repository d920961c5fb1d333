"""Helpers for tests and scripts: a lab as a subprocess, and waiting on a condition."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]

# The RPCs that change a device: what tests and benchmarks count as destructive in a lab's
# audit (the runbooks' own list of commands is tasks.device.commands)
DESTRUCTIVE_RPCS = frozenset(
    {
        "request-package-in-service-upgrade",
        "request-package-add",
        "abort-in-service-upgrade",
        "request-package-rollback",
        "request-reboot",
        "request-chassis-cluster-failover",
        "request-chassis-cluster-failover-reset",
    }
)


def wait_until(
    predicate: Callable[[], Any], timeout: float, interval: float = 0.05, message: str = "condition"
) -> Any:
    """Poll `predicate` until truthy; AssertionError naming `message` after `timeout`."""
    end = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > end:
            raise AssertionError(f"timed out after {timeout:g}s waiting for {message}")
        time.sleep(interval)


class LabProcess:
    def __init__(
        self,
        lab: dict[str, Any] | None,
        workdir: Path,
        *,
        clusters: int | None = None,
        speed: float = 600,
        extra_args: tuple[str, ...] = (),
        popen: Callable[..., Any] = subprocess.Popen,
    ) -> None:
        """`popen`: how the lab's process is started (subprocess.Popen's arguments); the
        tests start it as a fork of a warm process (tests/warm_processes.py)."""
        workdir.mkdir(parents=True, exist_ok=True)
        self.workdir = workdir
        self.inventory_dir = workdir / "inventory"
        self.audit_path = workdir / "audit.jsonl"
        self.state_path = workdir / "state.json"
        self.known_hosts = self.inventory_dir / "known_hosts"
        cmd = [
            sys.executable,
            "-m",
            "simulator",
            "--speed",
            str(speed),
            "--inventory-dir",
            str(self.inventory_dir),
            "--audit",
            str(self.audit_path),
            "--state-out",
            str(self.state_path),
            *extra_args,
        ]
        if lab is not None:
            (workdir / "lab.yaml").write_text(yaml.safe_dump(lab))
            cmd += ["--lab", str(workdir / "lab.yaml")]
        if clusters:
            cmd += ["--clusters", str(clusters)]
        self.proc = popen(
            cmd,
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()  # blocks until ready or exit
        if not line.startswith("ready"):
            err = self.proc.stderr.read() if self.proc.stderr else ""
            self.stop()
            raise RuntimeError(f"lab did not start: {line!r} {err}")

    @property
    def pid(self) -> int:
        return self.proc.pid

    def state(self) -> dict[str, Any]:
        before = self.state_path.stat().st_mtime_ns if self.state_path.exists() else 0
        os.kill(self.proc.pid, signal.SIGUSR1)
        wait_until(
            lambda: self.state_path.exists() and self.state_path.stat().st_mtime_ns != before,
            10,
            message="state dump",
        )
        return dict(json.loads(self.state_path.read_text()))

    def audit(self, cluster: str | None = None, node: str | None = None) -> list[dict[str, Any]]:
        if not self.audit_path.exists():
            return []
        out = []
        for line in self.audit_path.read_text().splitlines():
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:
                continue
            if (cluster is None or rec["cluster"] == cluster) and (
                node is None or rec["node"] == node
            ):
                out.append(rec)
        return out

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        for stream in (self.proc.stdout, self.proc.stderr):
            if stream is not None:
                stream.close()

    def __enter__(self) -> LabProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_lab(
    lab: dict[str, Any] | None,
    workdir: Path,
    *,
    clusters: int | None = None,
    speed: float = 600,
    extra_args: tuple[str, ...] = (),
    popen: Callable[..., Any] = subprocess.Popen,
) -> LabProcess:
    return LabProcess(
        lab, workdir, clusters=clusters, speed=speed, extra_args=extra_args, popen=popen
    )


def private_config(workdir: Path) -> Path:
    """A copy of the project's config.yaml for one test, script or rehearsal: its state_dir
    (journals, locks, transcripts) is workdir/state, not the project's own."""
    config = yaml.safe_load((ROOT / "config.yaml").read_text())
    config.setdefault("user_defined", {})["state_dir"] = str((workdir / "state").resolve())
    workdir.mkdir(parents=True, exist_ok=True)
    path = workdir / "config.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path
