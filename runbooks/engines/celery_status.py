"""`status --engine celery` in a worker: one cluster read (read-only: no lease, nothing
journaled, nothing sent that changes a device), published as its outcome. The operator's
side is runbooks.engines.celery_coordinator (CeleryEngine.status)."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from tasks import ClusterSummary
from tasks.events import Event, EventKind
from tasks.jobs import srx_status
from tasks.state.backends import build_context
from tasks.state.redis_store import RedisBackend, RedisStore
from tasks.state.run_context import Outcome, Sink
from tasks.transports import devices_for

if TYPE_CHECKING:
    from runbooks.fleet.inventory import Fleet


def work_status(store: RedisStore, fleet: Fleet, run_id: str, cluster: str, sink: Sink) -> None:
    """A worker's status of one cluster, published as its outcome."""
    context = build_context(
        RedisBackend(store, cluster),  # its journal read only: whether an ICU is open
        run_id=run_id,
        state_dir=fleet.state_dir,
        sink=sink,
        timing_defaults=fleet.user_defined.get("timing"),
        transcripts=False,
        devices=devices_for(fleet.user_defined.get("transport")),
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
