"""Where a fleet run's events and outcomes go once journaled, in the process the operator
watches: live progress, `--events`, the log and the report (FleetView), and `--events FILE`
itself. Worker processes hand theirs over a pipe (runbooks.fleet.shards.ShardLink)."""

from __future__ import annotations

import json
import logging
import threading
import time
from pathlib import Path

from runbooks.output.notify import Notifier
from runbooks.output.progress import Progress
from runbooks.output.report import ClusterReport, Report
from tasks.events import Event, EventKind
from tasks.state.paths import open_private
from tasks.state.redact import redact
from tasks.state.run_context import Outcome

log = logging.getLogger(__name__)

LOGGED = (
    EventKind.PHASE,
    EventKind.STEP,
    EventKind.CLUSTER_FINISHED,
    EventKind.COMMAND,
    EventKind.ICU_SENDING,
)


class EventsFile:
    """--events FILE: one JSON object per line for log shippers."""

    KINDS = {
        EventKind.RUN_STARTED: "run-started",
        EventKind.PHASE: "cluster-phase",
        EventKind.CLUSTER_FINISHED: "cluster-finished",
        EventKind.RUN_FINISHED: "run-finished",
        EventKind.PAUSED_FOR_APPROVAL: "paused-for-approval",
        EventKind.APPROVAL: "approval",
        EventKind.WAVE_ENDED: "wave-ended",
        EventKind.WINDOW_ENDED: "window-ended",
    }

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._fh = open(open_private(path, "a"), "a")  # noqa: SIM115  (open for the run)
        self._lock = threading.Lock()

    def write(self, event: Event) -> None:
        kind = self.KINDS.get(event.kind)
        if event.kind is EventKind.CHECK and not event.data.get("passed"):
            kind = "check-failed"
        if kind is None:
            return
        record = {**event.to_json(), "event": kind}
        with self._lock:
            if not self._fh.closed:
                self._fh.write(redact(json.dumps(record, default=str)) + "\n")
                self._fh.flush()

    def close(self) -> None:
        with self._lock:
            self._fh.close()


class FleetView:
    """The run as the operator sees it: the local sink of the main process."""

    def __init__(
        self,
        report: Report,
        progress: Progress,
        events: EventsFile | None,
        paths: tuple[Path | None, Path],  # --report, and the run's own copy
    ) -> None:
        self.report, self.progress, self.events, self.paths = report, progress, events, paths
        self.outcomes: dict[str, Outcome] = {}
        self.started: set[str] = set()
        self._lock = threading.RLock()  # the signal handler may run while it is held
        self._written = -1e9
        self.notifier: Notifier | None = None  # the team's channels, if any

    def event(self, event: Event, *, quiet: bool = False) -> None:
        if event.kind is EventKind.CLUSTER_STARTED:
            with self._lock:
                self.started.add(event.cluster)
        self.progress.on_event(event)
        if quiet:
            return
        if self.notifier is not None:
            self._notify(event)
        if self.events is not None:
            self.events.write(event)
        if event.kind in LOGGED:
            log.info("run %s %s %s %s", event.run_id, event.cluster, event.kind, event.data)

    def finished(self, cluster: str, outcome: Outcome, event: Event, *, published: bool) -> None:
        with self._lock:
            self.outcomes[cluster] = outcome
        if self.notifier is not None and published and not outcome.good:
            self.notifier.problem(cluster, outcome.outcome, outcome.detail)
        self.event(event, quiet=not published)  # a locked cluster is not this run's news
        self.write_report(at_most_every=1.0)

    def settle(self, cluster: str, outcome: Outcome) -> None:
        """An outcome the run decides without working the cluster (never reached)."""
        with self._lock:
            self.outcomes.setdefault(cluster, outcome)

    def write_report(self, at_most_every: float = 0.0) -> None:
        """Rewrite the report (atomically). While clusters finish, at most once a second:
        a fleet of hundreds would otherwise rewrite it hundreds of times."""
        with self._lock:
            now = time.monotonic()
            if now - self._written < at_most_every:
                return
            self._written = now
            for name, o in self.outcomes.items():
                self.report.clusters[name] = ClusterReport(
                    o.outcome, o.state, o.versions, o.detail, o.extra
                )
            for path in self.paths:
                self.report.write(path)

    def _notify(self, event: Event) -> None:
        assert self.notifier is not None
        if event.kind is EventKind.RUN_STARTED:
            self.notifier.started(int(event.data.get("clusters") or 0))
        elif event.kind is EventKind.PAUSED_FOR_APPROVAL:
            self.notifier.paused(str(event.data.get("reason") or ""), str(event.data["answer"]))
        elif event.kind is EventKind.WAVE_ENDED:
            self.notifier.wave_ended(event.data)
        elif event.kind is EventKind.WINDOW_ENDED:
            how = "finishing" if event.data.get("at_window_end") == "finish" else "aborting"
            self.notifier.problem(event.cluster, "window ended", f"still in flight; {how}")
        elif event.kind is EventKind.RUN_FINISHED:
            where = next((p for p in self.paths if p is not None), None)
            self.notifier.finished(dict(event.data.get("outcomes") or {}), where)

    def close(self) -> None:
        if self.notifier is not None:  # what was delivered, and what was not, in the report
            self.report.notifications = self.notifier.close().to_json()
            self.write_report()
        if self.events is not None:
            self.events.close()
