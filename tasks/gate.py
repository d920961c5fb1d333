"""Fleet policy every cluster of a run obeys: in-flight slots, failure budget, halt, interrupt.

`FleetGate` is the interface the plans and the executor use. `SharedGate` lives in fork-shared
memory, so the cluster threads of every worker process of a run (runbooks.shards) see one
gate; with no limits it is also what a user's own Nornir script gets.
"""

from __future__ import annotations

import ctypes
import multiprocessing
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


# Fork, not spawn: worker processes are forked from the loaded, validated run.
_MP = multiprocessing.get_context("fork")
_ACTIONS = ("finish", "abort")


class SharedGate:
    def __init__(self, *, max_in_flight: int | None = None, max_failures: int | None = None):
        self._slots = _MP.BoundedSemaphore(max_in_flight) if max_in_flight else None
        self._lock = _MP.RLock()  # writers only; re-entrant: halt() may run in a signal handler
        # raw shared ctypes (the stubs type them poorly: Any)
        self._halted: Any = _MP.RawArray(ctypes.c_char, 1024)
        self._failures: Any = _MP.RawValue(ctypes.c_int, 0)
        self._action: Any = _MP.RawValue(ctypes.c_int, 0)
        self._interrupted = _MP.Event()
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
        return self._interrupted.is_set()

    def interrupt(self, how: str) -> None:
        self._action.value = _ACTIONS.index(how if how in _ACTIONS else "finish")
        self._interrupted.set()

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
