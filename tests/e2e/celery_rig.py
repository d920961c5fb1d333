"""The rig of the --engine celery e2e tests (tests/e2e/test_celery_*_e2e.py): a real
redis-server (private unix socket, appendfsync always),
real `python -m runbooks worker` processes (Celery, threads pool) per region, one simulator
lab per region, and the operator's coordinator. Judged by the labs' audit logs and the report.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from simulator.testing import LabProcess, private_config, wait_until
from tests import warm_processes
from tests.redis_server import RedisServer

ROOT = Path(__file__).resolve().parents[2]  # the project root

ICU = "request-package-in-service-upgrade"
TARGET = "24.2R2-S1.3"
LEASE_TTL = "2"  # seconds: a dead worker's lease lapses fast
FAULTS = "worker-stale=3"  # RUNBOOKS_TEST_FAULTS of every process: a dead worker is seen fast


def merged_inventory(labs: dict[str, LabProcess], workdir: Path) -> Path:
    """One inventory over every region's lab: each host tagged with its region and its
    lab's known_hosts (what an operator's inventory of several regions looks like)."""
    out = workdir / "inventory"
    out.mkdir(parents=True, exist_ok=True)
    hosts: dict[str, Any] = {}
    groups: dict[str, Any] = {}
    defaults: dict[str, Any] = {}
    for region, lab in labs.items():
        inv = lab.inventory_dir
        defaults = yaml.safe_load((inv / "defaults.yaml").read_text())
        groups.update(yaml.safe_load((inv / "groups.yaml").read_text()))
        for name, host in yaml.safe_load((inv / "hosts.yaml").read_text()).items():
            host["data"]["region"] = region
            host["data"]["known_hosts"] = str(lab.known_hosts)
            hosts[name] = host
    (out / "hosts.yaml").write_text(yaml.safe_dump(hosts))
    (out / "groups.yaml").write_text(yaml.safe_dump(groups))
    (out / "defaults.yaml").write_text(yaml.safe_dump(defaults))
    return out


class CeleryRig:
    """Labs per region, workers, and the coordinator, all stopped at teardown."""

    def __init__(self, server: RedisServer, workdir: Path) -> None:
        self.server, self.workdir = server, workdir
        self.labs: dict[str, LabProcess] = {}
        self.workers: list[subprocess.Popen[str]] = []
        self.logs: dict[int, Path] = {}  # worker pid -> its log (stdout and stderr)
        self.runs: list[subprocess.Popen[str]] = []
        self.config = private_config(workdir / "ops")
        self.inventory: Path | None = None
        self.r = server.client(decode_responses=True)

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("JUNOS_")}
        env.update(PYTHONPATH=str(ROOT), RUNBOOKS_TEST_FAULTS=FAULTS)
        return env

    def lab(
        self,
        region: str,
        count: int,
        speed: float = 600.0,
        faults: dict[int, list[str]] | None = None,
        each: dict[str, Any] | None = None,
    ) -> LabProcess:
        """A region's lab of `count` clusters; `each`: lab keys every cluster gets (model,
        release, target, packages: docs/development/lab-contract.md)."""
        clusters = [
            {"name": f"{region}-{i:02d}", "faults": (faults or {}).get(i, []), **(each or {})}
            for i in range(count)
        ]
        spec = {"speed": speed, "clusters": clusters}
        lab = LabProcess(
            spec, self.workdir / f"lab-{region}", speed=speed, popen=warm_processes.popen
        )
        self.labs[region] = lab
        self.inventory = merged_inventory(self.labs, self.workdir / "ops")
        return lab

    def worker(
        self,
        region: str,
        threads: int = 20,
        *extra: str,
        faults: str = "",
        lease_ttl: str = LEASE_TTL,
    ) -> subprocess.Popen[str]:
        """A worker process; `faults` are its RUNBOOKS_TEST_FAULTS beyond the rig's own
        (die-after-intent, die-before-claim, acks-late=S: runbooks/engines/fault_injection.py)."""
        n = len(self.workers)
        cmd = [sys.executable, "-m", "runbooks", "worker", *extra]  # broker: RUNBOOKS_BROKER
        cmd += ["--region", region, "--workers", str(threads), "--lease-ttl", lease_ttl]
        cmd += ["--config", str(self.config), "--inventory", str(self.inventory)]
        path = self.workdir / f"worker-{n}.log"
        log = path.open("w")
        proc = warm_processes.popen(
            cmd,
            cwd=self.workdir,
            stdout=log,
            stderr=log,
            text=True,
            env={
                **self.env(),
                "RUNBOOKS_BROKER": self.server.broker,
                "RUNBOOKS_TEST_FAULTS": ",".join(filter(None, [FAULTS, faults])),
            },
            start_new_session=True,
        )
        self.workers.append(proc)
        self.logs[proc.pid] = path
        wait_until(lambda: self.live(region, proc.pid), 30, message=f"worker {n} registered")
        return proc

    def log(self, worker: subprocess.Popen[str]) -> str:
        """What a worker wrote so far (`-v`: its INFO lines too, Celery's among them)."""
        return self.logs[worker.pid].read_text(errors="replace")

    def live(self, region: str, pid: int | None = None) -> bool:
        members = self.r.zrangebyscore(f"rb:workers:{region}", time.time() - 3, "+inf")
        return any(pid is None or f"-{pid}@" in m for m in members)

    def upgrade(self, *args: str, job: str = "upgrade") -> tuple[subprocess.Popen[str], Path]:
        report = self.workdir / f"report-{len(self.runs)}.json"
        cmd = [sys.executable, "-m", "runbooks", job, "--config", str(self.config)]
        cmd += ["--inventory", str(self.inventory), "--engine", "celery"]
        cmd += ["--broker", self.server.broker, "--report", str(report), *args]
        if job != "status":
            cmd.append("--yes")
        out = report.with_suffix(".out").open("w")
        proc = warm_processes.popen(
            cmd,
            cwd=self.workdir,
            stdout=out,
            stderr=subprocess.STDOUT,
            text=True,
            env=self.env(),
            start_new_session=True,
        )
        self.runs.append(proc)
        return proc, report

    def finish(self, proc: subprocess.Popen[str], report: Path, timeout: float = 180) -> dict:  # type: ignore[type-arg]
        code = proc.wait(timeout=timeout)
        out = report.with_suffix(".out").read_text()
        data = json.loads(report.read_text()) if report.exists() else {}
        return {"code": code, "out": out, "report": data}

    def audit(self) -> list[dict[str, Any]]:
        return [rec for lab in self.labs.values() for rec in lab.audit()]

    def stop(self) -> None:
        for proc in [*self.runs, *self.workers]:
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGTERM)
        for proc in [*self.runs, *self.workers]:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=15)
        for lab in self.labs.values():
            lab.stop()


@pytest.fixture
def rig(redis_server: RedisServer, tmp_path: Path) -> Iterator[CeleryRig]:
    made = CeleryRig(redis_server, tmp_path)
    try:
        yield made
    finally:
        made.stop()


def icus(audit: list[dict[str, Any]]) -> Counter[str]:
    return Counter(r["cluster"] for r in audit if r["rpc"] == ICU)


def run_key_of(rig: CeleryRig) -> str:
    found = wait_until(lambda: rig.r.keys("rb:run:*:claimed"), 60, message="a job claimed")
    return str(next(iter(found))).rsplit(":", 1)[0]
