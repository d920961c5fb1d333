"""Where a run keeps its state, and the one factory that builds a run's RunContext from it.

A backend gives the three shared services of tasks.state.run_context: the journal, the
cluster locks and the fleet gate. Two exist:

* `LocalBackend`: files under the state directory (tasks.state.journal, tasks.state.locks)
  and a gate in fork-shared memory (tasks.state.gate): the local engine, `status`, and a
  user's own `nr.run(task=srx_...)`.
* `RedisBackend` (tasks.state.redis_store): the Redis store of `--engine celery`, one cluster
  per job: fenced lease, conditional journal writes, the fleet's in-flight set.

Every RunContext of the code is built by `build_context`, so a third backend is one class.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from tasks.state.clock import SYSTEM_CLOCK, Clock
from tasks.state.gate import FleetGate, SharedGate
from tasks.state.journal import Journal, LocalJournal
from tasks.state.locks import ClusterLocks, FlockLocks
from tasks.state.run_context import BeforeStart, RunContext, Sink
from tasks.state.transcripts import Transcripts


class Backend(Protocol):
    """The journal, locks and gate of one run."""

    def locks(self, run_id: str) -> ClusterLocks: ...

    def journal(self, locks: ClusterLocks) -> Journal: ...

    def gate(
        self, run_id: str, *, max_in_flight: int | None, max_failures: int | None
    ) -> FleetGate: ...


@dataclass(frozen=True)
class LocalBackend:
    """Files under `state_dir`, shared by every process of this host."""

    state_dir: Path

    def locks(self, run_id: str) -> ClusterLocks:
        return FlockLocks(self.state_dir, run_id)

    def journal(self, locks: ClusterLocks) -> Journal:
        del locks  # the flock is the fence: one writer per cluster on this host
        return LocalJournal(self.state_dir)

    def gate(
        self, run_id: str, *, max_in_flight: int | None, max_failures: int | None
    ) -> FleetGate:
        del run_id
        return SharedGate(max_in_flight=max_in_flight, max_failures=max_failures)


def build_context(
    backend: Backend,
    *,
    run_id: str,
    state_dir: Path,
    sink: Sink,
    timing_defaults: dict[str, Any] | None = None,
    max_in_flight: int | None = None,
    max_failures: int | None = None,
    transcripts: bool = True,
    before_start: BeforeStart | None = None,
    windowed: bool = True,
    policy: dict[str, Any] | None = None,
    clock: Clock = SYSTEM_CLOCK,
    devices: Any = None,
) -> RunContext:
    """A run's context on `backend`; transcripts under `<state_dir>/runs/<run id>` unless a
    read-only job asks for none. `clock` and `devices`: the system clock and napalm/PyEZ
    sessions unless a test or a simulation gives its own (simulator/inprocess.py)."""
    locks = backend.locks(run_id)
    return RunContext(
        run_id=run_id,
        state_dir=state_dir,
        journal=backend.journal(locks),
        locks=locks,
        gate=backend.gate(run_id, max_in_flight=max_in_flight, max_failures=max_failures),
        sink=sink,
        transcripts=Transcripts(state_dir / "runs" / run_id) if transcripts else None,
        timing_defaults=dict(timing_defaults or {}),
        before_start=before_start,
        windowed=windowed,
        policy=dict(policy or {}),
        clock=clock,
        devices=devices,
    )
