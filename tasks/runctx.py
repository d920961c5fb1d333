"""What a per-cluster plan gets from the runner: events out, journal history in, fleet gate."""

from __future__ import annotations

import ctypes
import multiprocessing
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from tasks.settings import Timing


@dataclass(frozen=True)
class Event:
    ts: float
    run_id: str
    job: str
    cluster: str
    kind: str  # step, check, phase, command, cluster-finished, note
    data: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {
            "ts": round(self.ts, 3),
            "run_id": self.run_id,
            "job": self.job,
            "cluster": self.cluster,
            "event": self.kind,
            **self.data,
        }


@dataclass
class Outcome:
    """How one cluster ended this run (becomes its report entry)."""

    outcome: str  # ok | skipped | failed | not-started | inconsistent | refused | locked
    state: str
    versions: dict[str, str | None]
    detail: str
    extra: dict[str, Any] = field(default_factory=dict)


class NotStarted(Exception):
    """The fleet gate will not let this cluster start (halted, canary failed, window...)."""


# Fork, not spawn: worker processes are forked from the loaded, validated run (runbooks.shards).
_MP = multiprocessing.get_context("fork")
_ACTIONS = ("finish", "abort")


class FleetGate:
    """Fleet policy shared by every cluster thread and every worker process of a run (it lives
    in fork-shared memory): in-flight slots, failure budget, halt, interrupt."""

    def __init__(self, *, max_in_flight: int | None = None, max_failures: int | None = None):
        self._slots = _MP.BoundedSemaphore(max_in_flight) if max_in_flight else None
        self._lock = _MP.RLock()  # writers only; re-entrant: halt() may run in a signal handler
        # raw shared ctypes (the stubs type them poorly: Any)
        self._halted: Any = _MP.RawArray(ctypes.c_char, 1024)
        self._failures: Any = _MP.RawValue(ctypes.c_int, 0)
        self._action: Any = _MP.RawValue(ctypes.c_int, 0)
        self.max_failures = max_failures
        self.interrupted = _MP.Event()

    @property
    def failures(self) -> int:
        return int(self._failures.value)

    @property
    def halted(self) -> str | None:
        return self._halted.value.decode(errors="replace") or None

    @contextmanager
    def _writing(self) -> Iterator[None]:
        """The writers' lock. A worker process killed while holding it (SIGKILL in the
        microseconds it is held) must not freeze the fleet: after a while, go on without."""
        held = self._lock.acquire(timeout=2.0)
        try:
            yield
        finally:
            if held:
                self._lock.release()

    @property
    def interrupt_action(self) -> str:
        """What in-flight clusters do on interrupt: finish, or abort."""
        return _ACTIONS[self._action.value]

    @interrupt_action.setter
    def interrupt_action(self, how: str) -> None:
        self._action.value = _ACTIONS.index(how)

    def halt(self, reason: str) -> None:
        with self._writing():
            if self.halted is None:
                self._halted.value = reason.encode()[:1023]

    def check(self) -> None:
        halted = self.halted
        if halted:
            raise NotStarted(halted)

    @contextmanager
    def slot(self) -> Iterator[None]:
        """Hold one in-flight slot while a cluster changes; refuse once the fleet is halted."""
        self.check()
        if self._slots is None:
            yield
            return
        while not self._slots.acquire(timeout=0.2):
            self.check()
        try:
            self.check()
            yield
        finally:
            self._slots.release()

    def record(self, outcome: str) -> None:
        """Count a cluster's outcome against the budget, in the process that worked it: its
        next cluster must already see the halt."""
        with self._writing():
            if outcome == "failed":
                self._failures.value += 1
                if self.max_failures is not None and self.failures > self.max_failures:
                    self.halt(
                        f"halted: {self.failures} failures exceed "
                        f"--max-failures {self.max_failures}"
                    )


@dataclass
class ClusterRun:
    """Everything a plan needs about the run it belongs to, for one cluster."""

    cluster: str
    job: str
    run_id: str
    timing: Timing
    dry_run: bool
    history: list[dict[str, Any]]  # this cluster's earlier journal records, oldest first
    sink: Callable[[Event], None]
    gate: FleetGate
    options: dict[str, Any] = field(default_factory=dict)
    transcript: Callable[[str, str, str], None] | None = None  # (node, direction, text)
    started: float = field(default_factory=time.monotonic)
    window_end: float | None = None  # epoch seconds the cluster's maintenance window closes

    def window_closed(self) -> bool:
        return self.window_end is not None and time.time() >= self.window_end

    def abort_reason(self) -> str | None:
        """Why an in-flight ICU must now be aborted (interrupt or window end), else None."""
        if self.gate.interrupted.is_set() and self.gate.interrupt_action == "abort":
            return "interrupted"
        if self.window_closed() and self.options.get("at_window_end") == "abort":
            return "maintenance window ended"
        return None

    def emit(self, kind: str, **data: Any) -> None:
        self.sink(Event(time.time(), self.run_id, self.job, self.cluster, kind, data))

    def last(self, kind: str, *, job: str | None = None, **match: Any) -> dict[str, Any] | None:
        """The newest earlier journal record of `kind` (optionally of a job / matching fields)."""
        for rec in reversed(self.history):
            if rec.get("event") != kind or (job and rec.get("job") != job):
                continue
            if all(rec.get(k) == v for k, v in match.items()):
                return rec
        return None

    def elapsed(self) -> float:
        return time.monotonic() - self.started
