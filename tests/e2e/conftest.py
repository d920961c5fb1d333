"""End-to-end fixtures: a lab (the simulator as a subprocess on OS-picked ports) and the
runbooks as a subprocess, exactly as an operator runs them."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from simulator.testing import DESTRUCTIVE_RPCS, LabProcess, private_config, start_lab, wait_until
from tasks.state.journal import read_records
from tests import warm_processes

ROOT = Path(__file__).resolve().parents[2]
SPEED = 600.0
# Parity (issue 23): a test marked so runs once per transport; its runbooks get --transport.
TRANSPORTS = ("napalm", "asyncssh")
both_transports = pytest.mark.parametrize("transport", TRANSPORTS)
STACK = {"napalm": "paramiko", "asyncssh": "AsyncSSH"}  # the SSH client each transport speaks


def client_stacks(audit: list[dict[str, Any]]) -> set[str]:
    """The SSH client stacks whose NETCONF sessions sent a lab's audited RPCs (its `client`:
    `SSH-2.0-paramiko_3.5` -> paramiko): proof of which transport spoke."""
    return {r["client"].split("-", 2)[-1].split("_")[0] for r in audit if r.get("client")}


@dataclass
class RunResult:
    code: int
    stdout: str
    stderr: str
    report: dict[str, Any]
    report_path: Path

    def cluster(self, name: str) -> dict[str, Any]:
        return dict(self.report["clusters"][name])


class Runbooks:
    """Runs `python -m runbooks` against a lab, with its own state directory."""

    def __init__(self, lab: LabProcess, workdir: Path, transport: str | None = None) -> None:
        self.lab, self.workdir, self.transport = lab, workdir, transport
        self.config = private_config(workdir)
        self._n = 0
        self._procs: list[subprocess.Popen[str]] = []

    def cmd(self, job: str, *args: str, report: Path | None = None) -> list[str]:
        cmd = [
            sys.executable,
            "-m",
            "runbooks",
            job,
            "--config",
            str(self.config),
            "--inventory",
            str(self.lab.inventory_dir),
            *args,
        ]
        if report is not None:
            cmd += ["--report", str(report)]
        if self.transport is not None:
            cmd += ["--transport", self.transport]
        return cmd

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("JUNOS_")}
        env["PYTHONPATH"] = str(ROOT)
        return env

    def run(
        self, job: str, *args: str, timeout: float = 240, close_stdin: bool = False
    ) -> RunResult:
        proc, report = self.start(job, *args, close_stdin=close_stdin)
        return self.wait(proc, report, timeout=timeout)

    def start(
        self, job: str, *args: str, close_stdin: bool = False
    ) -> tuple[subprocess.Popen[str], Path]:
        """Start a run in its own process group; stdout/stderr go to files beside the report."""
        self._n += 1
        report = self.workdir / f"report-{self._n}-{job}.json"
        cmd = self.cmd(job, *args, report=report)
        if close_stdin:  # as under some schedulers: no stdin at all, not even /dev/null
            cmd = ["sh", "-c", 'exec "$@" 0<&-', "sh", *cmd]
        with (
            report.with_suffix(".out").open("w") as out,
            report.with_suffix(".err").open("w") as err,
        ):
            proc = warm_processes.popen(
                cmd,
                cwd=self.workdir,
                stdout=out,
                stderr=err,
                text=True,
                env=self.env(),
                stdin=None if close_stdin else subprocess.DEVNULL,
                start_new_session=True,
            )
        self._procs.append(proc)
        return proc, report

    def wait(self, proc: subprocess.Popen[str], report: Path, timeout: float = 240) -> RunResult:
        proc.wait(timeout=timeout)
        data = json.loads(report.read_text()) if report.exists() else {}
        return RunResult(
            proc.returncode,
            report.with_suffix(".out").read_text(),
            report.with_suffix(".err").read_text(),
            data,
            report,
        )

    def stop_all(self) -> None:
        for proc in self._procs:
            if proc.poll() is None:
                kill_group(proc)

    def journal(self, cluster: str) -> list[dict[str, Any]]:
        return read_records(self.workdir / "state" / "journal" / f"{cluster}.jsonl")


@pytest.fixture
def make_lab(tmp_path: Path) -> Iterator[Any]:
    labs: list[LabProcess] = []

    def make(
        clusters: list[dict[str, Any]] | None = None,
        *,
        count: int | None = None,
        speed: float = SPEED,
        **lab_opts: Any,
    ) -> LabProcess:
        spec = None
        if clusters is not None:
            spec = {"speed": speed, "clusters": clusters, **lab_opts}
        workdir = tmp_path / f"lab{len(labs)}"
        lab = start_lab(spec, workdir, clusters=count, speed=speed, popen=warm_processes.popen)
        labs.append(lab)
        return lab

    yield make
    for lab in labs:
        lab.stop()


@pytest.fixture
def runbooks_for(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Any]:
    """Runbooks on a lab; over the transport a test is parametrised with (both_transports,
    or a `transport` column of its own), else the default one."""
    made: list[Runbooks] = []
    transport = getattr(request.node, "callspec", None)
    transport = transport.params.get("transport") if transport is not None else None

    def make(lab: LabProcess) -> Runbooks:
        made.append(Runbooks(lab, tmp_path / "ops", transport))
        return made[-1]

    yield make
    for ops in made:  # no runbook process outlives its test
        ops.stop_all()


def kill_group(proc: subprocess.Popen[str], sig: int = signal.SIGKILL) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, sig)
    proc.wait(timeout=30)


def destructive(audit: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for r in audit if r["rpc"] in DESTRUCTIVE_RPCS]


__all__ = ["ROOT", "SPEED", "Runbooks", "destructive", "kill_group", "wait_until"]


def icu_sends(audit: list[dict[str, Any]]) -> Counter[str]:
    """ICU commands per cluster in a lab's audit log."""
    return Counter(r["cluster"] for r in audit if r["rpc"] == "request-package-in-service-upgrade")


def lock_pids(state: Path) -> dict[str, int]:
    """Cluster -> PID written in its lock file by the last process that held it."""
    out = {}
    for path in (state / "locks").glob("*.lock"):
        m = re.search(r"pid (\d+)", path.read_text())
        if m:
            out[path.stem] = int(m.group(1))
    return out


# The --engine celery rig and a private redis-server, for tests/e2e/test_celery_*_e2e.py.
from tests.e2e.celery_rig import rig  # noqa: E402, F401
from tests.redis_server import redis_server_fixture  # noqa: E402, F401
