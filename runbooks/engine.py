"""The fleet runner shared by upgrade, abort and recover.

One Nornir task per cluster (Nornir's threaded runner gives concurrency across clusters);
inside it the job's plan runs its steps in order. Events from every plan go to the journal,
the live progress view and the log; the report is written at the end and on interrupt.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any, TextIO

from nornir.core.task import Result, Task
from nornir.plugins.runners import ThreadedRunner

from runbooks.fleet import Fleet
from runbooks.journal import ClusterLocks, Journal
from runbooks.progress import Progress
from runbooks.redact import redact
from runbooks.report import ClusterReport, Report, now_iso
from runbooks.shards import ShardLink, Shards, auto_processes
from runbooks.windows import Window, estimate_seconds, fit_reason, icu_history, parse_window
from tasks.errors import RunbookError
from tasks.icu import inflight
from tasks.releases import model_family
from tasks.runctx import ClusterRun, Event, FleetGate, NotStarted, Outcome

log = logging.getLogger(__name__)

Plan = Callable[[Task, ClusterRun], Outcome]
GOOD_OUTCOMES = ("ok", "skipped")


@dataclass
class JobOptions:
    job: str
    dry_run: bool = False
    canary: int = 0
    max_in_flight: int | None = None
    max_failures: int | None = None
    max_failures_pct: float | None = None
    options: dict[str, Any] = field(default_factory=dict)
    window: Window | None = None  # --window; else each cluster's inventory `window`
    wait_for_window: bool = False
    windowed: bool = True  # abort is an emergency action: never held back by a window
    events_path: Path | None = None


class EventsFile:
    """--events FILE: one JSON object per line for log shippers."""

    KINDS = {
        "run-started": "run-started",
        "phase": "cluster-phase",
        "cluster-finished": "cluster-finished",
        "run-finished": "run-finished",
    }

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._fh = path.open("a")
        self._lock = threading.Lock()

    def write(self, event: Event) -> None:
        kind = self.KINDS.get(event.kind)
        if event.kind == "check" and not event.data.get("passed"):
            kind = "check-failed"
        if kind is None:
            return
        record = {**event.to_json(), "event": kind}
        with self._lock:
            self._fh.write(redact(json.dumps(record, default=str)) + "\n")
            self._fh.flush()

    def close(self) -> None:
        with self._lock:
            self._fh.close()


class Transcripts:
    """state/runs/<run id>/transcripts/<cluster>.log: every command sent and every reply.

    One open file per cluster, flushed per line (a crash keeps what was written)."""

    def __init__(self, run_dir: Path) -> None:
        self.dir = run_dir / "transcripts"
        self.dir.mkdir(parents=True, exist_ok=True)
        self._files: list[TextIO] = []

    def recorder(self, cluster: str) -> Callable[[str, str, str], None]:
        fh = (self.dir / f"{cluster}.log").open("a")
        self._files.append(fh)
        lock = threading.Lock()  # the two nodes of a cluster are observed in parallel

        def record(node: str, kind: str, text: str) -> None:
            stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime())
            with lock:
                if not fh.closed:
                    fh.write(redact(f"{stamp} {node} {kind}: {text}") + "\n")
                    fh.flush()

        return record

    def close(self) -> None:
        for fh in self._files:
            fh.close()


class Runner:
    def __init__(self, fleet: Fleet, report: Report, opts: JobOptions) -> None:
        self.fleet, self.report, self.opts = fleet, report, opts
        self.journal = Journal(fleet.state_dir)
        self.locks = ClusterLocks(fleet.state_dir, report.run_id)
        self.run_dir = fleet.state_dir / "runs" / report.run_id
        self.transcripts = Transcripts(self.run_dir)
        self.progress = Progress(job=opts.job, total=len(fleet.names))
        total = len(fleet.names)
        budget = opts.max_failures
        if opts.max_failures_pct is not None:
            budget = int(total * opts.max_failures_pct / 100)
        self.gate = FleetGate(max_in_flight=opts.max_in_flight, max_failures=budget)
        self.outcomes: dict[str, Outcome] = {}
        self._lock = threading.RLock()  # the signal handler may run while it is held
        self._report_written = -1e9
        self.started: set[str] = set()
        self._signals = 0
        self.events = EventsFile(opts.events_path) if opts.events_path else None
        self.icu_history = icu_history(fleet.state_dir)
        self.pool: Shards | None = None  # main process of a run split across processes
        self.shard: ShardLink | None = None  # a worker process of such a run

    # events ---------------------------------------------------------------------------
    def sink(self, event: Event) -> None:
        """Every event of a cluster's plan: journaled here (the process working the cluster
        is its only writer), then published where the run is watched."""
        if event.cluster and not self.opts.dry_run:  # a dry run leaves nothing to misread
            self.journal.write(event)
        self.publish(event)

    def publish(self, event: Event, *, quiet: bool = False) -> None:
        """Progress, --events, log: in the main process (a worker process forwards)."""
        if self.shard is not None:
            self.shard.send_event(event, quiet)
            return
        if event.kind == "cluster-started":
            with self._lock:
                self.started.add(event.cluster)
        self.progress.on_event(event)
        if quiet:
            return
        if self.events is not None:
            self.events.write(event)
        if event.kind in ("phase", "step", "cluster-finished", "command", "icu-sending"):
            log.info("run %s %s %s %s", event.run_id, event.cluster, event.kind, event.data)

    # per cluster ----------------------------------------------------------------------
    def _cluster_task(self, task: Task, plan: Plan) -> Result:
        name = task.host.name
        run = ClusterRun(
            cluster=name,
            job=self.opts.job,
            run_id=self.report.run_id,
            timing=self.fleet.timing(task.host),
            dry_run=self.opts.dry_run,
            history=[],
            sink=self.sink,
            gate=self.gate,
            options=dict(self.opts.options),
            transcript=self.transcripts.recorder(name),
        )
        holder = None if self.opts.dry_run else self.locks.acquire(name)
        if holder is not None:
            outcome = Outcome("locked", "unknown", {}, f"locked by {holder}")
            self._finish(run, outcome, journal=False)
            return Result(host=task.host, result=outcome)
        try:
            run.history = self.journal.history(name)
            # Re-attaching to an ICU a previous run sent is observation, not a start: no
            # halt, canary or window may keep a run from following it.
            if self.opts.job != "upgrade" or inflight(run.history) is None:
                self.gate.check()
                self._await_window(task, run)
            run.emit("cluster-started")
            outcome = plan(task, run)
        except NotStarted as exc:
            outcome = Outcome("not-started", "unknown", {}, str(exc))
        except RunbookError as exc:
            outcome = Outcome("failed", "unknown", {}, exc.message, {"phase": exc.step or ""})
        except Exception as exc:  # a bug must not leave the cluster unreported
            log.exception("run %s %s: unexpected error", self.report.run_id, name)
            outcome = Outcome(
                "failed", "unknown", {}, f"internal error: {type(exc).__name__}: {exc}"
            )
        finally:
            self.locks.release(name)
        self._finish(run, outcome)
        return Result(host=task.host, result=outcome)

    def _await_window(self, task: Task, run: ClusterRun) -> None:
        """Start only inside the cluster's window, and only if the ICU fits before its end."""
        if not self.opts.windowed:
            return
        host = task.host
        window = self.opts.window
        if window is None and host.get("window") is not None:
            window = parse_window(host.get("window"), host.get("timezone"))
        if window is None:
            return
        if self.opts.window is not None and not window.zoned and host.get("timezone"):
            window = parse_window(window.text, host.get("timezone"))  # naive: the site's zone
        needed = 0.0
        if self.opts.job == "upgrade":
            family = model_family(str(host.get("model") or ""))
            needed = estimate_seconds(family, self.icu_history, run.timing.icu_estimate)
        while True:
            now = datetime.now(UTC)
            reason, wait = fit_reason(window, now, needed)
            if reason is None:
                occ = window.open_now(now)
                run.window_end = occ[1].timestamp() if occ else None
                return
            if not self.opts.wait_for_window or wait == float("inf"):
                raise NotStarted(reason)
            self.gate.check()
            note = {"message": f"waiting: {reason}"}
            self.publish(
                Event(time.time(), run.run_id, run.job, run.cluster, "note", note), quiet=True
            )
            time.sleep(min(wait, 1.0))  # re-check the halt flag at least every second

    def _finish(self, run: ClusterRun, outcome: Outcome, journal: bool = True) -> None:
        event = Event(
            time.time(),
            run.run_id,
            run.job,
            run.cluster,
            "cluster-finished",
            {
                "outcome": outcome.outcome,
                "state": outcome.state,
                "detail": outcome.detail,
                "phase": outcome.extra.get("phase"),
            },
        )
        if journal and not self.opts.dry_run:
            self.journal.write(event)
        self.gate.record(outcome.outcome)
        if self.shard is not None:
            self.shard.send_outcome(run.cluster, outcome, event, journal)
        else:
            self.finished(run.cluster, outcome, event, published=journal)

    def finished(self, name: str, outcome: Outcome, event: Event, *, published: bool) -> None:
        """A cluster's outcome reached the main process: report, progress."""
        with self._lock:
            self.outcomes[name] = outcome
        self.publish(event, quiet=not published)  # a locked cluster is not this run's news
        self._write_report(at_most_every=1.0)

    # fleet ----------------------------------------------------------------------------
    def run(self, plan: Plan) -> int:
        names = self.fleet.names
        canary = names[: self.opts.canary] if self.opts.canary else []
        rest = [n for n in names if n not in canary]
        workers = self.fleet.workers
        processes = self.fleet.processes or auto_processes(len(names), workers)
        if processes > 1 and threading.active_count() > 1:  # a fork would copy held locks
            log.warning("run %s: threads running; working in one process", self.report.run_id)
        elif processes > 1:  # fork now: no thread, no connection yet
            self.pool = Shards(self, plan, min(processes, len(names)), workers)
        self._install_signals()
        self.progress.start()
        self.sink(
            Event(
                time.time(),
                self.report.run_id,
                self.opts.job,
                "",
                "run-started",
                {"clusters": len(names)},
            )
        )
        try:
            if canary:
                self._run_some(canary, plan)
                failed = [n for n in canary if self.outcomes[n].outcome not in GOOD_OUTCOMES]
                if failed:
                    self.gate.halt(f"canary failed: {', '.join(failed)}")
            if rest:
                if self.gate.halted:
                    for name in rest:
                        self.outcomes[name] = Outcome(
                            "not-started", "unknown", {}, self.gate.halted
                        )
                else:
                    self._run_some(rest, plan)
        finally:
            if self.pool is not None:
                self.pool.stop()
            self.progress.stop()
            self.close_local()
        for name in names:  # every selected cluster ends the run in a named state
            self.outcomes.setdefault(name, Outcome("not-started", "unknown", {}, "not reached"))
        self.report.finished = now_iso()
        self._write_report()
        counts = Counter(o.outcome for o in self.outcomes.values())
        finished = Event(
            time.time(),
            self.report.run_id,
            self.opts.job,
            "",
            "run-finished",
            {"outcomes": dict(counts)},
        )
        if self.events is not None:
            self.events.write(finished)
            self.events.close()
        log.info("run %s finished: %s", self.report.run_id, dict(counts))
        self.progress.summary(self.outcomes, self.opts.job)
        return 0 if all(o.outcome in GOOD_OUTCOMES for o in self.outcomes.values()) else 1

    def _run_some(self, names: list[str], plan: Plan) -> None:
        if self.pool is not None:
            self.pool.run(names)
        else:
            self.run_here(names, plan)

    def run_here(self, names: list[str], plan: Plan, workers: int | None = None) -> None:
        """Work `names` in this process, `workers` (default: --workers) at a time."""
        wanted = set(names)
        nr = self.fleet.nr.filter(filter_func=lambda h: h.name in wanted)
        if workers is not None:
            nr = nr.with_runner(ThreadedRunner(num_workers=workers))
        nr.run(task=self._cluster_task, plan=plan, name=self.opts.job, on_failed=True)

    def close_local(self) -> None:
        """What this process holds of the clusters it worked: journals, transcripts, locks."""
        self.journal.close()
        self.transcripts.close()
        self.locks.release_all()

    def _write_report(self, at_most_every: float = 0.0) -> None:
        """Rewrite the report (atomically). While clusters finish, at most once a second:
        a fleet of hundreds would otherwise rewrite it hundreds of times."""
        with self._lock:
            now = time.monotonic()
            if now - self._report_written < at_most_every:
                return
            self._report_written = now
            for name, o in self.outcomes.items():
                self.report.clusters[name] = ClusterReport(
                    outcome=o.outcome,
                    state=o.state,
                    versions=o.versions,
                    detail=o.detail,
                    extra=o.extra,
                )
            self.report.write(self.report_path)
            self.report.write(self.run_dir / "report.json")

    report_path: Path | None = None

    # interrupts -----------------------------------------------------------------------
    def _install_signals(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, self._on_signal)

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        del frame
        self._signals += 1
        if self._signals == 1:
            self.gate.halt("interrupted before start")
            how = self.opts.options.get("on_interrupt", "finish")
            if how == "ask" and sys.stdin.isatty():
                threading.Thread(target=self._ask, daemon=True).start()
                how = "finish"
            self.gate.interrupt_action = how if how in ("abort", "finish") else "finish"
            sys.stderr.write(
                f"\n{signal.Signals(signum).name}: no new clusters will start; in-flight ones "
                f"will {'be aborted' if how == 'abort' else 'finish'}. Again to stop now.\n"
            )
            self.gate.interrupted.set()
            return
        sys.stderr.write("stopping now; the journal keeps every cluster's progress\n")
        if self.pool is not None:
            self.pool.kill()
        with self._lock:
            for name in self.fleet.names:
                if name in self.started:
                    stopped = Outcome(
                        "failed",
                        "unknown",
                        {},
                        "run stopped while this cluster was in flight; "
                        "re-run with --resume to re-attach",
                    )
                else:
                    stopped = Outcome("not-started", "unknown", {}, "run stopped before it")
                self.outcomes.setdefault(name, stopped)
        self.report.finished = now_iso()
        self._write_report()
        self.journal.close()
        os._exit(130)

    def _ask(self) -> None:
        try:
            self.progress.stop()
            answer = input("Abort the in-flight ICUs (abort, recover if left inconsistent)? [y/N] ")
        except EOFError:
            return
        if answer.strip().lower() in ("y", "yes"):
            self.gate.interrupt_action = "abort"
