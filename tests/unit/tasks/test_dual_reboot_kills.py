"""A dual reboot killed at every destructive step, then run again (a new run id, the same state
directory and lab), in-process and in virtual time (simulator/inprocess.py): nothing
destructive is sent twice unless the device showed the earlier one ended; the cluster ends on
the target, healthy, and the lab never saw its two nodes linked on different releases. Each
half-way state is also recovered by `recover`.

A kill is a BaseException raised in the run's own thread at the point (the journal record
written, or the RPC received by the lab): nothing after it runs, as with a SIGKILL; the
run's lock is let go (a dead process's flock is)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from simulator.inprocess import InProcessLab, NodeWire, nornir_for
from simulator.testing import DESTRUCTIVE_RPCS
from tasks.device.wire import WireDevices
from tasks.events import Event, EventKind
from tasks.executor import LogSink
from tasks.jobs import srx_recover, srx_status, srx_upgrade
from tasks.state.backends import LocalBackend, build_context
from tasks.state.clock import VirtualClock
from tasks.state.run_context import Outcome

pytestmark = pytest.mark.unit

OLD, HOP, TARGET = "23.4R2-S3.9", "24.4R1.9", "25.2R1.9"
ACROSS = {"name": "c1", "model": "SRX345", "target": TARGET, "packages": [HOP]}
DESTRUCTIVE = DESTRUCTIVE_RPCS


class Killed(BaseException):
    """The run dies here (not an Exception: no handler of the runbooks catches it)."""


@dataclass
class Kill:
    """Where the run dies: after the journal record `record` (dual, node) was written, or once
    the lab received `rpc` on `node`."""

    record: tuple[str, str] | None = None
    rpc: tuple[str, str] | None = None
    fired: bool = False


class KillSink(LogSink):
    def __init__(self, kill: Kill) -> None:
        self.kill = kill

    def event(self, event: Event, *, quiet: bool = False) -> None:
        super().event(event, quiet=quiet)
        data, want = event.data, self.kill.record
        if want is None or self.kill.fired or event.kind != EventKind.COMMAND:
            return
        node = str(data.get("node") or (data.get("nodes") or [""])[0])
        if (data.get("dual"), node) == want:
            self.kill.fired = True
            raise Killed(f"after the journal record {want}")


class KillWire:
    """A lab session that dies with its run once the lab received the RPC named."""

    def __init__(self, inner: NodeWire, kill: Kill) -> None:
        self.inner, self.kill = inner, kill
        self.identity = inner.identity

    def alive(self) -> bool:
        return self.inner.alive()

    def close(self) -> None:
        self.inner.close()

    def rpc(self, request: str, timeout: float) -> str:
        want = self.kill.rpc
        if want is not None and not self.kill.fired and want == (_tag(request), self.inner.node):
            self.kill.fired = True
            with self.inner.lab.lock:
                self.inner._handle(request)  # received by the device; the reply never read
            self.inner.close()
            raise Killed(f"after sending {want}")
        return self.inner.rpc(request, timeout)


class KillLab:
    def __init__(self, lab: InProcessLab, kill: Kill) -> None:
        self.lab, self.kill = lab, kill

    def open(self, cluster: str, node: str, username: str, password: str) -> KillWire:
        return KillWire(self.lab.open(cluster, node, username, password), self.kill)


def _tag(request: str) -> str:
    from lxml import etree

    root = etree.fromstring(request.encode())
    return etree.QName(root).localname


@dataclass
class Rig:
    clock: VirtualClock
    lab: InProcessLab
    state: Path
    runs: list[str] = field(default_factory=list)

    def run(self, job: Any, kill: Kill | None = None, **kwargs: Any) -> Outcome | None:
        run_id = f"run-{len(self.runs)}"
        self.runs.append(run_id)
        lab: Any = self.lab if kill is None else KillLab(self.lab, kill)
        context = build_context(
            LocalBackend(self.state),
            run_id=run_id,
            state_dir=self.state,
            sink=LogSink() if kill is None else KillSink(kill),
            transcripts=False,
            clock=self.clock,
            devices=WireDevices(lab),
        )
        try:
            result = nornir_for(self.lab).run(task=job, context=context, **kwargs)
        except Killed:
            assert kill is not None and kill.fired
            return None
        found = result["c1"][0].result
        assert not isinstance(found, Killed), "the kill was caught"
        return found

    def sends(self) -> list[tuple[float, str, str]]:
        return [(r["ts"], r["rpc"], r["node"]) for r in self.lab.sent("c1", *DESTRUCTIVE)]

    def journal(self) -> list[dict[str, Any]]:
        from tasks.state.journal import LocalJournal

        return LocalJournal(self.state).history("c1")


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    clock = VirtualClock()
    r = Rig(clock, InProcessLab(clock, {"clusters": [ACROSS]}), tmp_path)
    yield r
    r.lab.close()
    clock.close()


def once_per_dual_reboot(rig: Rig) -> None:
    """Each destructive RPC at most once per node between the ends of dual reboots the device
    showed (a `dual-reboot-ended`: verified, or cancelled and verified by recover)."""
    ends = [float(r["ts"]) for r in rig.journal() if r.get("event") == EventKind.DUAL_ENDED]
    for low, high in zip([0.0, *ends], [*ends, float("inf")], strict=True):
        counts = Counter((rpc, node) for ts, rpc, node in rig.sends() if low <= ts < high)
        assert all(n == 1 for n in counts.values()), (low, counts)


def on_target_healthy(rig: Rig) -> None:
    truth = rig.lab.truth("c1")
    assert {n["release"] for n in truth["nodes"].values()} == {TARGET}
    assert not any(n["pending"] for n in truth["nodes"].values())
    assert truth["mixed_release"] == [], truth["mixed_release"]
    status = rig.run(srx_status)
    assert status is not None and status.healthy, status  # type: ignore[attr-defined]


# kill point -> the re-run's outcome (the same command again, a new run id)
KILLS = {
    "install node1 journaled, not sent": (Kill(record=("install", "node1")), "ok"),
    "install node1 sent": (Kill(rpc=("request-package-add", "node1")), "ok"),
    "install node0 journaled, not sent": (Kill(record=("install", "node0")), "ok"),
    "install node0 sent": (Kill(rpc=("request-package-add", "node0")), "ok"),
    "reboot journaled, none sent": (Kill(record=("reboot", "node0")), "ok"),
    "reboot sent to node0 only": (Kill(rpc=("request-reboot", "node0")), "ok"),
    "reboot sent to both": (Kill(rpc=("request-reboot", "node1")), "ok"),
}


def killed(rig: Rig, point: str) -> None:
    kill, _ = KILLS[point]
    kill = Kill(kill.record, kill.rpc)
    assert rig.run(srx_upgrade, kill, allow_outage=True) is None and kill.fired


@pytest.mark.parametrize("point", list(KILLS))
def test_killed_then_the_same_upgrade_again_sends_nothing_twice(rig: Rig, point: str) -> None:
    killed(rig, point)
    again = rig.run(srx_upgrade, allow_outage=True)
    assert again is not None and again.outcome == KILLS[point][1], again
    if "journaled, not sent" in point:
        # an install journaled but never sent: the re-run waits the install deadline from
        # its record, sees nothing pending, and sends it once, journaled first (D5)
        node = "node1" if "node1" in point else "node0"
        assert [n for _, r, n in rig.sends() if r == "request-package-add"].count(node) == 1
        records = [r for r in rig.journal() if r.get("dual") == "install"]
        assert [r["node"] for r in records].count(node) == 2, records
        notes = [r.get("message", "") for r in rig.journal()]
        assert any("never arrived; sending it once more" in m for m in notes), notes
    on_target_healthy(rig)
    once_per_dual_reboot(rig)
    assert [rpc for _, rpc, _ in rig.sends()].count("request-package-in-service-upgrade") == 1


# kill point -> the release recover leaves both nodes on
RECOVERED = {
    "install node1 journaled, not sent": OLD,
    "install node1 sent": OLD,
    "install node0 journaled, not sent": OLD,
    "install node0 sent": OLD,
    "reboot journaled, none sent": OLD,  # neither node took it: the installs cancelled
    "reboot sent to node0 only": HOP,  # node0 took it: node1 rebooted too, forward
    "reboot sent to both": HOP,
}


@pytest.mark.parametrize("point", list(KILLS))
def test_every_half_way_state_is_recovered(rig: Rig, point: str) -> None:
    killed(rig, point)
    dry = rig.run(srx_recover, dry_run=True)
    assert dry is not None and dry.outcome == "would-recover", dry
    recovered = rig.run(srx_recover)
    assert recovered is not None and recovered.outcome == "ok", recovered
    truth = rig.lab.truth("c1")
    assert {n["release"] for n in truth["nodes"].values()} == {RECOVERED[point]}
    assert not any(n["pending"] for n in truth["nodes"].values())
    assert truth["mixed_release"] == [], truth["mixed_release"]
    once_per_dual_reboot(rig)
    # and the upgrade afterwards reaches the target
    again = rig.run(srx_upgrade, allow_outage=True)
    assert again is not None and again.outcome == "ok", again
    on_target_healthy(rig)
    once_per_dual_reboot(rig)
