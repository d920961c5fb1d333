"""The harness of bench/simulate.py: where a run may die, and the second process that asks
an abort, without touching the runbooks' code.

A kill is `Killed`, a BaseException: nothing in the plans or the executor catches it (they
catch Exception), so it unwinds the run as far as Nornir's runner and out of `nr.run`. On the
way only `finally` blocks run: the executor releases the cluster's flocks (the kernel drops
the flocks of a SIGKILLed process too), a plan drops its sessions and the ICU thread closes
its own (the kernel closes a dead process's sockets). Nothing is journaled on the way: every
later journal record, RPC or reply of the dead run (any of its threads) raises Killed again.

Kill points (`Kill(at, n)`), counted per run:

* `journal`: just after the n-th journal record is written (flushed, as LocalJournal does);
* `before-send`: just before the n-th destructive RPC leaves (the device never sees it);
* `after-send`: just after the device received the n-th destructive RPC (its reply unread);
* `reply`: on the n-th reply of any RPC (read or destructive), before the run reads it.

The abort of a second process (`SecondAbort`): at a virtual time during a run that holds
the cluster, a second FlockLocks (its own run id) writes the abort request in the holder's
mailbox exactly as `tasks.state.handoff.hand_over` does, and the holder's watcher makes
its look (`FlockLocks._look`) at that virtual time instead of on its real-time thread
(which is not started here: `SimLocks`): the hand-off, decided by virtual time alone,
replays exactly. Its verdict is read from the mailbox as hand_over reads it.
"""

from __future__ import annotations

import re
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from simulator.inprocess import InProcessLab, NodeWire
from simulator.server import SimCluster
from simulator.testing import DESTRUCTIVE_RPCS
from tasks.events import Event
from tasks.state.backends import LocalBackend
from tasks.state.clock import VirtualClock
from tasks.state.journal import Journal
from tasks.state.locks import AbortRequest, ClusterLocks, FlockLocks
from tasks.state.run_context import ClusterRun

DESTRUCTIVE = DESTRUCTIVE_RPCS
KINDS = ("journal", "before-send", "after-send", "reply")
_NAME = re.compile(r"\s*<([\w:.-]+)")


class Killed(BaseException):
    """The run's process died here (SIGKILL): caught by nothing in the runbooks."""


def _quiet_hook(args: threading.ExceptHookArgs) -> None:
    if args.exc_type is not None and issubclass(args.exc_type, Killed):
        return  # a thread of a killed run died with it
    _default_hook(args)


_default_hook = threading.excepthook
threading.excepthook = _quiet_hook

# The runs alive in this process, by run id: where a kill point is (the plan's open step).
_LIVE: dict[str, ClusterRun] = {}
_post_init = ClusterRun.__post_init__


def _register(self: ClusterRun) -> None:
    _post_init(self)
    _LIVE[self.run_id] = self


ClusterRun.__post_init__ = _register  # type: ignore[method-assign]


def step_of(run_id: str) -> str:
    """The innermost plan step the run is in ('executor' outside any)."""
    run = _LIVE.get(run_id)
    steps = getattr(run, "_steps", None)
    return steps[-1] if steps else "executor"


def forget(run_id: str) -> None:
    _LIVE.pop(run_id, None)


@dataclass(frozen=True)
class Kill:
    at: str  # one of KINDS
    n: int

    def __str__(self) -> str:
        return f"{self.at}:{self.n}"

    @classmethod
    def parse(cls, text: str) -> Kill | None:
        if text in ("", "none"):
            return None
        at, _, n = text.rpartition(":")
        if at not in KINDS or not n.isdigit() or int(n) < 1:
            raise ValueError(f"a kill point is KIND:N, KIND one of {', '.join(KINDS)}: {text!r}")
        return cls(at, int(n))


@dataclass
class Killer:
    """The kill points of one run: counts them (per kind and per plan step) and kills the
    run at `kill`. `points`: every point passed, as (kind, step)."""

    run_id: str
    kill: Kill | None = None
    dead: bool = False
    counts: Counter[str] = field(default_factory=Counter)
    points: list[tuple[str, str]] = field(default_factory=list)
    where: str = ""  # the kill point that fired: "kind n in step"

    def point(self, kind: str, *, fire: bool = True) -> None:
        """Pass a kill point; raises Killed there (fire) or from the next one on."""
        if self.dead:
            raise Killed(self.where)
        self.counts[kind] += 1
        step = step_of(self.run_id)
        self.points.append((kind, step))
        if self.kill is not None and kind == self.kill.at and self.counts[kind] == self.kill.n:
            self.dead = True
            self.where = f"{self.kill} in {step}"
            if fire:
                raise Killed(self.where)


class KillJournal:
    """A run's journal with the `journal` kill point after each record."""

    def __init__(
        self, inner: Journal, killer: Killer, seen: Callable[[Event], None] | None = None
    ) -> None:
        self.inner, self.killer, self.seen = inner, killer, seen

    def history(self, cluster: str) -> list[dict[str, Any]]:
        return self.inner.history(cluster)

    def write(self, event: Event) -> None:
        if self.killer.dead:
            raise Killed(self.killer.where)
        self.inner.write(event)
        if self.seen is not None:
            self.seen(event)
        self.killer.point("journal")

    def close(self) -> None:
        self.inner.close()


class KillWire:
    """A session of a run (tasks.device.wire.LabWire) with the send and reply kill points."""

    def __init__(self, inner: NodeWire, killer: Killer) -> None:
        self.inner, self.killer = inner, killer
        self.identity = inner.identity

    def alive(self) -> bool:
        return self.inner.alive()

    def close(self) -> None:
        self.inner.close()

    def rpc(self, request: str, timeout: float) -> str:
        m = _NAME.match(request)
        name = m.group(1) if m else ""
        if self.killer.dead:
            raise Killed(self.killer.where)
        if name in DESTRUCTIVE:
            self.killer.point("before-send")
        try:
            answer = self.inner.rpc(request, timeout)
        except Exception:
            if self.killer.dead:  # the run died while this RPC waited
                raise Killed(self.killer.where) from None
            raise
        self.killer.point("reply")
        return answer


class SimLab(InProcessLab):
    """The in-process lab, telling the current run's killer when a destructive RPC has
    reached the device (the `after-send` point), and each run's sessions apart."""

    killer: Killer | None = None

    def record(
        self, sc: SimCluster, node: str, sid: int, rpc: str, args: dict[str, Any], result: str
    ) -> None:
        super().record(sc, node, sid, rpc, args, result)
        if rpc in DESTRUCTIVE and self.killer is not None and not self.killer.dead:
            self.killer.point("after-send", fire=False)  # dies at its next point


class RunLab:
    """What one run's WireDevices opens sessions through: its kill points on each, and
    every session it opened (closed when it dies, as the kernel closes its sockets)."""

    def __init__(self, lab: SimLab, killer: Killer) -> None:
        self.lab, self.killer = lab, killer
        self.wires: list[KillWire] = []

    def open(self, cluster: str, node: str, username: str, password: str) -> KillWire:
        if self.killer.dead:
            raise Killed(self.killer.where)
        wire = KillWire(self.lab.open(cluster, node, username, password), self.killer)
        self.wires.append(wire)
        return wire

    def close_all(self) -> None:
        for wire in self.wires:
            wire.close()


class SimClock(VirtualClock):
    """A virtual clock that calls `at` hooks (in the driver's thread) once the time passes
    them: the second process's abort."""

    def __init__(self) -> None:
        super().__init__()
        self.hooks: list[tuple[float, Callable[[], None]]] = []

    def _advance(self, seconds: float) -> None:
        super()._advance(seconds)
        while self.hooks and self.hooks[0][0] <= self._now:
            _, hook = self.hooks.pop(0)
            hook()


class SimLocks(FlockLocks):
    """FlockLocks whose real-time watcher thread is not started: the watcher's look is made
    at a virtual time by SecondAbort (nothing else asks an abort in a simulation)."""

    def _ensure_watcher(self) -> None:
        return None


@dataclass(frozen=True)
class SimBackend(LocalBackend):
    """Files under the scenario's state directory, its coordination directory there too
    (no scenario sees another's device lock, mailbox or journals)."""

    def locks(self, run_id: str) -> ClusterLocks:
        return SimLocks(self.state_dir, run_id, coord=self.state_dir / "coord")


@dataclass
class SecondAbort:
    """`abort` from a second process at a virtual time, while a run holds the cluster."""

    state_dir: Path
    cluster: str
    holder: FlockLocks | None = None
    request: AbortRequest | None = None
    device: str = ""
    mine: FlockLocks | None = None

    def fire(self) -> None:
        """Ask the holder (as hand_over does), and the holder's watcher looks."""
        held = self.holder._held.get(self.cluster) if self.holder else None
        if held is None or not held.device or self.holder is None:
            return  # nobody holds it now: the abort will run by itself
        self.device = held.device
        self.mine = SimLocks(self.state_dir, "second-abort", coord=self.state_dir / "coord")
        self.request = self.mine.request_abort(self.cluster, self.device, "second-abort")
        self.holder._look(self.device, self.cluster)

    def verdict(self) -> Any:
        """The abort's Outcome as hand_over returns it from the holder's answer, or None."""
        from tasks.state.handoff import _verdict

        if self.mine is None or self.request is None:
            return None
        try:
            return _verdict(self.mine.reply(self.cluster, self.device, self.request))
        finally:
            self.mine.withdraw(self.cluster, self.device, self.request)
