"""What a per-cluster plan works with: the run's shared services (RunContext) and its own
view of the run (ClusterRun: timing, history, options, events out), and how it ends (Outcome).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from tasks.errors import RunbookError
from tasks.events import Event, EventKind
from tasks.state.clock import SYSTEM_CLOCK, Clock
from tasks.state.gate import FleetGate
from tasks.state.journal import Journal
from tasks.state.locks import AbortRequest, ClusterLocks
from tasks.state.settings import Timing
from tasks.state.transcripts import Recorder, Transcripts
from tasks.vocabulary import GOOD_OUTCOMES

if TYPE_CHECKING:
    from nornir.core.task import Task

# Events that mean this run changed a device (the Nornir Result's `changed`).
_CHANGES = (EventKind.COMMAND, EventKind.ICU_SENDING, EventKind.RECOVER_SENDING)
# Events a run that took an abort request passes on to the run that asked (its progress).
_TOLD = {
    EventKind.COMMAND: "sending",
    EventKind.ABORT_SENT: "abort sent",
    EventKind.ICU_ENDED: "ICU ended",
    EventKind.RECOVER_SENDING: "recovering",
    EventKind.RECOVER_DONE: "recovered",
}


class TakenOver(RunbookError):
    """Another run fenced this one off the cluster (an abort this run did not answer in
    time): nothing more may be sent from here."""


@dataclass
class Outcome:
    """How one cluster ended this run (its report entry and the Nornir Result's data)."""

    outcome: str  # ok | skipped | failed | not-started | would-* | refused | locked | ...
    state: str
    versions: dict[str, str | None]
    detail: str
    # Not in the repr: print_result shows an Outcome, and extra holds every check and the
    # service snapshots (read it as outcome.extra).
    extra: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def good(self) -> bool:
        return self.outcome in GOOD_OUTCOMES

    def brief(self) -> str:
        """One line: what print_result shows of a step that ended the plan."""
        return f"{self.outcome} ({self.state}): {self.detail}"


class Sink(Protocol):
    """Where a run's events and outcomes go once journaled: the operator's view in the main
    process, the line to it from a worker process, or a log in a user's own script."""

    def event(self, event: Event, *, quiet: bool = False) -> None: ...

    def finished(self, cluster: str, outcome: Outcome, event: Event, *, published: bool) -> None:
        """A cluster's outcome; `published` False for one that is not this run's news."""
        ...


BeforeStart = Callable[["Task", "ClusterRun"], None]  # may raise NotStarted (windows)


@dataclass
class RunContext:
    """The services every cluster of one run shares."""

    run_id: str
    state_dir: Path
    journal: Journal
    locks: ClusterLocks
    gate: FleetGate
    sink: Sink
    transcripts: Transcripts | None = None
    timing_defaults: dict[str, Any] = field(default_factory=dict)  # config user_defined.timing
    before_start: BeforeStart | None = None
    windowed: bool = True  # abort is an emergency action: never held back by a window
    policy: dict[str, Any] = field(default_factory=dict)  # fleet options (at_window_end, ...)
    # What the plans read and wait by (tasks.state.clock): the system clock unless a test or a
    # simulation gives a virtual one.
    clock: Clock = SYSTEM_CLOCK
    # Where the plans get their node sessions (tasks.device.rpc.Devices; typed loosely: the
    # run state sits below the device layer). None: napalm/PyEZ (tasks.device.connections).
    devices: Any = None


@dataclass
class ClusterRun:
    """Everything a plan needs about the run it belongs to, for one cluster."""

    cluster: str
    job: str
    context: RunContext
    timing: Timing
    dry_run: bool
    history: list[dict[str, Any]] = field(default_factory=list)  # earlier records, oldest first
    options: dict[str, Any] = field(default_factory=dict)
    transcript: Recorder | None = None  # (node, direction, text)
    started: float = -1.0  # the clock's monotonic time the run of this cluster began
    window_end: float | None = None  # epoch seconds the cluster's maintenance window closes
    # the window fit's ICU figure and its basis (the runner's: past ICUs of the model, else
    # timing.icu_estimate); a plan with other hops judges its whole way once it observed
    icu_estimate: tuple[float, str] | None = None
    changed: bool = False  # a destructive command left for this cluster in this run
    sent: int = 0  # how many (a step is `changed` when it went up while the step ran)
    device: str = ""  # the device key the cluster is locked by (tasks.state.locks.device_key)
    request: AbortRequest | None = None  # an abort another run asked of this one, once taken
    window_told: bool = False  # the window-ended event went out
    # This run's steps, in order: {"phase": step name, "start", "end": epoch seconds}. A step
    # inside another splits it (the outer step goes on after it); the report's `timeline`.
    timeline: list[dict[str, Any]] = field(default_factory=list)
    _steps: list[str] = field(default_factory=list, init=False, repr=False)  # open, outermost first

    def __post_init__(self) -> None:
        if self.started < 0:
            self.started = self.context.clock.monotonic()

    @property
    def run_id(self) -> str:
        return self.context.run_id

    @property
    def clock(self) -> Clock:
        return self.context.clock

    @property
    def gate(self) -> FleetGate:
        return self.context.gate

    def window_closed(self) -> bool:
        return self.window_end is not None and self.clock.time() >= self.window_end

    def abort_reason(self) -> str | None:
        """Why an in-flight ICU must now be aborted (an abort asked by another run, an
        interrupt or the window's end), else None."""
        if self.request is None and not self.dry_run:
            self.request = self.context.locks.abort_requested(self.cluster)
        if self.request is not None:
            return f"abort requested by {self.request.who()}"
        if self.gate.interrupted() and self.gate.interrupt_action == "abort":
            return "interrupted"
        if self.window_closed():
            self._tell_window_ended()
            if self.options.get("at_window_end") == "abort":
                return "maintenance window ended"
        return None

    def _tell_window_ended(self) -> None:
        """Once per cluster: its window closed while it was in flight (the team is told)."""
        if self.window_told:
            return
        self.window_told = True
        how = str(self.options.get("at_window_end") or "finish")
        self.context.sink.event(self.event(EventKind.WINDOW_ENDED, at_window_end=how))

    def tell_busy(self, what: str) -> None:
        """An abort asked while this run waits on something it does not interrupt (the
        verification, an abort's landing, a recovery step): the asking run is told, so it
        waits for the verdict instead of taking the cluster over."""
        if self.dry_run or not self.device or self.request is not None:
            return
        asked = self.context.locks.abort_requested(self.cluster)
        if asked is not None:
            self.request = asked
            note = f"busy until {what}; the abort is answered at the end of it"
            self.context.locks.answer(self.cluster, stage="acting", note=note)

    def pause(self, seconds: float) -> None:
        """Wait between two polls; an abort asked by another run ends the wait at once. Under
        a virtual clock an abort already asked ends it (nothing waits for real); one asked
        during the wait is seen at the next poll (abort_reason)."""
        if self.dry_run or not self.device:
            self.clock.sleep(seconds)
        elif self.clock.real:
            self.context.locks.wait_for_request(self.cluster, seconds)
        elif self.context.locks.abort_requested(self.cluster) is None:
            self.clock.sleep(seconds)

    def event(self, kind: EventKind, **data: Any) -> Event:
        return Event(self.clock.time(), self.run_id, self.job, self.cluster, kind, data)

    def emit(self, kind: EventKind, **data: Any) -> None:
        """Journal first (a dry run leaves nothing to misread), then the run's sink. A
        durable record (the intent before a destructive command) is refused once another
        run took the cluster over, so nothing leaves after that."""
        event = self.event(kind, **data)
        if not self.dry_run:
            if kind.durable:
                taken = self.context.locks.fenced_off(self.cluster)
                if taken:
                    raise TakenOver(f"{taken}; nothing more is sent from this run", step=kind)
            self.context.journal.write(event)
            self.history.append(event.to_json())
        if kind in _CHANGES:
            self.changed = True
            self.sent += 1
        self.context.sink.event(event)
        if self.request is not None and kind in _TOLD:
            said = data.get("command") or data.get("how") or data.get("reply") or ""
            self.context.locks.answer(
                self.cluster, stage="acting", note=f"{_TOLD[kind]}: {said}".rstrip(": ")
            )

    def last(
        self, kind: EventKind, *, job: str | None = None, **match: Any
    ) -> dict[str, Any] | None:
        """The newest earlier journal record of `kind` (optionally of a job / matching fields)."""
        for rec in reversed(self.history):
            if rec.get("event") != kind or (job and rec.get("job") != job):
                continue
            if all(rec.get(k) == v for k, v in match.items()):
                return rec
        return None

    def elapsed(self) -> float:
        return self.clock.monotonic() - self.started

    def step_began(self, name: str) -> None:
        """A plan step starts (tasks.plans.steps): the step it runs inside pauses."""
        now = self.clock.time()
        self._close_segment(now)
        self._steps.append(name)
        self.timeline.append({"phase": name, "start": round(now, 3), "end": None})

    def step_ended(self) -> None:
        """The innermost open step ended: the step it ran inside goes on."""
        now = self.clock.time()
        self._close_segment(now)
        if self._steps:
            self._steps.pop()
        if self._steps:  # marked: dropped if it ends at once (the outer step ends too)
            resumed = {"phase": self._steps[-1], "start": round(now, 3), "end": None}
            self.timeline.append({**resumed, "resumed": True})

    def _close_segment(self, now: float) -> None:
        if not self.timeline or self.timeline[-1]["end"] is not None:
            return
        last = self.timeline[-1]
        last["end"] = max(round(now, 3), last["start"])
        if last.pop("resumed", False) and last["end"] - last["start"] < 0.001:
            self.timeline.pop()

    def timeline_so_far(self) -> list[dict[str, Any]]:
        """The timeline with any step still open ended now (a plan that raised)."""
        self._close_segment(self.clock.time())
        return [dict(s) for s in self.timeline]
