"""The abort mailbox of the Redis store (--engine celery) against a real redis-server: a
request acknowledged by the holder's watcher thread, answered, read back; a second abort
joining it; a take-over that fences the holder off, across processes and within one."""

from __future__ import annotations

import threading
import time

import pytest

from simulator.testing import wait_until
from tasks.events import Event, EventKind
from tasks.state.locks import REQUEST_TTL
from tasks.state.redis_store import (
    RedisJournal,
    RedisLocks,
    RedisStore,
    StaleLease,
    StreamSink,
    key,
    outcome_of_json,
)
from tasks.state.run_context import Outcome
from tests.redis_server import RedisServer, redis_server_fixture  # noqa: F401  (the fixture)


def ev(kind: EventKind, run: str = "run-up", **data: object) -> Event:
    return Event(time.time(), run, "upgrade", "br-1", kind, dict(data))


def store(server: RedisServer, worker: str) -> RedisStore:
    return RedisStore(server.url, lease_ttl=30.0, worker=worker, timeout=1.0)


def test_a_request_is_acknowledged_by_the_holder_and_answered(redis_server: RedisServer) -> None:
    # GIVEN an upgrade holding br-1 (and br-2) on worker A
    a, b = store(redis_server, "wa"), store(redis_server, "wb")
    holder = RedisLocks(a, "run-up")
    assert holder.acquire("br-1", "dev-1", "upgrade") is None
    assert holder.acquire("br-2", "dev-2", "upgrade") is None
    # and its plan waits between two polls of the ICU
    woken: list[float] = []
    waiting = threading.Thread(
        target=lambda: (holder.wait_for_request("br-1", 30), woken.append(time.monotonic()))
    )
    waiting.start()
    # WHEN an abort on worker B finds it held and asks
    asker = RedisLocks(b, "run-ab")
    assert "run run-up worker wa fence 1" in str(asker.acquire("br-1", "dev-1", "abort"))
    request = asker.request_abort("br-1", "dev-1", "run-ab")
    asked = time.monotonic()
    assert 0 < b.r.pttl(key("abort", "br-1")) <= REQUEST_TTL * 1000
    # THEN A's watcher acknowledges it within a fraction of a second, as the upgrade's
    reply = wait_until(lambda: asker.reply("br-1", "dev-1", request), 2, message="the ack")
    assert (reply.stage, reply.job, reply.run) == ("acknowledged", "upgrade", "run-up")
    assert reply.acked >= request.at and reply.verdict is None
    # (the watcher writes its acknowledgement first, then hands the request to the plan)
    wait_until(lambda: holder.abort_requested("br-1"), 2, message="the request taken")
    assert holder.abort_requested("br-1") == request
    assert holder.abort_requested("br-2") is None  # the other cluster goes on
    waiting.join(timeout=5)
    assert woken and woken[0] - asked < 2, "the plan's wait was not cut short by the request"
    started = time.monotonic()
    holder.wait_for_request("br-2", 0.3)  # nothing asked of br-2: the whole wait
    assert time.monotonic() - started >= 0.3
    # a second abort joins the live request: same id, nothing new written
    other = RedisLocks(store(redis_server, "wc"), "run-ab2")
    assert other.request_abort("br-1", "dev-1", "run-ab2") == request
    # WHEN the holder acts on it and answers with its verdict
    holder.answer("br-1", stage="acting", note="abort sent: abort-in-service-upgrade")
    holder.answer("br-1", note="ICU ended")
    verdict = {"outcome": "aborted", "state": "healthy", "versions": {"node0": "A"}, "detail": "x"}
    holder.answer("br-1", stage="done", verdict=verdict, job="upgrade", changed=True)
    # THEN the requester reads it all, in order
    reply = asker.reply("br-1", "dev-1", request)
    assert reply is not None
    assert reply.notes == ["abort sent: abort-in-service-upgrade", "ICU ended"]
    assert (reply.stage, reply.verdict, reply.changed) == ("done", verdict, True)
    assert 0 < b.r.pttl(key("abort", "br-1", "reply")) <= 3600 * 1000
    # the joined abort neither renews nor withdraws a request that is not its own
    b.r.pexpire(key("abort", "br-1"), 3000)
    other.renew_request("br-1", "dev-1", request)
    other.withdraw("br-1", "dev-1", request)
    assert 0 < b.r.pttl(key("abort", "br-1")) <= 3000
    asker.renew_request("br-1", "dev-1", request)
    assert b.r.pttl(key("abort", "br-1")) > 3000
    asker.withdraw("br-1", "dev-1", request)
    assert not b.r.exists(key("abort", "br-1"))
    # once the holder lets go, the request is no longer its
    holder.release("br-1")
    assert holder.abort_requested("br-1") is None
    assert asker.acquire("br-1", "dev-1", "abort") is None


def test_a_reply_to_another_request_is_not_this_ones(redis_server: RedisServer) -> None:
    a, b = store(redis_server, "wa"), store(redis_server, "wb")
    holder = RedisLocks(a, "run-up")
    holder.acquire("br-1", "dev-1", "upgrade")
    asker = RedisLocks(b, "run-ab")
    first = asker.request_abort("br-1", "dev-1", "run-ab")
    wait_until(lambda: asker.reply("br-1", "dev-1", first), 2, message="the first ack")
    holder.answer("br-1", note="abort sent")
    asker.withdraw("br-1", "dev-1", first)
    holder.release("br-1")
    # a new holder, a new request: the old reply (and its notes) are not the new one's
    holder = RedisLocks(a, "run-up2")
    holder.acquire("br-1", "dev-1", "upgrade")
    second = asker.request_abort("br-1", "dev-1", "run-ab")
    assert second.id != first.id
    reply = wait_until(lambda: asker.reply("br-1", "dev-1", second), 2, message="the 2nd ack")
    assert (reply.run, reply.notes) == ("run-up2", [])
    assert asker.reply("br-1", "dev-1", first) is None


def test_a_run_does_not_acknowledge_its_own_request(redis_server: RedisServer) -> None:
    # an abort that took the cluster over holds it while its request is still there
    a = store(redis_server, "wa")
    mine = RedisLocks(a, "run-ab")
    request = mine.request_abort("br-1", "dev-1", "run-ab")
    mine.take_over("br-1", "dev-1", "run-ab")
    a.look(["br-1"])  # what the watcher does each WATCH_EVERY, here and now
    assert mine.reply("br-1", "dev-1", request) is None
    assert mine.abort_requested("br-1") is None


def test_take_over_fences_the_holder_off(redis_server: RedisServer) -> None:
    # GIVEN an upgrade on worker A that journaled its ICU and then stopped answering
    a, b = store(redis_server, "wa"), store(redis_server, "wb")
    holder = RedisLocks(a, "run-up")
    holder.acquire("br-1", "dev-1", "upgrade")
    RedisJournal(a, holder).write(ev(EventKind.ICU_SENDING, baseline={}))
    # WHEN an abort on worker B takes the cluster over
    asker = RedisLocks(b, "run-ab")
    asker.acquire("br-1", "dev-1", "abort")
    asker.take_over("br-1", "dev-1", "run-ab")
    # THEN the abort holds the lease on a new fence, and the holder can journal nothing
    # durable: no intent, so no command
    assert b.r.get(key("fence", "br-1")) == "2"
    assert b.r.get(key("lease", "br-1")) == "run run-ab worker wb fence 2"
    assert holder.fenced_off("br-1") == "run run-ab (worker wb) took the cluster over"
    assert asker.fenced_off("br-1") is None
    with pytest.raises(StaleLease):
        RedisJournal(a, holder).write(ev(EventKind.COMMAND, cli="request chassis failover"))
    with pytest.raises(StaleLease):
        RedisJournal(a).write(ev(EventKind.ICU_ENDED, how="verified"))
    RedisJournal(b, asker).write(ev(EventKind.ICU_ENDED, run="run-ab", how="aborted"))
    # the holder's renewal gives the lease up; the abort's keeps it; a release of the old
    # holder takes nothing from the new one
    assert not a.renew("br-1", holder.mine["br-1"])
    assert b.renew("br-1", asker.mine["br-1"])
    holder.release("br-1")
    assert b.r.get(key("lease", "br-1")) == "run run-ab worker wb fence 2"
    events = [r["event"] for r in RedisJournal(b).history("br-1")]
    assert events == ["icu-sending", "icu-ended"]


def test_take_over_within_one_worker_process(redis_server: RedisServer) -> None:
    # GIVEN the upgrade and the abort are jobs of the same worker process (one region)
    a = store(redis_server, "wa")
    holder, asker = RedisLocks(a, "run-up"), RedisLocks(a, "run-ab")
    holder.acquire("br-1", "dev-1", "upgrade")
    assert asker.acquire("br-1", "dev-1", "abort") is not None
    # WHEN the abort takes it over
    asker.take_over("br-1", "dev-1", "run-ab")
    # THEN the process's lease is the abort's, and the upgrade job can no longer write
    assert a.fences["br-1"] == asker.mine["br-1"]
    assert holder.fenced_off("br-1") == "run run-ab (worker wa) took the cluster over"
    with pytest.raises(StaleLease):
        RedisJournal(a, holder).write(ev(EventKind.ICU_SENDING, baseline={}))
    RedisJournal(a, asker).write(ev(EventKind.COMMAND, run="run-ab", cli="abort"))
    # and its release (the executor's finally) leaves the abort's lease alone
    holder.release("br-1")
    assert a.fences["br-1"] == asker.mine["br-1"]
    assert a.r.get(key("lease", "br-1")) == asker.mine["br-1"]
    asker.release("br-1")
    assert not a.r.exists(key("lease", "br-1")) and "br-1" not in a.fences


def finished(sink: StreamSink, outcome: str, *, published: bool) -> str:
    event = Event(time.time(), sink.run_id, "x", "br-1", EventKind.CLUSTER_FINISHED, {})
    sink.finished("br-1", Outcome(outcome, "unknown", {}, ""), event, published=published)
    return "1" if sink.published else "0"


def test_which_outcomes_are_the_runs_news(redis_server: RedisServer) -> None:
    a, b = store(redis_server, "wa"), store(redis_server, "wb")
    # a copy of run-up's own job that found the cluster locked by its other copy: no news
    RedisLocks(a, "run-up").acquire("br-1", "", "upgrade")
    assert finished(StreamSink(b, "run-up"), "locked", published=False) == "0"
    # a cluster locked by another run is the asking run's news (else it would wait forever)
    assert finished(StreamSink(b, "run-st"), "locked", published=False) == "1"
    # an abort handed to the holder: its verdict is the abort run's outcome, even when the
    # abort took (and let go) the lease itself as the holder ended
    RedisLocks(a, "run-up").release("br-1")
    asker = RedisLocks(b, "run-ab")
    asker.acquire("br-1", "", "abort")
    asker.release("br-1")
    assert finished(StreamSink(b, "run-ab"), "ok", published=False) == "1"
    # the holder's own outcome, published after the abort took a newer fence: still its run's
    assert finished(StreamSink(a, "run-up"), "aborted", published=True) == "1"
    done = {run: b.r.hget(key("run", run, "done"), "br-1") for run in ("run-up", "run-ab")}
    assert {r: outcome_of_json(str(o)).outcome for r, o in done.items()} == {
        "run-up": "aborted",
        "run-ab": "ok",
    }
