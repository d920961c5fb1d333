from __future__ import annotations

import multiprocessing
import os
from pathlib import Path

from tasks.events import Event, EventKind
from tasks.state.journal import LocalJournal as Journal
from tasks.state.locks import FlockLocks as ClusterLocks


def test_journal_roundtrip_and_torn_line(tmp_path: Path) -> None:
    j = Journal(tmp_path)
    j.write(Event(1.0, "r1", "upgrade", "c1", EventKind.ICU_SENDING, {"node": "node0"}))
    j.write(Event(2.0, "r1", "upgrade", "c1", EventKind.PHASE, {"phase": "started"}))
    j.close()
    with j.path("c1").open("a") as fh:
        fh.write('{"ts": 3, "event": "tor')  # a crash in the middle of a line
    records = Journal(tmp_path).history("c1")
    assert [r["event"] for r in records] == ["icu-sending", "phase"]
    assert records[0]["run_id"] == "r1" and records[0]["node"] == "node0"
    # the next run's first record is not glued to the torn fragment
    again = Journal(tmp_path)
    again.write(Event(4.0, "r2", "upgrade", "c1", EventKind.NOTE, {"message": "resumed"}))
    again.close()
    events = [r["event"] for r in Journal(tmp_path).history("c1")]
    assert events == ["icu-sending", "phase", "note"]


def test_inflight_closes_only_when_a_run_saw_the_icu_end() -> None:
    from tasks.plans.icu import inflight

    base = {"primary": "node0", "secondary": "node1", "old_release": "a", "target": "b"}
    sent = {"event": "icu-sending", "run_id": "r1", "baseline": {**base, "boot": {"node0": 1}}}
    # a run killed, or one that stopped watching (deadline, not started), leaves it open
    assert inflight([sent, {"event": "cluster-finished", "outcome": "not-started"}])
    assert inflight([sent, {"event": "cluster-finished", "outcome": "failed"}])
    assert inflight([sent, {"event": "icu-ended", "how": "primary back"}]) is None


def _hold(state: str, ready: multiprocessing.synchronize.Event) -> None:  # type: ignore[name-defined]
    locks = ClusterLocks(Path(state), "run-a")
    assert locks.acquire("c1") is None
    ready.set()
    os.kill(os.getpid(), 9)  # die holding the lock


def test_lock_held_then_taken_over_after_holder_dies(tmp_path: Path) -> None:
    mine = ClusterLocks(tmp_path, "run-b")
    ctx = multiprocessing.get_context("fork")
    ready = ctx.Event()
    # A live holder in this process first: a second ClusterLocks must see it as held.
    assert mine.acquire("c2") is None
    other = ClusterLocks(tmp_path, "run-c")
    holder = other.acquire("c2")
    assert holder is not None and "run run-b" in holder and f"pid {os.getpid()}" in holder
    mine.release("c2")
    assert other.acquire("c2") is None
    other.release_all()
    # A holder killed with SIGKILL leaves a stale lock file that the next run takes over.
    proc = ctx.Process(target=_hold, args=(str(tmp_path), ready))
    proc.start()
    assert ready.wait(10)
    proc.join(10)
    assert proc.exitcode == -9
    assert mine.acquire("c1") is None
    mine.release_all()
