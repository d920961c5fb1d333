"""The clock a plan reads and waits by, carried by its run's context (RunContext.clock).

`SystemClock` is the real one (the default: the CLI, the Celery engine and a user's own
script never see anything else). `VirtualClock` is time a test or a simulation moves by
itself: nothing waits for real, and a whole ICU (about 52 simulated minutes) passes in a
few milliseconds when the devices answer in-process (simulator/inprocess.py).

Threads. A plan that runs something in a thread of its own (the ICU RPC, whose reply may
never come: tasks.plans.upgrade.IcuCall) starts and joins it through the clock:
`clock.start(thread)`, `clock.join(thread, timeout)`. The system clock does what
`thread.start()` and `thread.join(timeout)` do. Under a virtual clock such a thread is a
*participant*: whatever it waits for, it waits for with `clock.park(ready, deadline)`
(the in-process device parks an RPC whose reply has not come). The thread that runs the
plan is the *driver*: only it moves the time (`sleep`), and each move waits, in real time,
until every participant has looked at the new time and parked again or ended. So the order
of everything is fixed by the virtual time alone: a run under a virtual clock is
deterministic, and replays exactly. A driver that parks (an RPC of its own that gets no
reply) moves the time itself, to its deadline: nobody else would.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Protocol


class Clock(Protocol):
    """What the plans know of time: epoch seconds, a monotonic count, a wait, and the
    threads of a plan (see the module's docstring)."""

    real: bool  # True: time passes by itself (waits may be cut short by other events)

    def time(self) -> float: ...

    def monotonic(self) -> float: ...

    def sleep(self, seconds: float) -> None: ...

    def start(self, thread: threading.Thread) -> None: ...

    def join(self, thread: threading.Thread, timeout: float | None = None) -> None: ...


class SystemClock:
    """The real clock: time.time, time.monotonic, time.sleep, real threads."""

    real = True

    def time(self) -> float:
        return time.time()

    def monotonic(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)

    def start(self, thread: threading.Thread) -> None:
        thread.start()

    def join(self, thread: threading.Thread, timeout: float | None = None) -> None:
        thread.join(timeout)


SYSTEM_CLOCK = SystemClock()

EPOCH = 1_767_225_600.0  # 2026-01-01 00:00:00 UTC: where a virtual clock starts by default


class VirtualClock:
    """Time that moves only when the run's driver waits (sleep), or when it waits for a
    reply that never comes (park). Deterministic: see the module's docstring."""

    real = False

    def __init__(self, start: float = EPOCH) -> None:
        self._now = float(start)
        self._start = float(start)
        self._cond = threading.Condition()
        self._threads: set[threading.Thread] = set()  # participants still alive
        self._parked: dict[threading.Thread, int] = {}  # participant -> generation it saw
        self._generation = 0
        self._closed = False
        self.moves = 0  # how many times the time moved (a measure of a run's waits)

    # reading --------------------------------------------------------------------------
    def time(self) -> float:
        return self._now

    def monotonic(self) -> float:
        return self._now - self._start

    # the driver -----------------------------------------------------------------------
    def sleep(self, seconds: float) -> None:
        """The time moves on by `seconds`; returns once every participant has seen it."""
        with self._cond:
            self._advance(max(0.0, float(seconds)))

    def _advance(self, seconds: float) -> None:
        self._now += seconds
        self._generation += 1
        self.moves += 1
        self._cond.notify_all()
        self._settle()

    def _settle(self) -> None:
        """Wait (real time) until every participant is parked on this generation or ended."""
        while not self._closed and any(
            self._parked.get(t) != self._generation for t in self._threads if t.is_alive()
        ):
            self._cond.wait(1.0)

    def start(self, thread: threading.Thread) -> None:
        """Start a participant; returns once it has parked or ended."""
        body = thread.run

        def run() -> None:
            try:
                body()
            finally:
                with self._cond:
                    self._threads.discard(thread)
                    self._parked.pop(thread, None)
                    self._cond.notify_all()

        thread.run = run  # type: ignore[method-assign]
        with self._cond:
            self._threads.add(thread)
        thread.start()
        with self._cond:
            self._settle()

    def join(self, thread: threading.Thread, timeout: float | None = None) -> None:
        """thread.join(timeout) in virtual time: a participant still parked when it is
        joined keeps the driver waiting `timeout` virtual seconds (the time moves on)."""
        with self._cond:
            self._settle()
            if thread in self._threads and timeout:
                self._advance(float(timeout))
        if timeout is None:
            thread.join()

    # anyone ---------------------------------------------------------------------------
    def park(
        self,
        ready: Callable[[], bool],
        deadline: float,
        wake: Callable[[], float | None] | None = None,
    ) -> bool:
        """Wait until `ready()` (True) or the virtual `deadline` (False). A participant
        waits for the driver to move the time; the driver moves it itself: to the deadline,
        or first to `wake()`, the next time the awaited thing may change (None: unknown)."""
        me = threading.current_thread()
        with self._cond:
            while True:
                if ready():
                    self._parked.pop(me, None)
                    return True
                if self._closed or self._now >= deadline:
                    self._parked.pop(me, None)
                    return False
                if me not in self._threads:  # the driver: nobody else moves the time
                    due = wake() if wake is not None else None
                    until = deadline if due is None or not self._now < due < deadline else due
                    self._advance(until - self._now)
                    continue
                self._parked[me] = self._generation
                self._cond.notify_all()
                self._cond.wait()

    def close(self) -> None:
        """End every wait: parked participants see their deadline (a run's end)."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
