"""The fleet runner shared by upgrade, abort and recover: fleet policy on top of the srx_*
Nornir tasks.

It builds the run's context (journal, locks, gate, sink, window policy) and runs the job's
task over the selected clusters with Nornir's threaded runner, the canary first; shares them
among worker processes for big fleets (runbooks.fleet.shards); handles Ctrl-C/SIGTERM; and writes
the report, also on interrupt.
"""

from __future__ import annotations

import dataclasses
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
from typing import Any

from nornir.core.task import Result, Task
from nornir.plugins.runners import ThreadedRunner

from runbooks.cli import signals
from runbooks.fleet.approval import DEFAULT_TIMEOUT, begin_pause, wait_for_answer
from runbooks.fleet.inventory import Fleet
from runbooks.fleet.shards import Shards, auto_processes
from runbooks.fleet.waves import WavePlan, next_wave_refused, wave_done_words
from runbooks.fleet.windows import Window, fit_reason, icu_estimate, icu_history, parse_window
from runbooks.output.notify import Notifier, NotifySettings
from runbooks.output.progress import Progress
from runbooks.output.report import Report, now_iso
from runbooks.output.sinks import EventsFile, FleetView
from tasks.events import Event, EventKind
from tasks.srx_facts import model_family
from tasks.state.backends import Backend, LocalBackend, build_context
from tasks.state.gate import NotStarted
from tasks.state.run_context import ClusterRun, Outcome, Sink
from tasks.transports import devices_for

log = logging.getLogger(__name__)

JobTask = Callable[..., Result]


@dataclass
class JobOptions:
    job: str
    task: JobTask  # the srx_* Nornir task
    kwargs: dict[str, Any] = field(default_factory=dict)  # its options
    waves: WavePlan = field(default_factory=WavePlan)  # --canary / --waves, and their pauses
    max_in_flight: int | None = None
    max_failures: int | None = None
    max_failures_pct: float | None = None
    policy: dict[str, Any] = field(default_factory=dict)  # on_interrupt, at_window_end
    window: Window | None = None  # --window; else each cluster's inventory `window`
    wait_for_window: bool = False
    windowed: bool = True  # abort is an emergency action: never held back by a window
    events_path: Path | None = None
    report_path: Path | None = None
    notify: NotifySettings | None = None  # the team's channels (runbooks.output.notify)
    approval_timeout: float = DEFAULT_TIMEOUT  # a pause between waves: wait this long


class Runner:
    """One run of a job over its clusters. The engine that works it (runbooks.engines)
    gives where its state lives (`backend`) and where outcomes go (`sink`, given the view);
    by default this host's files and the operator's view."""

    def __init__(
        self,
        fleet: Fleet,
        report: Report,
        opts: JobOptions,
        backend: Backend | None = None,
        sink: Callable[[FleetView], Sink] | None = None,
    ) -> None:
        self.fleet, self.report, self.opts = fleet, report, opts
        state, run_id = fleet.state_dir, report.run_id
        self.run_dir = state / "runs" / run_id
        names = fleet.names
        budget = opts.max_failures
        if opts.max_failures_pct is not None:
            budget = int(len(names) * opts.max_failures_pct / 100)
        events = EventsFile(opts.events_path) if opts.events_path else None
        progress = Progress(job=opts.job, total=len(names))
        self.view = FleetView(
            report, progress, events, (opts.report_path, self.run_dir / "report.json")
        )
        if opts.notify is not None and opts.notify.urls:
            self.view.notifier = Notifier(opts.notify, opts.job, run_id)
        self.budget = budget
        self.context = build_context(
            backend or LocalBackend(state),
            run_id=run_id,
            state_dir=state,
            sink=sink(self.view) if sink else self.view,
            timing_defaults=fleet.user_defined.get("timing"),
            max_in_flight=opts.max_in_flight,
            max_failures=budget,
            before_start=self._await_window,
            windowed=opts.windowed,
            policy=opts.policy,
            devices=devices_for(fleet.user_defined.get("transport")),
        )
        self.icu_history = icu_history(state)
        self.pool: Shards | None = None
        self._signals = 0

    # fleet ----------------------------------------------------------------------------
    def run(self) -> int:
        """The run on this host (the local engine): wave by wave (the canary first), this
        host's processes, the report."""
        names = self.fleet.names
        workers = self.fleet.workers
        processes = self.fleet.processes or auto_processes(len(names), workers)
        self._install_signals()  # before the fork: a stop during it is a stop of the run
        if processes > 1 and threading.active_count() > 1:  # a fork would copy held locks
            log.warning("run %s: threads running; working in one process", self.report.run_id)
        elif processes > 1 and not self.context.gate.halted:  # fork now: no thread yet
            count = min(processes, len(names))
            self.pool = Shards(
                self.work, self.view, self.context.gate, count, workers, self.close_local
            )
        self.view.progress.start()
        self._publish(EventKind.RUN_STARTED, clusters=len(names))
        try:
            self._run_fleet(self.waves())
        finally:
            if self.pool is not None:
                self.pool.stop()
            self.view.progress.stop()
            self.close_local()
        return self._end(names)

    def waves(self) -> list[list[str]]:
        """The run's clusters, wave by wave (one wave without --canary or --waves)."""
        return self.opts.waves.split(self.fleet.names)

    def _run_fleet(self, waves: list[list[str]]) -> None:
        gate = self.context.gate
        for index, wave in enumerate(waves):
            if index and not gate.halted and (why := self.between_waves(waves, index)):
                gate.halt(why)
            if gate.halted:
                for name in wave:
                    self.view.settle(name, Outcome("not-started", "unknown", {}, gate.halted))
                continue
            self._run_some(wave)

    def between_waves(
        self,
        waves: list[list[str]],
        index: int,
        stopped: Callable[[], str | None] | None = None,
    ) -> str | None:
        """Why wave `index` must not start (runbooks.fleet.waves): the waves before it, then
        a person's answer where the run pauses; None: it starts. `stopped`: why the run
        stopped meanwhile (default: this host's gate)."""
        plan, outcomes = self.opts.waves, self.view.outcomes
        refused = next_wave_refused(plan, waves, index, outcomes, self.budget is not None)
        pauses = refused is None and plan.pauses_before(index)
        after = "paused for approval" if pauses else f"wave {index + 1} of {len(waves)} starts"
        self._publish(
            EventKind.WAVE_ENDED,
            wave=index,
            waves=len(waves),
            canary=bool(plan.canary),
            outcomes=dict(Counter(outcomes[n].outcome for n in waves[index - 1] if n in outcomes)),
            next=f"the run stops: {refused}" if refused else after,
        )
        if not pauses:
            return refused
        return self.await_approval(waves, index, stopped)

    def await_approval(
        self,
        waves: list[list[str]],
        index: int,
        stopped: Callable[[], str | None] | None = None,
    ) -> str | None:
        """Wait for a person's answer before wave `index` (runbooks.fleet.approval); None
        when approved, else why the rest does not start."""
        run_id = self.report.run_id
        done = wave_done_words(self.opts.waves, waves, index, self.view.outcomes)
        coming = f"wave {index + 1} of {len(waves)}, {len(waves[index])} clusters"
        path = begin_pause(self.fleet.state_dir, run_id, index + 1, done)
        how = f"python -m runbooks approve {run_id} (or reject {run_id} --reason ...)"
        self._publish(
            EventKind.PAUSED_FOR_APPROVAL, reason=done, wave=index + 1, waves=len(waves), answer=how
        )
        sys.stderr.write(f"\nrun {run_id}: {done}; paused for approval before {coming}: {how}\n")
        why = wait_for_answer(
            path,
            timeout=self.opts.approval_timeout,
            stopped=stopped or (lambda: self.context.gate.halted),
        )
        self._publish(
            EventKind.APPROVAL, approved=why is None, reason=why or "approved", wave=index + 1
        )
        return why

    def _end(self, names: list[str]) -> int:
        for name in names:  # every selected cluster ends the run in a named state
            self.view.settle(name, Outcome("not-started", "unknown", {}, "not reached"))
        self.report.finished = now_iso()
        self.view.write_report()
        counts = Counter(o.outcome for o in self.view.outcomes.values())
        self._publish(EventKind.RUN_FINISHED, outcomes=dict(counts))
        self.view.close()
        log.info("run %s finished: %s", self.report.run_id, dict(counts))
        self.view.progress.summary(self.view.outcomes, self.opts.job)
        return 0 if all(o.good for o in self.view.outcomes.values()) else 1

    def _publish(self, kind: EventKind, **data: Any) -> None:
        self.view.event(Event(time.time(), self.report.run_id, self.opts.job, "", kind, data))

    def _run_some(self, names: list[str]) -> None:
        if self.pool is not None:
            self.pool.run(names)
        else:
            self.work(names)

    def work(self, names: list[str], workers: int | None = None, sink: Sink | None = None) -> None:
        """Work `names` in this process, `workers` (default: --workers) at a time; a worker
        process gives the sink that forwards to the main process."""
        wanted = set(names)
        nr = self.fleet.nr.filter(filter_func=lambda h: h.name in wanted)
        if workers is not None:
            nr = nr.with_runner(ThreadedRunner(num_workers=workers))
        context = self.context if sink is None else dataclasses.replace(self.context, sink=sink)
        nr.run(
            task=self.opts.task,
            name=self.opts.job,
            on_failed=True,
            context=context,
            **self.opts.kwargs,
        )

    def close_local(self) -> None:
        """What this process holds of the clusters it worked: journals, transcripts, locks."""
        self.context.journal.close()
        if self.context.transcripts is not None:
            self.context.transcripts.close()
        self.context.locks.release_all()

    # windows --------------------------------------------------------------------------
    def _await_window(self, task: Task, run: ClusterRun) -> None:
        """Start only inside the cluster's window, and only if the ICU fits before its end."""
        host = task.host
        window = self.opts.window
        if window is None and host.get("window") is not None:
            window = parse_window(host.get("window"), host.get("timezone"))
        if window is None:
            return
        if self.opts.window is not None and not window.zoned and host.get("timezone"):
            window = parse_window(window.text, host.get("timezone"))  # naive: the site's zone
        needed, basis = 0.0, ""
        if self.opts.job == "upgrade":
            family = model_family(str(host.get("model") or ""))
            needed, basis = icu_estimate(family, self.icu_history, run.timing.icu_estimate)
            run.icu_estimate = (needed, basis)
        while True:
            now = datetime.now(UTC)
            reason, wait = fit_reason(window, now, needed, basis)
            if reason is None:
                occ = window.open_now(now)
                run.window_end = occ[1].timestamp() if occ else None
                return
            if not self.opts.wait_for_window or wait == float("inf"):
                raise NotStarted(reason)
            run.gate.check()
            note = run.event(EventKind.NOTE, message=f"waiting: {reason}")
            run.context.sink.event(note, quiet=True)
            time.sleep(min(wait, 1.0))  # re-check the halt flag at least every second

    # interrupts -----------------------------------------------------------------------
    def _install_signals(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, self._on_signal)
        for signum in signals.take_pending():  # came before there was a runner
            self._on_signal(signum, None)

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        del frame
        self._signals += 1
        gate = self.context.gate
        if self._signals == 1:
            gate.halt("interrupted before start")
            how = self.opts.policy.get("on_interrupt", "finish")
            if how == "ask" and sys.stdin.isatty():
                threading.Thread(target=self._ask, daemon=True).start()
                how = "finish"
            how = how if how in ("abort", "finish") else "finish"
            sys.stderr.write(
                f"\n{signal.Signals(signum).name}: no new clusters will start; in-flight ones "
                f"will {'be aborted' if how == 'abort' else 'finish'}. Again to stop now.\n"
            )
            gate.interrupt(how)
            return
        sys.stderr.write("stopping now; the journal keeps every cluster's progress\n")
        if self.pool is not None:
            self.pool.kill()
        for name in self.fleet.names:
            if name in self.view.started:
                stopped = Outcome(
                    "failed",
                    "unknown",
                    {},
                    "run stopped while this cluster was in flight; re-run with --resume to "
                    "re-attach",
                )
            else:
                stopped = Outcome("not-started", "unknown", {}, "run stopped before it")
            self.view.settle(name, stopped)
        self.report.finished = now_iso()
        self.view.write_report()
        self.context.journal.close()
        self.report.write_html()  # --html, as the JSON report: also when stopped now
        os._exit(130)

    def _ask(self) -> None:
        try:
            self.view.progress.stop()
            answer = input("Abort the in-flight ICUs (abort, recover if left inconsistent)? [y/N] ")
        except EOFError:
            return
        if answer.strip().lower() in ("y", "yes"):
            self.context.gate.interrupt("abort")
