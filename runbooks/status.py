"""status: read-only fleet view; classifies every selected cluster. Sends nothing that changes."""

from __future__ import annotations

import argparse
from dataclasses import dataclass

from nornir.core.task import Result, Task

from runbooks.fleet import Fleet
from runbooks.journal import Journal
from runbooks.report import ClusterReport, Report, now_iso
from runbooks.view import print_status_table
from tasks.classify import ClusterState, classify
from tasks.connections import drop_all
from tasks.icu import inflight
from tasks.observe import observe
from tasks.settings import Timing
from tasks.values import NODES, ClusterView


@dataclass(frozen=True)
class ClusterSummary:
    name: str
    state: str
    versions: dict[str, str | None]
    rg_primaries: dict[int, str | None]
    pending: dict[str, bool]
    findings: tuple[str, ...]
    notes: tuple[str, ...]

    def report(self) -> ClusterReport:
        healthy = self.state == ClusterState.HEALTHY.value
        return ClusterReport(
            outcome="ok" if healthy else "failed",
            state=self.state,
            versions=self.versions,
            detail="; ".join(self.findings) if self.findings else "healthy",
            extra={
                "rg_primary": {f"rg{k}": v for k, v in sorted(self.rg_primaries.items())},
                "pending_install": self.pending,
                "findings": list(self.findings),
                "notes": list(self.notes),
            },
        )


def summarize(view: ClusterView, *, icu_started: bool = False) -> ClusterSummary:
    verdict = classify(view, icu_started=icu_started)
    status = view.status
    primaries: dict[int, str | None] = {}
    if status is not None:
        for rg in status.groups:
            found = rg.nodes_with("primary")
            primaries[rg.rg_id] = found[0] if len(found) == 1 else None
    return ClusterSummary(
        name=view.name,
        state=verdict.state.value,
        versions={n: view.versions.get(n) for n in NODES},
        rg_primaries=primaries,
        pending={n: bool(v.pending) for n, v in view.nodes.items()},
        findings=verdict.findings,
        notes=verdict.notes,
    )


def status_task(task: Task, *, timing: Timing, icu_started: bool) -> Result:
    try:
        view = observe(task, timeout=timing.rpc_timeout)
    finally:
        drop_all(task)
    return Result(host=task.host, result=summarize(view, icu_started=icu_started))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    del parser  # status has only the common options


def run(args: argparse.Namespace, fleet: Fleet, report: Report) -> int:
    results = fleet.nr.run(
        task=_status_one,
        name="status",
        fleet=fleet,
        journal=Journal(fleet.state_dir),
        on_failed=True,
    )
    summaries: list[ClusterSummary] = []
    for name in fleet.names:
        multi = results.get(name)
        if multi is None or multi[0].failed or not isinstance(multi[0].result, ClusterSummary):
            err = str(multi[0].exception or multi[0].result) if multi else "no result"
            summaries.append(
                ClusterSummary(
                    name,
                    ClusterState.UNREACHABLE.value,
                    dict.fromkeys(NODES),
                    {},
                    {},
                    (f"status failed: {err.splitlines()[0]}",),
                    (),
                )
            )
        else:
            summaries.append(multi[0].result)
    for s in summaries:
        report.clusters[s.name] = s.report()
    report.finished = now_iso()
    report.write(args.report)
    print_status_table(summaries)
    return 0 if all(s.state == ClusterState.HEALTHY.value for s in summaries) else 1


def _status_one(task: Task, *, fleet: Fleet, journal: Journal) -> Result:
    # An ICU this tool sent whose end no run has seen explains pending installs.
    icu_started = inflight(journal.history(task.host.name)) is not None
    return status_task(task, timing=fleet.timing(task.host), icu_started=icu_started)
