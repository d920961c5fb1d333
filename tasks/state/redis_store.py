"""The Redis store of `--engine celery` (docs/design/celery-engine.md): where the safety lives when
a run's clusters are worked by Celery workers on other hosts. Celery only delivers zero or more
copies of a cluster job; this store makes extra copies harmless.

* `RedisLocks` (ClusterLocks): one fenced lease per cluster. Taking it INCRs `fence:{c}`; the
  lease `lease:{c}` holds "run <id> worker <id> fence <n>" with a TTL a thread renews. A renewal
  re-takes a lapsed key only while the fence counter is still ours (a Redis outage longer than the
  TTL costs nothing); once another worker took fence n+1, the old holder can never write again.
* `RedisJournal` (Journal): `journal:{c}` is a stream of the same records as today's JSONL. A
  durable record (the intent written before a destructive command) is appended by one Lua script
  that first checks the lease carries our fence, and for `icu-sending` that no ICU intent is open
  (`intent:{c}`, cleared by `icu-ended`). Only an OK lets the command leave: a stale fence, an
  open intent, an error or no reply raise, so nothing is sent and the cluster is reported.
* `RedisGate` (FleetGate): the cluster-keyed in-flight ZSET `run:{r}:inflight`, the `halt` and
  `interrupt` fields of `run:{r}`, the failure count.
* `StreamSink` (Sink): events and outcomes onto `run:{r}:events` for the coordinator.
* The abort mailbox of a held cluster (tasks.state.locks, tasks.state.handoff): an abort that finds
the
  lease held writes `abort:{c}` (JSON, REQUEST_TTL, renewed by the requester, joined by a
  second one); a watcher thread per process looks at the requests of every cluster it holds
  (one MGET each WATCH_EVERY) and acknowledges one in `abort:{c}:reply` (a hash, keyed by the
  request's id, its values JSON) and `abort:{c}:notes` (the holder's progress lines); the plan
  acts at its next step. A holder that does not answer is taken over: the requester INCRs the
  fence and takes the lease by force, so the holder's next intent is refused (STALE).
  `fence-run:{c}` names the run that took the newest fence: an outcome is the run's news unless
  a worker of the *same* run superseded it (tasks.state.redis_store._FINISHED).

Every write is one Lua script (atomic); with `appendonly yes` + `appendfsync always` it is on
disk before the reply.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import random
import secrets
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from typing import Any

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from tasks.errors import RunbookError
from tasks.events import DURABLE, Event, EventKind
from tasks.state.gate import NotStarted
from tasks.state.locks import REQUEST_TTL, WATCH_EVERY, AbortRequest, Reply
from tasks.state.redact import redact
from tasks.state.run_context import Outcome

log = logging.getLogger(__name__)

PREFIX = "rb:"
ICUS_KEPT = 200  # past ICU durations kept per model (the window fit takes their median)
POOL_SIZE = 1024  # Redis connections per process for its threads; past it a thread waits
LEASE_TTL = 30.0  # seconds; renewed every third of it
REPLY_TTL = 3600.0  # seconds a holder's answer to an abort request is kept


class StoreUnreachable(RunbookError):
    """The Redis store did not answer (or refused the write): nothing destructive was sent."""


class StaleLease(RunbookError):
    """This worker no longer holds the cluster's lease: another one took it over."""


_ACQUIRE = """
local cur = redis.call('GET', KEYS[1])
if cur then return {0, cur} end
local f = redis.call('INCR', KEYS[2])
local token = ARGV[1] .. ' fence ' .. f
redis.call('SET', KEYS[1], token, 'PX', ARGV[2])
redis.call('SET', KEYS[3], ARGV[3])
return {1, token}
"""
_TAKE_OVER = """
local f = redis.call('INCR', KEYS[2])
local token = ARGV[1] .. ' fence ' .. f
redis.call('SET', KEYS[1], token, 'PX', ARGV[2])
redis.call('SET', KEYS[3], ARGV[3])
return token
"""
_REQUEST = """
local cur = redis.call('GET', KEYS[1])
if cur then return cur end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return ARGV[1]
"""
_EXTEND = """
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('PEXPIRE', KEYS[1], ARGV[2]) return 1 end
return 0
"""
_ANSWER = """
if redis.call('HGET', KEYS[1], 'id') ~= ARGV[1] then redis.call('DEL', KEYS[1], KEYS[2]) end
redis.call('HSET', KEYS[1], 'id', ARGV[1], unpack(ARGV, 4))
if ARGV[3] ~= '' then redis.call('RPUSH', KEYS[2], ARGV[3]) end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
redis.call('PEXPIRE', KEYS[2], ARGV[2])
return 1
"""
_RENEW = """
local cur = redis.call('GET', KEYS[1])
if cur == ARGV[1] then redis.call('PEXPIRE', KEYS[1], ARGV[3]) return 1 end
if (not cur) and redis.call('GET', KEYS[2]) == ARGV[2] then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[3]) return 1
end
return 0
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) return 1 end
return 0
"""
_APPEND = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return redis.error_reply('STALE this worker does not hold the lease of the cluster')
end
if ARGV[3] == 'icu-sending' then
  local open = redis.call('GET', KEYS[3])
  if open then return redis.error_reply('INTENT an ICU is already recorded as sent: ' .. open) end
  redis.call('SET', KEYS[3], ARGV[1])
elseif ARGV[3] == 'icu-ended' then
  redis.call('DEL', KEYS[3])
end
return redis.call('XADD', KEYS[2], '*', 'r', ARGV[2])
"""
_ADMIT = """
local h = redis.call('HGET', KEYS[2], 'halt')
if h then return {0, h} end
if redis.call('ZSCORE', KEYS[1], ARGV[1]) then return {3, ''} end
local max = tonumber(redis.call('HGET', KEYS[2], 'max_in_flight') or '0')
if max > 0 and redis.call('ZCARD', KEYS[1]) >= max then return {2, ''} end
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
return {1, ''}
"""
_RECORD = """
local n = redis.call('HINCRBY', KEYS[1], 'failures', 1)
local max = tonumber(redis.call('HGET', KEYS[1], 'max_failures') or '-1')
if max >= 0 and n > max then
  local why = 'halted: ' .. n .. ' failures exceed --max-failures ' .. max
  redis.call('HSETNX', KEYS[1], 'halt', why)
end
return n
"""
_FINISHED = """
local published = ARGV[3]
local last = redis.call('GET', KEYS[5])  -- the run that took the newest fence
local ours = (not last) or last == ARGV[7]
if published == '1' and ARGV[5] ~= '' and redis.call('GET', KEYS[4]) ~= ARGV[5] and ours then
  published = '0'  -- a worker of this run whose fence was superseded: its outcome is not the run's
elseif published == '0' and (ARGV[8] ~= '1' or not ours) then
  published = '1'  -- not a copy of this run's own job: locked by another run, or handed over
end
if published == '1' then
  redis.call('HSETNX', KEYS[2], ARGV[1], ARGV[2])
  if redis.call('ZREM', KEYS[3], ARGV[1]) == 1 then redis.call('PUBLISH', ARGV[6], ARGV[1]) end
end
redis.call('XADD', KEYS[1], '*', 'k', 'finished', 'c', ARGV[1], 'o', ARGV[2],
  'p', published, 'e', ARGV[4])
return published
"""

_SCRIPTS = {
    "acquire": _ACQUIRE,
    "renew": _RENEW,
    "release": _RELEASE,
    "append": _APPEND,
    "admit": _ADMIT,
    "record": _RECORD,
    "finished": _FINISHED,
    "take_over": _TAKE_OVER,
    "request": _REQUEST,
    "extend": _EXTEND,
    "answer": _ANSWER,
}


def store_url(broker: str) -> str:
    """The redis-py URL of a Celery broker URL (redis+socket:///path is unix:///path)."""
    if broker.startswith("redis+socket://"):
        return "unix://" + broker[len("redis+socket://") :]
    return broker


def key(*parts: str) -> str:
    return PREFIX + ":".join(parts)


class RedisStore:
    """One Redis connection pool and the scripts; one per process. `fences` are the leases
    this process holds (cluster -> token), renewed by one thread."""

    def __init__(
        self, url: str, *, lease_ttl: float = LEASE_TTL, worker: str = "", timeout: float = 5.0
    ) -> None:
        self.url = store_url(url)

        # Blocking pools: a worker runs hundreds of cluster threads, and redis-py 8 caps a
        # plain pool at 100 connections and raises MaxConnectionsError past it (at 250
        # threads, clusters were reported failed). `control` is the lease renewals' and
        # heartbeats' own: they never wait behind the cluster threads.
        def pool(size: int) -> redis.BlockingConnectionPool:
            return redis.BlockingConnectionPool.from_url(
                self.url,
                max_connections=size,
                timeout=timeout,
                decode_responses=True,
                socket_timeout=timeout,
                socket_connect_timeout=timeout,
            )

        self.r = redis.Redis(connection_pool=pool(POOL_SIZE))
        self.control = redis.Redis(connection_pool=pool(4))
        self.lease_ttl = lease_ttl
        self.worker = worker or f"{socket.gethostname()}-{os.getpid()}"
        self.fences: dict[str, str] = {}
        self.last_fence: dict[str, str] = {}  # cluster -> the fence number last taken here
        self.lost: set[str] = set()
        self.held: dict[str, tuple[str, str]] = {}  # cluster -> (run id, job) of its lease
        self.asked: dict[str, tuple[str, AbortRequest]] = {}  # cluster -> (token, request)
        self._lock = threading.Lock()
        self.acked = threading.Condition(self._lock)  # notified when a request is acknowledged
        self._renewer: threading.Thread | None = None
        self._watcher: threading.Thread | None = None
        self.scripts = {n: self.r.register_script(s) for n, s in _SCRIPTS.items()}
        self.waker = SlotWaker(self.url)

    def run_script(
        self, name: str, keys: list[str], args: list[Any], client: redis.Redis | None = None
    ) -> Any:
        """Run one script; StoreUnreachable when Redis does not answer or says no."""
        try:
            return self.scripts[name](keys=keys, args=args, client=client)
        except redis.ResponseError as exc:
            text = str(exc)
            if text.startswith("STALE"):
                raise StaleLease(text[6:]) from None
            raise StoreUnreachable(f"store refused the write: {text}") from None
        except redis.RedisError as exc:
            raise StoreUnreachable(f"store unreachable: {type(exc).__name__}: {exc}") from None

    def ping(self) -> bool:
        try:
            return bool(self.r.ping())
        except redis.RedisError:
            return False

    # ICU durations, for the window fit (the local engine reads them from its journals) --
    def icu_times(self) -> dict[str, list[float]]:
        """Seconds of the last ICUS_KEPT ICUs verified ok, per model."""
        models: Any = self.r.smembers(key("icu-models"))
        return {
            m: [float(x) for x in self.r.lrange(key("icu-times", m), 0, ICUS_KEPT - 1)]
            for m in models
        }

    def add_icu_time(self, model: str, seconds: float) -> None:
        pipe = self.r.pipeline()
        pipe.sadd(key("icu-models"), model)
        pipe.lpush(key("icu-times", model), round(seconds, 1))
        pipe.ltrim(key("icu-times", model), 0, ICUS_KEPT - 1)
        pipe.execute()

    # leases --------------------------------------------------------------------------
    def _ensure_threads(self) -> None:
        """The lease renewer and the abort-request watcher, running once something is held."""
        with self._lock:
            for attr, loop, name in (
                ("_renewer", self._renew_loop, "lease-renewal"),
                ("_watcher", self._watch_loop, "abort-requests"),
            ):
                thread: threading.Thread | None = getattr(self, attr)
                if thread is None or not thread.is_alive():
                    thread = threading.Thread(target=loop, name=name, daemon=True)
                    setattr(self, attr, thread)
                    thread.start()

    def _renew_loop(self) -> None:
        while True:
            time.sleep(self.lease_ttl / 3)
            with self._lock:
                held = dict(self.fences)
            self.renew_all(held)

    def renew_all(self, held: dict[str, str]) -> set[str]:
        """Every lease of `held` (cluster -> token) kept, in one round trip; the clusters
        another worker has now are forgotten and returned. An outage loses none: the next
        renewal re-takes a lease while its fence is still ours."""
        pipe = self.control.pipeline(transaction=False)
        for cluster, token in held.items():
            fence = token.rsplit(" ", 1)[-1]
            keys = [key("lease", cluster), key("fence", cluster)]
            self.scripts["renew"](keys, [token, fence, int(self.lease_ttl * 1000)], client=pipe)
        try:
            answers = pipe.execute(raise_on_error=False)
        except redis.RedisError:
            return set()
        lost = set()
        for (cluster, token), ok in zip(held.items(), answers, strict=True):
            if not isinstance(ok, Exception) and not ok:
                with self._lock:
                    if self.fences.get(cluster) == token:
                        del self.fences[cluster]
                        self.lost.add(cluster)
                why = "this worker will write nothing more"
                log.error("lease of %s lost (%s): %s", cluster, token, why)
                lost.add(cluster)
        return lost

    def renew(self, cluster: str, token: str) -> bool:
        """Keep the lease; False (and forgotten) once another worker has the cluster."""
        return cluster not in self.renew_all({cluster: token})

    def hold(self, cluster: str, token: str, run_id: str, job: str) -> None:
        """A lease taken here (acquired, or taken over): renewed, and its requests watched."""
        with self._lock:
            self.fences[cluster] = token
            self.last_fence[cluster] = token.rsplit(" ", 1)[-1]
            self.lost.discard(cluster)
            self.held[cluster] = (run_id, job)
            self.asked.pop(cluster, None)  # a request the previous holder took is not ours
        self._ensure_threads()

    # the abort mailbox: the holder's side ----------------------------------------------
    def answer(
        self,
        cluster: str,
        request_id: str,
        run_id: str,
        fields: dict[str, Any],
        client: redis.Redis | None = None,
    ) -> bool:
        """Fields of the reply to request `request_id` set (`note` appended to its notes);
        False when the store did not take them (the requester's deadlines cover that)."""
        values = dict(fields)
        note = values.pop("note", None)
        values.update(run=run_id, pid=os.getpid(), at=time.time())
        args: list[Any] = [request_id, int(REPLY_TTL * 1000), redact(str(note or ""))]
        for name, value in values.items():
            args += [name, redact(json.dumps(value, default=str))]
        keys = [key("abort", cluster, "reply"), key("abort", cluster, "notes")]
        try:
            self.run_script("answer", keys, args, client=client)
        except RunbookError as exc:
            log.warning("abort request of %s: answer not stored: %s", cluster, exc)
            return False
        return True

    def _watch_loop(self) -> None:
        while True:
            time.sleep(WATCH_EVERY)
            with self._lock:
                clusters = [c for c in self.fences if c not in self.asked]
            if clusters:
                self.look(clusters)

    def look(self, clusters: list[str]) -> None:
        """The abort requests of `clusters` (held here) read in one round trip, and each
        acknowledged: the holder's plan acts on it at its next step."""
        try:
            raws: Any = self.control.mget([key("abort", c) for c in clusters])
        except redis.RedisError:
            return  # an outage: looked at again next time
        for cluster, raw in zip(clusters, raws, strict=True):
            request = request_from(raw)
            if request is not None:
                self._acknowledge(cluster, request)

    def _acknowledge(self, cluster: str, request: AbortRequest) -> None:
        with self._lock:
            token = self.fences.get(cluster)
            run_id, job = self.held.get(cluster, ("", ""))
        if token is None or request.by == run_id:
            return  # let go meanwhile, or this run's own request (it took the cluster over)
        fields = {"stage": "acknowledged", "acked": time.time(), "job": job}
        if not self.answer(cluster, request.id, run_id, fields, client=self.control):
            return  # asked again at the next look
        with self._lock:
            if self.fences.get(cluster) == token:
                self.asked[cluster] = (token, request)
                self.acked.notify_all()  # the plan waiting between two polls acts now


def request_from(raw: str | None) -> AbortRequest | None:
    """An abort request from its stored JSON; None for none (or a garbled one)."""
    if not raw:
        return None
    try:
        return AbortRequest(**json.loads(raw))
    except (TypeError, ValueError):
        return None


def reply_from(data: dict[str, str], notes: list[str]) -> Reply:
    """The holder's reply from its hash (values JSON) and notes list."""
    known: dict[str, Any] = {}
    for name, text in data.items():
        if name in Reply.__dataclass_fields__ and name != "notes":
            try:
                known[name] = json.loads(text)
            except ValueError:
                continue
    return Reply(**known, notes=[str(n) for n in notes])


def holder_of(token: str) -> str:
    """'run R (worker W)' of a lease token ("run R worker W fence n")."""
    words = token.split()
    if len(words) >= 4 and words[0] == "run" and words[2] == "worker":
        return f"run {words[1]} (worker {words[3]})"
    return token


class RedisLocks:
    """ClusterLocks on the store: a fenced lease per cluster, renewed while held, and the
    abort mailbox of a held cluster (see the module's doc). One per cluster job: `mine` are
    the tokens this job took, so a job of the same process that took the cluster over (an
    abort) is told apart from the holder it fenced off."""

    def __init__(self, store: RedisStore, run_id: str) -> None:
        self.store, self.run_id = store, run_id
        self.mine: dict[str, str] = {}  # cluster -> the lease token this job took
        self.jobs: dict[str, str] = {}  # cluster -> the job it asked the lease for
        self.requests: dict[str, str] = {}  # id -> stored JSON of the requests written here

    def token(self, cluster: str) -> str | None:
        """This job's lease token of `cluster` (one that took none speaks for the process)."""
        return self.mine.get(cluster) or self.store.fences.get(cluster)

    def acquire(self, cluster: str, device: str = "", job: str = "") -> str | None:
        del device  # one store for the fleet: the cluster's name is its key
        self.jobs[cluster] = job
        ok, value = self.store.run_script(
            "acquire",
            [key("lease", cluster), key("fence", cluster), key("fence-run", cluster)],
            [self._me(self.run_id), int(self.store.lease_ttl * 1000), self.run_id],
        )
        if not ok:
            return str(value)
        self._hold(cluster, str(value), self.run_id)
        return None

    def _me(self, run_id: str) -> str:
        return f"run {run_id} worker {self.store.worker}"

    def _hold(self, cluster: str, token: str, run_id: str) -> None:
        self.mine[cluster] = token
        self.store.hold(cluster, token, run_id, self.jobs.get(cluster, ""))

    def release(self, cluster: str) -> None:
        token = self.mine.pop(cluster, None)
        with self.store._lock:
            token = token or self.store.fences.get(cluster)
            if token is not None and self.store.fences.get(cluster) == token:
                del self.store.fences[cluster]  # not another job's, that took it over
                self.store.held.pop(cluster, None)
                self.store.asked.pop(cluster, None)
        if token is not None:
            try:
                self.store.run_script("release", [key("lease", cluster)], [token])
            except RunbookError as exc:
                log.warning("lease of %s not released (%s): it lapses by itself", cluster, exc)

    def release_all(self) -> None:
        for cluster in list(self.mine):
            self.release(cluster)

    def foreign_history(self, cluster: str) -> list[dict[str, Any]]:
        return []  # one journal per cluster in the store

    def wait_for_request(self, cluster: str, seconds: float) -> None:
        """Between two polls: woken the moment the watcher acknowledges a request."""
        with self.store._lock:
            self.store.acked.wait_for(
                lambda: self.store.asked.get(cluster, ("",))[0] == self.token(cluster), seconds
            )

    def fenced_off(self, cluster: str) -> str | None:
        """Who took the cluster from this job (its lease moved on), else None. The journal
        script refuses a stale fence in any case; this says who, and covers a job of this
        process that took the cluster over (the process's lease is then that job's)."""
        mine = self.mine.get(cluster)
        if mine is None:
            return None
        now = self.store.fences.get(cluster)
        if now == mine:
            try:
                lease: Any = self.store.r.get(key("lease", cluster))
                now = lease
            except redis.RedisError:
                return None  # the journal script decides
            if now is None or now == mine:
                return None  # held (a lapsed lease is re-taken while the fence is ours)
        who = holder_of(str(now)) if now else "another worker"
        return f"{who} took the cluster over"

    def take_over(self, cluster: str, device: str, by: str) -> None:
        """The holder answered nothing in time: a new fence and the lease by force, so the
        holder's next intent is refused (STALE) and this job holds the cluster."""
        del device
        token = self.store.run_script(
            "take_over",
            [key("lease", cluster), key("fence", cluster), key("fence-run", cluster)],
            [self._me(by), int(self.store.lease_ttl * 1000), by],
        )
        self._hold(cluster, str(token), by)

    # the abort mailbox: the holder's side ----------------------------------------------
    def abort_requested(self, cluster: str) -> AbortRequest | None:
        token = self.token(cluster)
        with self.store._lock:
            asked = self.store.asked.get(cluster)
            held = self.store.fences.get(cluster)
        if token is None or asked is None or asked[0] != token or held != token:
            return None
        return asked[1]

    def answer(self, cluster: str, **fields: Any) -> None:
        request = self.abort_requested(cluster)
        if request is not None:
            self.store.answer(cluster, request.id, self.run_id, fields)

    # the abort mailbox: the requester's side -------------------------------------------
    def request_abort(self, cluster: str, device: str, by: str) -> AbortRequest:
        """Ask the holder to abort; a live request of another abort is joined instead."""
        del device
        request = AbortRequest(secrets.token_hex(6), by, os.getpid(), time.time(), cluster)
        raw = json.dumps(asdict(request))
        name, ttl = key("abort", cluster), int(REQUEST_TTL * 1000)
        got = str(self.store.run_script("request", [name], [raw, ttl]))
        if got != raw:
            joined = request_from(got)
            if joined is not None:
                return joined  # another abort already asked: wait on the same answer
            try:  # a garbled request: ours replaces it
                self.store.r.set(name, raw, px=ttl)
            except redis.RedisError as exc:
                raise StoreUnreachable(f"store unreachable: {type(exc).__name__}") from None
        self.requests[request.id] = raw
        return request

    def renew_request(self, cluster: str, device: str, request: AbortRequest) -> None:
        raw = self.requests.get(request.id)
        if raw is None:
            return  # a joined request: its own requester renews it
        args = [raw, int(REQUEST_TTL * 1000)]
        # not renewed: again next time; past REQUEST_TTL it lapses, and the deadlines decide
        with contextlib.suppress(RunbookError):
            self.store.run_script("extend", [key("abort", cluster)], args)

    def reply(self, cluster: str, device: str, request: AbortRequest) -> Reply | None:
        pipe = self.store.r.pipeline(transaction=True)
        pipe.hgetall(key("abort", cluster, "reply"))
        pipe.lrange(key("abort", cluster, "notes"), 0, -1)
        try:
            data, notes = pipe.execute()
        except redis.RedisError:
            return None  # looked at again
        if not data or data.get("id") != request.id:
            return None
        return reply_from(data, notes)

    def withdraw(self, cluster: str, device: str, request: AbortRequest) -> None:
        raw = self.requests.pop(request.id, None)
        if raw is None:
            return
        with contextlib.suppress(RunbookError):  # else it lapses after REQUEST_TTL
            self.store.run_script("release", [key("abort", cluster)], [raw])


class RedisJournal:
    """Journal on the store: durable records only with our fence (the intent write). With
    `locks`, the fence is that job's own: a job this process's abort took the cluster from
    writes with the token it took, which the script then refuses."""

    def __init__(self, store: RedisStore, locks: RedisLocks | None = None) -> None:
        self.store, self.locks = store, locks

    def history(self, cluster: str, last: int | None = None) -> list[dict[str, Any]]:
        """The cluster's records, oldest first; with `last`, only the newest `last` of them."""
        try:
            name = key("journal", cluster)
            if last is None:
                entries: Any = self.store.r.xrange(name)
            else:
                newest: Any = self.store.r.xrevrange(name, count=last)
                entries = newest[::-1]
        except redis.RedisError as exc:
            raise StoreUnreachable(f"store unreachable: {type(exc).__name__}: {exc}") from None
        records = []
        for _, fields in entries:
            try:
                records.append(json.loads(fields["r"]))
            except (KeyError, ValueError):
                continue
        return records

    def write(self, event: Event) -> None:
        line = redact(json.dumps(event.to_json(), default=str))
        cluster = event.cluster
        if event.kind not in DURABLE:
            self._append_plain(cluster, line)
            return
        token = self.locks.token(cluster) if self.locks else self.store.fences.get(cluster)
        if token is None:
            raise StaleLease(f"no lease held on {cluster}: {event.kind} not written, not sent")
        keys = [key("lease", cluster), key("journal", cluster), key("intent", cluster)]
        self.store.run_script("append", keys, [token, line, str(event.kind)])

    def _append_plain(self, cluster: str, line: str) -> None:
        """A record no command waits for: a Redis restart is waited out (RETRY_FOR), so a
        blip mid-ICU does not fail a cluster that is only being watched."""
        end = time.monotonic() + self.RETRY_FOR
        while True:
            try:
                self.store.r.xadd(key("journal", cluster), {"r": line})
                return
            except redis.RedisError as exc:
                if time.monotonic() > end:
                    raise StoreUnreachable(f"store unreachable: {type(exc).__name__}") from None
                time.sleep(0.5)

    RETRY_FOR = 30.0

    def close(self) -> None:
        return None


SLOT_RECHECK = (4.0, 6.0)  # seconds a cluster waiting for a slot waits unwoken, at random


def freed_channel(run_id: str) -> str:
    """Where a freed in-flight slot of the run is announced (PUBLISH, the cluster's name)."""
    return key("run", run_id, "freed")


class SlotWaker:
    """Wakes the clusters of this process waiting for an in-flight slot of a run when one
    is freed anywhere (a message on `freed_channel`): one subscriber thread per process, a
    generation per run, so a slot freed between a waiter's full answer and its wait still
    wakes it. A lost connection wakes every waiter: each asks the store itself, so an outage
    is seen at once (the cluster fails on the store, nothing sent), not SLOT_RECHECK later."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.lock = threading.Lock()
        self.gens: dict[str, int] = {}
        self.conds: dict[str, threading.Condition] = {}
        self.thread: threading.Thread | None = None

    def seen(self, run_id: str) -> int:
        with self.lock:
            if self.thread is None:
                self.thread = threading.Thread(target=self._listen, name="slot-waker", daemon=True)
                self.thread.start()
            return self.gens.get(run_id, 0)

    def wait(self, run_id: str, seen: int, timeout: float) -> None:
        with self.lock:
            cond = self.conds.setdefault(run_id, threading.Condition(self.lock))
            cond.wait_for(lambda: self.gens.get(run_id, 0) != seen, timeout)

    def _listen(self) -> None:
        head, tail = len(key("run", "")), len(":freed")
        while True:
            try:
                # no retries: a lost connection must surface here at once, not be papered
                # over by a reconnect that loses the messages sent meanwhile
                client = redis.Redis.from_url(
                    self.url, decode_responses=True, retry=Retry(NoBackoff(), 0)
                )
                pubsub = client.pubsub(ignore_subscribe_messages=True)
                pubsub.psubscribe(freed_channel("*"))
                for message in pubsub.listen():
                    if message.get("type") != "pmessage":
                        continue
                    run_id = str(message["channel"])[head:-tail]
                    with self.lock:
                        self.gens[run_id] = self.gens.get(run_id, 0) + 1
                        if run_id in self.conds:
                            self.conds[run_id].notify()  # one waiter: one slot
            except redis.RedisError:
                self._wake_all()  # the store went away: every waiter asks it now and sees that
                time.sleep(1.0)

    def _wake_all(self) -> None:
        with self.lock:
            for run_id, cond in self.conds.items():
                self.gens[run_id] = self.gens.get(run_id, 0) + 1
                cond.notify_all()


class RedisGate:
    """FleetGate of one cluster job: the run's policy lives in `run:{r}` for every worker."""

    CACHE = 0.3  # seconds a read of halt/interrupt is reused (plans poll them in loops)
    # (store, run key) -> (when read, fields): shared by the jobs of a run in this process,
    # so a hundred clusters polling cost one read per CACHE, not one each
    _SEEN: dict[tuple[str, str], tuple[float, dict[str, str]]] = {}
    _SEEN_LOCK = threading.Lock()

    def __init__(self, store: RedisStore, run_id: str, cluster: str) -> None:
        self.store, self.run_id, self.cluster = store, run_id, cluster
        self.run_key = key("run", run_id)

    @property
    def _cache(self) -> tuple[float, dict[str, str]]:
        return self._SEEN.get((self.store.url, self.run_key), (0.0, {}))

    @_cache.setter
    def _cache(self, value: tuple[float, dict[str, str]]) -> None:
        with self._SEEN_LOCK:
            self._SEEN[(self.store.url, self.run_key)] = value

    def _fields(self) -> dict[str, str]:
        at, fields = self._cache
        if time.monotonic() - at > self.CACHE:
            try:
                names = ("halt", "interrupt", "failures")
                got: Any = self.store.r.hmget(self.run_key, list(names))
                fields = {k: str(v) for k, v in zip(names, got, strict=True) if v}
            except redis.RedisError:
                pass  # keep the last view: an outage is no interrupt
            self._cache = (time.monotonic(), fields)
        return fields

    @property
    def halted(self) -> str | None:
        return self._fields().get("halt")

    @property
    def failures(self) -> int:
        return int(self._fields().get("failures", 0))

    @property
    def interrupt_action(self) -> str:
        return "abort" if self._fields().get("interrupt") == "abort" else "finish"

    def interrupted(self) -> bool:
        return bool(self._fields().get("interrupt"))

    def interrupt(self, how: str) -> None:
        self.store.r.hset(self.run_key, "interrupt", "abort" if how == "abort" else "finish")
        self._cache = (0.0, {})

    def halt(self, reason: str) -> None:
        self.store.r.hsetnx(self.run_key, "halt", reason)
        self._cache = (0.0, {})

    def check(self) -> None:
        halted = self.halted
        if halted:
            raise NotStarted(halted)

    @contextmanager
    def slot(self) -> Iterator[None]:
        inflight = key("run", self.run_id, "inflight")
        waiting = False
        while True:
            seen = self.store.waker.seen(self.run_id)
            code, why = self.store.run_script(
                "admit", [inflight, self.run_key], [self.cluster, time.time()]
            )
            if code == 0:
                raise NotStarted(str(why))
            if code in (1, 3):
                break
            if not waiting:  # once: what the worker does now (its log with -v)
                waiting = True
                log.info("run %s %s: waiting for an in-flight slot", self.run_id, self.cluster)
            # Woken when a slot of the run is freed (SlotWaker), else asked again after a few
            # seconds: polling at 5 Hz, then at 1 Hz, the clusters waiting for a slot cost
            # more CPU than the clusters working, in the workers and in Redis
            self.store.waker.wait(self.run_id, seen, random.uniform(*SLOT_RECHECK))
        if code == 3:  # this cluster holds its slot already (a re-attach): not ours to free
            yield
            return
        try:
            yield
        finally:
            try:
                pipe = self.store.r.pipeline(transaction=False)
                pipe.zrem(inflight, self.cluster)
                pipe.publish(freed_channel(self.run_id), self.cluster)
                pipe.execute()
            except redis.RedisError:
                log.warning(
                    "in-flight slot of %s not freed: the coordinator frees it", self.cluster
                )

    def record(self, outcome: str) -> None:
        if outcome == "failed":
            try:
                self.store.run_script("record", [self.run_key], [])
                self._cache = (0.0, {})
            except RunbookError:
                log.warning("failure of %s not counted: the store did not answer", self.cluster)

    def reclaim(self, pid: int) -> int:
        del pid  # slots are keyed by cluster: the coordinator frees a finished one's
        return 0


def event_from(data: dict[str, Any]) -> Event:
    """An Event back from its JSON form (the stream's and the journal's)."""
    rec = dict(data)
    ts, run_id, job = float(rec.pop("ts")), str(rec.pop("run_id")), str(rec.pop("job"))
    cluster, kind = str(rec.pop("cluster")), EventKind(rec.pop("event"))
    return Event(ts, run_id, job, cluster, kind, rec)


def outcome_json(outcome: Outcome) -> str:
    data = {"outcome": outcome.outcome, "state": outcome.state, "versions": outcome.versions}
    data.update(detail=outcome.detail, extra=outcome.extra)
    return redact(json.dumps(data, default=str))


def outcome_of_json(text: str) -> Outcome:
    d = json.loads(text)
    return Outcome(d["outcome"], d["state"], d["versions"], d["detail"], d.get("extra") or {})


class StreamSink:
    """Sink onto the run's event stream. A store outage is retried a while, then the event is
    dropped (the coordinator reports a cluster it never heard the end of)."""

    RETRY_FOR = 30.0

    def __init__(self, store: RedisStore, run_id: str, *, fenced: bool = True) -> None:
        self.store, self.run_id, self.fenced = store, run_id, fenced
        self.stream = key("run", run_id, "events")
        self.published: bool | None = None  # whether the last outcome was the run's news

    def event(self, event: Event, *, quiet: bool = False) -> None:
        line = redact(json.dumps(event.to_json(), default=str))
        self._retry(
            lambda: self.store.r.xadd(self.stream, {"k": "event", "e": line, "q": int(quiet)})
        )

    def finished(self, cluster: str, outcome: Outcome, event: Event, *, published: bool) -> None:
        """The cluster's outcome. `published` False is the executor's "not this run's to
        journal": a copy of this run's own job that found the cluster locked is no news, but
        a cluster locked by another run, or an abort handed to the run holding it, is (the
        script decides, by the run that took the cluster's newest fence)."""
        keys = [self.stream, key("run", self.run_id, "done"), key("run", self.run_id, "inflight")]
        keys += [key("fence", cluster), key("fence-run", cluster)]
        line = redact(json.dumps(event.to_json(), default=str))
        fence = self.store.last_fence.get(cluster, "") if self.fenced else ""
        args = [cluster, outcome_json(outcome), "1" if published else "0", line, fence]
        args += [freed_channel(self.run_id), self.run_id, str(int(outcome.outcome == "locked"))]
        said = self._retry(lambda: self.store.run_script("finished", keys, args))
        self.published = published if said is None else str(said) == "1"

    def _retry(self, send: Any) -> Any:
        end = time.monotonic() + self.RETRY_FOR
        while True:
            try:
                return send()
            except (redis.RedisError, StoreUnreachable) as exc:
                if time.monotonic() > end:
                    log.error("run %s: event lost, store unreachable: %s", self.run_id, exc)
                    return None
                time.sleep(0.5)


@dataclass(frozen=True)
class RedisBackend:
    """tasks.state.backends.Backend on the store, for one cluster job: its journal writes
    with the job's own fence (`journal_type` lets a test crash between journal and wire)."""

    store: RedisStore
    cluster: str
    journal_type: type[RedisJournal] = RedisJournal

    def locks(self, run_id: str) -> RedisLocks:
        return RedisLocks(self.store, run_id)

    def journal(self, locks: Any) -> RedisJournal:
        return self.journal_type(self.store, locks if isinstance(locks, RedisLocks) else None)

    def gate(
        self, run_id: str, *, max_in_flight: int | None, max_failures: int | None
    ) -> RedisGate:
        del max_in_flight, max_failures  # the run's limits live in run:{r}, set by its coordinator
        return RedisGate(self.store, run_id, self.cluster)
