"""The in-process rig the unit tier drives the real jobs with: tasks.jobs.srx_* through Nornir,
the executor, locks and journal, against in-process clusters (simulator/inprocess.py: the
simulator's model and reply bytes, read by the real parsers) under a virtual clock. Each job
run takes well under a second of real time, whatever the virtual time it covers.

A test asks for the `rig` fixture (tests/unit/conftest.py) and calls it with lab cluster
specs, the same specs an SSH lab takes (docs/development/lab.md)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from simulator.inprocess import InProcessLab, nornir_for
from simulator.testing import DESTRUCTIVE_RPCS
from tasks.device.wire import WireDevices
from tasks.executor import LogSink
from tasks.state.backends import LocalBackend, build_context
from tasks.state.clock import VirtualClock
from tasks.state.journal import read_records
from tasks.state.run_context import Outcome

OLD, NEW = "23.4R2-S3.9", "24.2R2-S1.3"
ICU, ABORT = "request-package-in-service-upgrade", "abort-in-service-upgrade"
ROLLBACK, REBOOT = "request-package-rollback", "request-reboot"
JOB_SECONDS: list[tuple[float, float]] = []  # (real, CPU) seconds of each job run


@dataclass
class Rig:
    clock: VirtualClock
    lab: InProcessLab
    state: Path

    def _context(self) -> Any:
        return build_context(
            LocalBackend(self.state),
            run_id=f"run-{len(self.lab.audit)}",
            state_dir=self.state,
            sink=LogSink(),
            transcripts=False,
            clock=self.clock,
            devices=WireDevices(self.lab),
        )

    def run_all(self, job: Any, **kwargs: Any) -> dict[str, Outcome]:
        """One job over every cluster of the lab, in one run of its own (its own context, the
        state directory shared with the rig's other runs): {cluster: Outcome}."""
        return self._run(nornir_for(self.lab), job, kwargs)

    def run(self, job: Any, name: str = "br-1", **kwargs: Any) -> Outcome:
        """One job on one cluster, in a run of its own."""
        return self._run(nornir_for(self.lab).filter(name=name), job, kwargs)[name]

    def _run(self, nr: Any, job: Any, kwargs: dict[str, Any]) -> dict[str, Outcome]:
        started, cpu = time.perf_counter(), time.process_time()
        result = nr.run(task=job, context=self._context(), **kwargs)
        JOB_SECONDS.append((time.perf_counter() - started, time.process_time() - cpu))
        outcomes = {}
        for name, multi in result.items():
            outcome = multi[0].result
            assert isinstance(outcome, Outcome), multi[0].exception
            outcomes[name] = outcome
        return outcomes

    def destructive(self, name: str = "br-1") -> list[tuple[str, str]]:
        """(node, rpc) of every destructive RPC the cluster's nodes received, in order."""
        return [(r["node"], r["rpc"]) for r in self.lab.sent(name, *DESTRUCTIVE_RPCS)]

    def truth(self, name: str = "br-1") -> dict[str, Any]:
        return self.lab.truth(name)

    def releases(self, name: str = "br-1") -> dict[str, str]:
        return {n: v["release"] for n, v in self.truth(name)["nodes"].items()}

    def journal(self, name: str = "br-1") -> list[dict[str, Any]]:
        return read_records(self.state / "journal" / f"{name}.jsonl")


def make_rigs(tmp_path: Path) -> Iterator[Any]:
    """The `rig` fixture's body: rig(*cluster_specs) -> Rig; every lab closed at the end."""
    made: list[Rig] = []

    def make(*clusters: dict[str, Any]) -> Rig:
        clock = VirtualClock()
        # each lab its own state directory: its run ids start again at run-0, and a journal
        # of another lab's run-0 would be a world no device is in
        state = tmp_path / f"rig{len(made)}"
        made.append(Rig(clock, InProcessLab(clock, {"clusters": list(clusters)}), state))
        return made[-1]

    yield make
    for r in made:
        r.lab.close()
        r.clock.close()
