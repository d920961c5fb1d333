"""Worker processes for big fleets (`--processes N`).

A fleet start is CPU-bound (SSH set-ups, RPC replies) and one Python process uses one core:
measured with 500 clusters on 2 cores, one process spread the ICU sends over 21 s, four
processes over 6 s. So a run is forked N times once it is loaded and validated, before any
thread or connection exists. Each worker process works its share of the clusters with its
own Nornir thread pool, and locks, journals and transcribes them itself (one writer per
cluster). Everything else happens in the main process, which is the run as an operator sees
it: progress, report, --events, log, the failure budget, signals. Workers forward every
event and outcome to it, ignore SIGINT/SIGTERM (the main process decides what an interrupt
means) and die with it. Halt, in-flight slots and interrupt live in fork-shared memory
(tasks.state.gate.SharedGate).
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import logging
import math
import os
import signal
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing import connection
from typing import TYPE_CHECKING, Any

from runbooks.fleet.lost_work import LostWork
from tasks.events import Event, EventKind
from tasks.state.gate import FleetGate
from tasks.state.run_context import Outcome, Sink

if TYPE_CHECKING:
    from runbooks.output.sinks import FleetView

# work(names, threads, sink): run these clusters in this process, outcomes to `sink`
Work = Callable[[list[str], int, Sink], None]

log = logging.getLogger(__name__)

CLUSTERS_PER_PROCESS = 100  # below this one process is as fast: forking costs more than it gains
PR_SET_PDEATHSIG = 1
LOCAL_LOSS = LostWork(
    attempts=1
)  # a cluster of a dead process ends the run (runbooks.fleet.lost_work)
STOP_WAIT = 30.0  # seconds a worker has to close its journals and locks once told to exit


def auto_processes(clusters: int, workers: int) -> int:
    """One process per CLUSTERS_PER_PROCESS clusters, at most two per core and one per worker."""
    cores = os.cpu_count() or 1
    wanted = math.ceil(clusters / CLUSTERS_PER_PROCESS)
    return max(1, min(wanted, 2 * cores, workers, clusters))


class ShardLink:
    """A worker process's sink: its line to the main process (its cluster threads share it)."""

    def __init__(self, conn: connection.Connection) -> None:
        self._conn = conn
        self._lock = threading.Lock()

    def event(self, event: Event, *, quiet: bool = False) -> None:
        self._send(("event", event, quiet))

    def finished(self, cluster: str, outcome: Outcome, event: Event, *, published: bool) -> None:
        self._send(("finished", cluster, outcome, event, published))

    def send_ran(self) -> None:
        """Every cluster of the last `run` message has its outcome sent."""
        self._send(("ran",))

    def _send(self, message: tuple[Any, ...]) -> None:
        with self._lock:
            self._conn.send(message)


@dataclass
class _Worker:
    pid: int
    conn: connection.Connection
    assigned: set[str] = field(default_factory=set)  # clusters it holds without an outcome
    alive: bool = True
    status: str | None = None  # how it ended, once reaped


class Shards:
    """The worker processes of one run, driven from the main process's main thread. It sees
    only what each process works (`work`), the main process's sink (`view`) and the gate."""

    def __init__(
        self,
        work: Work,
        view: FleetView,
        gate: FleetGate,
        count: int,
        workers: int,
        close_local: Callable[[], None],
    ) -> None:
        self.view, self.gate = view, gate
        self.workers: list[_Worker] = []
        per_process = max(1, math.ceil(workers / count))
        main = os.getpid()
        gc.freeze()  # what was loaded stays shared: no collection in a worker copies it
        for _ in range(count):
            ours, theirs = connection.Pipe()
            pid = os.fork()
            if pid == 0:  # the worker process: never returns
                ours.close()
                for other in self.workers:
                    other.conn.close()
                _work(work, close_local, theirs, per_process, main)
            theirs.close()
            self.workers.append(_Worker(pid, ours))

    def run(self, names: list[str]) -> None:
        """Work `names` (shared out by turns) and return when every worker has done its part."""
        busy: dict[connection.Connection, _Worker] = {}
        live = [w for w in self.workers if w.alive]
        if not live:  # every worker died earlier in this run (in the canary, say)
            self._orphaned(names, "no worker process left")
            return
        for i, worker in enumerate(live):
            part = names[i :: len(live)]
            if not part:
                continue
            worker.assigned.update(part)
            try:
                worker.conn.send(("run", part))
            except OSError:
                self._lost(worker)
                continue
            busy[worker.conn] = worker
        while busy:
            ready = connection.wait(list(busy), timeout=1.0)
            for conn in ready:
                worker = busy[conn]  # type: ignore[index]
                try:
                    message = worker.conn.recv()
                except (EOFError, OSError):
                    del busy[worker.conn]
                    self._lost(worker)
                    continue
                if message[0] == "ran":
                    del busy[worker.conn]
                else:
                    self._deliver(worker, message)
            if not ready:  # quiet for a second: is every busy worker still there?
                for worker in [w for w in busy.values() if self._exited(w)]:
                    self._drain(worker)
                    del busy[worker.conn]
                    self._lost(worker)

    def _drain(self, worker: _Worker) -> None:
        """What a worker that exited had sent before it died still counts."""
        with contextlib.suppress(EOFError, OSError):
            while worker.conn.poll(0):
                message = worker.conn.recv()
                if message[0] != "ran":
                    self._deliver(worker, message)

    def _deliver(self, worker: _Worker, message: tuple[Any, ...]) -> None:
        if message[0] == "event":
            _, event, quiet = message
            self.view.event(event, quiet=quiet)
        elif message[0] == "finished":
            _, name, outcome, event, published = message
            worker.assigned.discard(name)
            self.view.finished(name, outcome, event, published=published)

    def _lost(self, worker: _Worker) -> None:
        """A worker process died: every cluster it held ends this run in a named state. The
        journal is left as the worker wrote it, so the next run re-attaches where it was."""
        worker.alive = False
        status = self._reap(worker)
        freed = self.gate.reclaim(worker.pid)  # the in-flight slots its clusters held
        log.error(
            "run %s: worker process %d died (%s; %d in-flight slots freed)",
            self.view.report.run_id,
            worker.pid,
            status,
            freed,
        )
        self._orphaned(sorted(worker.assigned), f"worker process died ({status})")
        worker.assigned.clear()

    def _orphaned(self, names: list[str], why: str) -> None:
        for name in names:  # never worked again in this run (LOCAL_LOSS: one attempt)
            outcome = LOCAL_LOSS.ended(name, why, in_flight=name in self.view.started)
            report = self.view.report
            event = Event(
                time.time(),
                report.run_id,
                report.job,
                name,
                EventKind.CLUSTER_FINISHED,
                {"outcome": outcome.outcome, "state": outcome.state, "detail": outcome.detail},
            )
            self.gate.record(outcome.outcome)
            self.view.finished(name, outcome, event, published=True)

    @staticmethod
    def _exited(worker: _Worker) -> bool:
        """Reap `worker` if it has exited (its pipe may outlive it); True once it has."""
        if worker.status is not None:
            return True
        try:
            pid, status = os.waitpid(worker.pid, os.WNOHANG)
        except ChildProcessError:
            worker.status = "no exit status"
            return True
        if not pid:
            return False
        if os.WIFSIGNALED(status):
            worker.status = f"killed by {signal.Signals(os.WTERMSIG(status)).name}"
        else:
            worker.status = f"exit code {os.waitstatus_to_exitcode(status)}"
        return True

    def _reap(self, worker: _Worker, wait: float = 5.0) -> str:
        end = time.monotonic() + wait
        while not self._exited(worker) and time.monotonic() < end:
            time.sleep(0.05)
        return worker.status or "no exit status"

    def stop(self, wait: float = STOP_WAIT) -> None:
        """Let every worker close its journals and locks and exit; wait for them, and kill
        one that does not exit within `wait` seconds (a run always ends)."""
        for worker in self.workers:
            if worker.alive:
                with contextlib.suppress(OSError):
                    worker.conn.send(("exit",))
        end = time.monotonic() + wait
        for worker in self.workers:
            while not self._exited(worker) and time.monotonic() < end:
                time.sleep(0.05)
            if not self._exited(worker):
                log.error("worker process %d did not exit: killed", worker.pid)
                with contextlib.suppress(ProcessLookupError):
                    os.kill(worker.pid, signal.SIGKILL)
                self._reap(worker)
            worker.alive = False
            worker.conn.close()

    def kill(self) -> None:
        """Stop at once (a second Ctrl-C): the journals let the next run re-attach."""
        for worker in self.workers:
            with contextlib.suppress(ProcessLookupError):
                os.kill(worker.pid, signal.SIGKILL)


def _work(
    work: Work,
    close_local: Callable[[], None],
    conn: connection.Connection,
    workers: int,
    main: int,
) -> None:
    """A worker process's whole life: run what it is given until told to exit."""
    code = 0
    try:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        _die_with(main)
        link = ShardLink(conn)
        while True:
            message = conn.recv()
            if message[0] != "run":
                break
            work(message[1], workers, link)
            link.send_ran()
    except EOFError:
        code = 0  # the main process is gone: nothing left to report to
    except BaseException:
        traceback.print_exc()
        code = 70
    finally:
        with contextlib.suppress(Exception):
            close_local()
        os._exit(code)


def _die_with(main: int) -> None:
    """SIGKILL this worker when the main process dies, however it dies (Linux)."""
    with contextlib.suppress(Exception):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != main:  # it died before the request took effect
        os._exit(0)
