"""`status --engine celery`: each cluster read by a worker of its region (read-only: no lease,
nothing journaled, nothing sent that changes a device); the same table, report and exit code
as a local status. `coordinator` runs in the operator's process, `work_status` in a worker."""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from runbooks.output.progress import Progress
from runbooks.output.report import Report
from runbooks.output.sinks import FleetView
from runbooks.output.tables import print_status_table
from tasks import ClusterSummary
from tasks.events import Event, EventKind
from tasks.jobs import srx_status
from tasks.state.redis_store import RedisGate, RedisJournal, RedisLocks, RedisStore
from tasks.state.run_context import Outcome, RunContext, Sink

if TYPE_CHECKING:
    from runbooks.fleet.inventory import Fleet


def coordinator(
    args: argparse.Namespace, fleet: Fleet, broker: str, spec: dict[str, Any]
) -> Callable[[Report], int]:
    def run(report: Report) -> int:
        from runbooks.engines.celery_coordinator import prepare_run

        paths: Any = (args.report, None)
        view = FleetView(report, Progress(job="status", total=len(fleet.names)), None, paths)
        coord = prepare_run(fleet, report.run_id, broker, spec, (0, -1), view)
        if isinstance(coord, int):
            return coord
        coord.install_signals("finish")
        code = coord.run(fleet.names, 0, "status", summary=False)
        print_status_table([summary_of(n, view.outcomes[n]) for n in fleet.names])
        return code

    return run


def summary_of(name: str, o: Outcome) -> ClusterSummary:
    """The status table's row back from a report entry."""
    extra = o.extra or {}
    rgs = {int(k[2:]): v for k, v in (extra.get("rg_primary") or {}).items() if k[2:].isdigit()}
    findings = tuple(extra.get("findings") or ([o.detail] if o.outcome != "ok" else []))
    pending = extra.get("pending_install") or {}
    return ClusterSummary(
        name, o.state, o.versions, rgs, pending, findings, tuple(extra.get("notes") or ())
    )


def work_status(store: RedisStore, fleet: Fleet, run_id: str, cluster: str, sink: Sink) -> None:
    """A worker's status of one cluster, published as its outcome."""
    context = RunContext(
        run_id=run_id,
        state_dir=fleet.state_dir,
        journal=RedisJournal(store),  # read only: whether an ICU is open
        locks=RedisLocks(store, run_id),
        gate=RedisGate(store, run_id, cluster),
        sink=sink,
        timing_defaults=dict(fleet.user_defined.get("timing") or {}),
    )
    results = fleet.nr.run(task=srx_status, name="status", context=context, on_failed=True)
    multi = results.get(cluster)
    found = multi[0].result if multi else None
    if not isinstance(found, ClusterSummary):
        err = str(multi[0].exception or multi[0].result) if multi else "no result"
        found = ClusterSummary.unreachable(cluster, f"status failed: {err.splitlines()[0]}")
    detail = "; ".join(found.findings) if found.findings else "healthy"
    good = "ok" if found.healthy else "failed"
    outcome = Outcome(good, found.state, found.versions, detail, found.extra())
    data = {"outcome": good, "state": found.state, "detail": detail}
    event = Event(time.time(), run_id, "status", cluster, EventKind.CLUSTER_FINISHED, data)
    sink.finished(cluster, outcome, event, published=True)
