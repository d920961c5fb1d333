"""The Redis store of --engine celery against a real redis-server (no fakeredis: the Lua
scripts, the append-only file and a server that goes away are what is tested)."""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

import pytest

from simulator.testing import wait_until
from tasks.events import Event, EventKind
from tasks.state.gate import NotStarted
from tasks.state.redis_store import (
    RedisGate,
    RedisJournal,
    RedisLocks,
    RedisStore,
    StaleLease,
    StoreUnreachable,
    StreamSink,
    key,
    outcome_of_json,
)
from tasks.state.run_context import Outcome
from tests.redis_server import RedisServer, redis_server_fixture  # noqa: F401  (the fixture)


def ev(kind: EventKind, cluster: str = "br-1", **data: object) -> Event:
    return Event(time.time(), "run-1", "upgrade", cluster, kind, dict(data))


def store(server: RedisServer, worker: str, ttl: float = 30.0) -> RedisStore:
    return RedisStore(server.url, lease_ttl=ttl, worker=worker, timeout=1.0)


def test_one_lease_per_cluster_and_a_new_fence_each_time(redis_server: RedisServer) -> None:
    a, b = store(redis_server, "wa"), store(redis_server, "wb")
    assert RedisLocks(a, "run-1").acquire("br-1") is None
    assert "worker wa fence 1" in str(RedisLocks(b, "run-2").acquire("br-1"))
    RedisLocks(a, "run-1").release("br-1")
    assert RedisLocks(b, "run-2").acquire("br-1") is None
    assert b.fences["br-1"].endswith("fence 2")


def test_a_worker_that_lost_its_lease_can_never_write_an_intent(
    redis_server: RedisServer,
) -> None:
    # GIVEN worker A holds br-1, then pauses past its lease; B takes the cluster over
    a, b = store(redis_server, "wa"), store(redis_server, "wb")
    RedisLocks(a, "run-1").acquire("br-1")
    a.r.delete(key("lease", "br-1"))  # the lease lapsed while A was stopped
    assert RedisLocks(b, "run-1").acquire("br-1") is None
    # WHEN A wakes up and tries to send an ICU
    with pytest.raises(StaleLease):
        RedisJournal(a).write(ev(EventKind.ICU_SENDING, baseline={}))
    # THEN nothing was journaled for it, its renewal gives the lease up, B writes fine
    assert not a.renew("br-1", a.fences["br-1"])
    assert "br-1" not in a.fences and "br-1" in a.lost
    RedisJournal(b).write(ev(EventKind.ICU_SENDING, baseline={}))
    assert [r["event"] for r in RedisJournal(b).history("br-1")] == ["icu-sending"]


def test_a_lapsed_lease_is_retaken_while_the_fence_is_still_ours(
    redis_server: RedisServer,
) -> None:
    a = store(redis_server, "wa")
    RedisLocks(a, "run-1").acquire("br-1")
    a.r.delete(key("lease", "br-1"))  # a Redis outage longer than the TTL
    assert a.renew("br-1", a.fences["br-1"])
    RedisJournal(a).write(ev(EventKind.COMMAND, cli="request chassis cluster failover"))


def test_an_open_icu_intent_refuses_a_second_icu_until_it_ended(
    redis_server: RedisServer,
) -> None:
    a = store(redis_server, "wa")
    RedisLocks(a, "run-1").acquire("br-1")
    journal = RedisJournal(a)
    journal.write(ev(EventKind.ICU_SENDING, baseline={}))
    with pytest.raises(StoreUnreachable, match="INTENT"):
        journal.write(ev(EventKind.ICU_SENDING, baseline={}))
    journal.write(ev(EventKind.ICU_ENDED, how="verified"))
    journal.write(ev(EventKind.ICU_SENDING, baseline={}))
    assert [r["event"] for r in journal.history("br-1")] == [
        "icu-sending",
        "icu-ended",
        "icu-sending",
    ]


def test_durable_writes_need_a_lease(redis_server: RedisServer) -> None:
    with pytest.raises(StaleLease):
        RedisJournal(store(redis_server, "wa")).write(ev(EventKind.ICU_SENDING, baseline={}))


def test_redis_unreachable_fails_closed(redis_server: RedisServer) -> None:
    a = store(redis_server, "wa")
    RedisLocks(a, "run-1").acquire("br-1")
    redis_server.kill()
    with pytest.raises(StoreUnreachable):
        RedisJournal(a).write(ev(EventKind.ICU_SENDING, baseline={}))
    with pytest.raises(StoreUnreachable):
        RedisLocks(a, "run-1").acquire("br-2")
    with pytest.raises(StoreUnreachable):
        RedisJournal(a).history("br-1")


def test_records_and_fences_survive_a_sigkill_of_redis(redis_server: RedisServer) -> None:
    a = store(redis_server, "wa")
    RedisLocks(a, "run-1").acquire("br-1")
    RedisJournal(a).write(ev(EventKind.ICU_SENDING, baseline={"x": 1}))
    redis_server.kill()  # appendfsync always: acknowledged means on disk
    redis_server.start()
    b = store(redis_server, "wb")
    assert [r["event"] for r in RedisJournal(b).history("br-1")] == ["icu-sending"]
    assert b.r.get(key("fence", "br-1")) == "1"
    assert b.r.get(key("intent", "br-1"))  # the open ICU is still open


def test_leases_renewed_together_give_up_only_the_one_taken_over(
    redis_server: RedisServer,
) -> None:
    a, b = store(redis_server, "wa", ttl=5.0), store(redis_server, "wb")
    for cluster in ("br-1", "br-2"):
        RedisLocks(a, "run-1").acquire(cluster)
    a.r.delete(key("lease", "br-2"))  # br-2's lease lapsed and B took the cluster over
    assert RedisLocks(b, "run-1").acquire("br-2") is None
    a.r.pexpire(key("lease", "br-1"), 100)  # br-1's is about to lapse
    a.renew_all(dict(a.fences))
    assert 1000 < a.r.pttl(key("lease", "br-1")) <= 5000  # renewed for a whole TTL
    assert set(a.fences) == {"br-1"} and a.lost == {"br-2"}
    assert b.fences["br-2"].endswith("fence 2")


def test_the_in_flight_set_is_keyed_by_cluster_and_bounded(
    redis_server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="tasks.state.redis_store")
    a = store(redis_server, "wa")
    a.r.hset(key("run", "run-1"), mapping={"max_in_flight": 2})
    gates = [RedisGate(a, "run-1", f"br-{i}") for i in range(3)]
    inflight = key("run", "run-1", "inflight")
    entered = threading.Event()
    with gates[0].slot(), gates[1].slot():
        with gates[0].slot():  # the same cluster again (a re-attach) takes no second slot
            assert a.r.zcard(inflight) == 2

        def third() -> None:
            with gates[2].slot():
                entered.set()

        t = threading.Thread(target=third)
        t.start()
        # the third was refused a slot and waits (what it logs), and has not entered
        said = "br-2: waiting for an in-flight slot"
        wait_until(lambda: said in caplog.text, 10, message="the third cluster waiting")
        assert not entered.is_set()
        assert a.r.zcard(inflight) == 2
    # the freed slot wakes the waiter at once (its own look comes only after 4-6 s)
    assert entered.wait(1.5)
    t.join(5)
    assert a.r.zcard(inflight) == 0


def test_a_waiter_for_a_slot_sees_the_store_go_away_at_once(redis_server: RedisServer) -> None:
    a = store(redis_server, "wa")
    a.r.hset(key("run", "run-1"), mapping={"max_in_flight": 1})
    a.r.zadd(key("run", "run-1", "inflight"), {"someone-else": time.time()})
    raised: list[BaseException] = []

    def waiter() -> None:
        try:
            with RedisGate(a, "run-1", "br-1").slot():
                pass
        except BaseException as exc:  # the test reads what it was
            raised.append(exc)

    t = threading.Thread(target=waiter)
    t.start()
    wait_until(lambda: a.waker.conds, 5, message="the waiter waits on the waker")
    gone = time.monotonic()
    redis_server.kill()
    # the waiter does not sleep through an outage (its own look comes only after 4-6 s): the
    # subscriber's lost connection wakes it, it asks the store and gets no answer
    t.join(4.0)
    assert not t.is_alive() and time.monotonic() - gone < 4.0
    assert len(raised) == 1 and isinstance(raised[0], StoreUnreachable), raised


def test_halt_interrupt_and_failure_budget(redis_server: RedisServer) -> None:
    a = store(redis_server, "wa")
    a.r.hset(key("run", "run-1"), mapping={"max_failures": 1})
    gate = RedisGate(a, "run-1", "br-1")
    gate.check()
    gate.record("failed")
    gate.record("ok")
    gate.check()
    gate.record("failed")
    with pytest.raises(NotStarted, match="exceed --max-failures 1"):
        gate.check()
    with pytest.raises(NotStarted), gate.slot():
        pass
    assert not gate.interrupted()
    RedisGate(a, "run-1", "br-2").interrupt("abort")
    time.sleep(RedisGate.CACHE + 0.05)
    assert gate.interrupted() and gate.interrupt_action == "abort"


def test_stream_sink_publishes_events_and_one_outcome(redis_server: RedisServer) -> None:
    a = store(redis_server, "wa")
    sink = StreamSink(a, "run-1")
    sink.event(ev(EventKind.STEP, step="connect"))
    done = Outcome("ok", "healthy", {"node0": "B"}, "upgraded")
    sink.finished("br-1", done, ev(EventKind.CLUSTER_FINISHED), published=True)
    sink.finished(
        "br-1",
        Outcome("locked", "unknown", {}, "x"),
        ev(EventKind.CLUSTER_FINISHED),
        published=False,
    )
    entries = a.r.xrange(key("run", "run-1", "events"))
    assert [f["k"] for _, f in entries] == ["event", "finished", "finished"]
    assert outcome_of_json(a.r.hget(key("run", "run-1", "done"), "br-1")).outcome == "ok"


def test_the_outcome_of_a_superseded_fence_is_not_the_runs(redis_server: RedisServer) -> None:
    # GIVEN A held br-1 (fence 1), lost it while paused, B took it over (fence 2)
    a, b = store(redis_server, "wa"), store(redis_server, "wb")
    RedisLocks(a, "run-1").acquire("br-1")
    a.r.delete(key("lease", "br-1"))
    RedisLocks(b, "run-1").acquire("br-1")
    # WHEN A wakes up and reports its (failed) end first, then B its own
    failed = Outcome("failed", "unknown", {}, "lease lost")
    StreamSink(a, "run-1").finished("br-1", failed, ev(EventKind.CLUSTER_FINISHED), published=True)
    ok = Outcome("ok", "healthy", {}, "upgraded")
    StreamSink(b, "run-1").finished("br-1", ok, ev(EventKind.CLUSTER_FINISHED), published=True)
    # THEN only B's counts
    entries = a.r.xrange(key("run", "run-1", "events"))
    assert [f["p"] for _, f in entries] == ["0", "1"]
    assert outcome_of_json(a.r.hget(key("run", "run-1", "done"), "br-1")).outcome == "ok"


def test_a_cluster_the_coordinator_gives_up_on_is_done_in_the_store(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    from runbooks.engines.celery_coordinator import MAX_ATTEMPTS, Coordinator
    from runbooks.engines.celery_worker import _claim
    from runbooks.output.progress import Progress
    from runbooks.output.report import Report
    from runbooks.output.sinks import FleetView

    def view() -> FleetView:
        report = Report(job="upgrade", run_id="run-9")
        return FleetView(report, Progress(job="upgrade", total=1), None, (None, tmp_path / "r"))

    a = store(redis_server, "coordinator")
    a.r.hset(key("run", "run-9"), mapping={"description": "{}", "job": "upgrade"})
    # GIVEN a cluster whose worker died for the last allowed time
    coord = Coordinator(a, None, "run-9", {"br-1": "east"}, view())
    coord.lost.started("br-1", MAX_ATTEMPTS - 1)
    coord._again("br-1", "worker w1 lost")
    # THEN it is reported failed, and the store says so: a late copy of its job does nothing
    assert coord.view.outcomes["br-1"].outcome == "failed"
    assert a.r.hexists(key("run", "run-9", "done"), "br-1")
    assert _claim(a, "run-9", "br-1") is None
    # and `attach` (another coordinator on the stream) reads the same outcome
    again = Coordinator(a, None, "run-9", {"br-1": "east"}, view())
    again.read()
    assert "3 attempts" in again.view.outcomes["br-1"].detail
