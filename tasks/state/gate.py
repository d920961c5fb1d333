"""Fleet policy every cluster of a run obeys: in-flight slots, failure budget, halt, interrupt.

`FleetGate` is the interface the plans and the executor use. `SharedGate` lives in fork-shared
memory, so the cluster threads of every worker process of a run (runbooks.fleet.shards) see one
gate; with no limits it is also what a user's own Nornir script gets.
"""

from __future__ import annotations

import ctypes
import multiprocessing
import os
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any, Protocol


class NotStarted(Exception):
    """The fleet gate will not let this cluster start (halted, canary failed, window...)."""


class FleetGate(Protocol):
    @property
    def halted(self) -> str | None: ...

    @property
    def failures(self) -> int: ...

    @property
    def interrupt_action(self) -> str:
        """What in-flight clusters do on interrupt: finish, or abort."""
        ...

    def interrupted(self) -> bool: ...

    def interrupt(self, how: str) -> None: ...

    def halt(self, reason: str) -> None: ...

    def check(self) -> None:
        """Raise NotStarted once the fleet is halted."""
        ...

    def slot(self) -> AbstractContextManager[None]:
        """Hold one in-flight slot while a cluster changes; refuse once halted."""
        ...

    def record(self, outcome: str) -> None:
        """Count a cluster's outcome against the failure budget."""
        ...

    def reclaim(self, pid: int) -> int:
        """Free the in-flight slots a dead worker process `pid` held; how many it held."""
        ...


# Fork, not spawn: worker processes are forked from the loaded, validated run.
_MP = multiprocessing.get_context("fork")
_ACTIONS = ("finish", "abort")


class SharedGate:
    def __init__(self, *, max_in_flight: int | None = None, max_failures: int | None = None):
        self._lock = _MP.RLock()  # writers only; re-entrant: halt() may run in a signal handler
        # raw shared ctypes (the stubs type them poorly: Any). An in-flight slot is a cell
        # holding the PID of the process whose cluster holds it, not a semaphore: a worker
        # process killed mid-ICU never releases what it holds, and the main process must be
        # able to give its slots back (reclaim) or every other process would wait forever.
        # No lock-based primitive is read on the hot path either (a multiprocessing Event
        # takes a lock to read: a process killed holding it would freeze every reader).
        self._holders: Any = _MP.RawArray(ctypes.c_int, max_in_flight) if max_in_flight else None
        self._halted: Any = _MP.RawArray(ctypes.c_char, 1024)
        self._failures: Any = _MP.RawValue(ctypes.c_int, 0)
        self._action: Any = _MP.RawValue(ctypes.c_int, 0)
        self._interrupted: Any = _MP.RawValue(ctypes.c_int, 0)
        self.max_failures = max_failures

    @property
    def failures(self) -> int:
        return int(self._failures.value)

    @property
    def halted(self) -> str | None:
        return self._halted.value.decode(errors="replace") or None

    @property
    def interrupt_action(self) -> str:
        return _ACTIONS[self._action.value]

    def interrupted(self) -> bool:
        return bool(self._interrupted.value)

    def interrupt(self, how: str) -> None:
        self._action.value = _ACTIONS.index(how if how in _ACTIONS else "finish")
        self._interrupted.value = 1

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
        self.check()
        if self._holders is None:
            yield
            return
        while (cell := self._take()) is None:
            time.sleep(0.2)
            self.check()
        try:
            self.check()
            yield
        finally:
            with self._writing():
                self._holders[cell] = 0

    def _take(self) -> int | None:
        with self._writing():
            for i in range(len(self._holders)):
                if self._holders[i] == 0:
                    self._holders[i] = os.getpid()
                    return i
        return None

    def reclaim(self, pid: int) -> int:
        if self._holders is None:
            return 0
        freed = 0
        with self._writing():
            for i in range(len(self._holders)):
                if self._holders[i] == pid:
                    self._holders[i] = 0
                    freed += 1
        return freed

    def record(self, outcome: str) -> None:
        """Counted in the process that worked the cluster: its next cluster must already see
        the halt."""
        with self._writing():
            if outcome == "failed":
                self._failures.value += 1
                if self.max_failures is not None and self.failures > self.max_failures:
                    self.halt(
                        f"halted: {self.failures} failures exceed "
                        f"--max-failures {self.max_failures}"
                    )
