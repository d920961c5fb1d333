"""`--engine celery`: the operator's process as the coordinator of workers on other hosts.

The run is loaded and validated exactly as for the local engine (exit 2 before anything is
enqueued); then, instead of forking shards, the coordinator (`CeleryEngine`) writes the run's
job description (runbooks.engines.job_description: typed, versioned, no secrets) to `run:{r}`
in the Redis store, checks that every selected region
has a live worker (else exit 2, nothing enqueued), enqueues one Celery job per cluster on its
region's queue (`runbooks.<region>`, inventory key `region`), and follows the run's event
stream into the same progress view, report and `--events` as a local run. A worker that died
(heartbeat stale, lease lapsed, no outcome) has its cluster enqueued again: the next worker
re-attaches from the journal, never sending a second ICU (tasks.state.redis_store; the rule
for lost workers: runbooks.fleet.lost_work).
`python -m runbooks attach RUN_ID` follows a run whose coordinator died.

Celery is a transport only (docs/design/celery-engine.md): early ack, prefetch 1, no results, no
retries, no time limits, no ETA.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar

from runbooks.engines import fault_injection
from runbooks.engines.base import Engine, Job
from runbooks.engines.job_description import describe
from runbooks.fleet.lost_work import LostWork
from runbooks.output.progress import Progress
from runbooks.output.report import Report, now_iso
from runbooks.output.sinks import FleetView
from runbooks.output.tables import print_status_table
from tasks import ClusterSummary
from tasks.events import Event, EventKind
from tasks.state.backends import Backend, LocalBackend
from tasks.state.redis_store import RedisStore, StreamSink, event_from, key, outcome_of_json
from tasks.state.run_context import Outcome
from tasks.vocabulary import NODES

if TYPE_CHECKING:
    from celery import Celery
    from nornir.core.inventory import Host

    from runbooks.fleet.inventory import Fleet
    from runbooks.fleet.runner import Runner
    from runbooks.output.sinks import FleetView

log = logging.getLogger(__name__)

TASK = "runbooks.cluster_job"
HEARTBEAT = 1.0  # seconds between a worker process's heartbeats
MAX_ATTEMPTS = 3  # a cluster whose worker died this many times is reported, not retried
RUN_KEPT = 30 * 86400  # seconds a finished run's keys stay (attach, audits); journals stay
VISIBILITY = 43200  # seconds: with early ack it governs only reserved, unstarted messages


def stale() -> float:
    """Seconds after which a worker's heartbeat is stale: a dead worker (10; a test may
    shorten it, runbooks/engines/fault_injection.py)."""
    return fault_injection.worker_stale()


def queue(region: str) -> str:
    return f"runbooks.{region}"


def region_of(fleet: Fleet, name: str) -> str:
    return str(fleet.nr.inventory.hosts[name].get("region") or "default")


def fingerprint(host: Host) -> str:
    """What a worker's inventory must say of a cluster as the operator's did: the nodes it
    reaches, model, target release, package and region (credentials may differ)."""
    nodes = {}
    for node in NODES:
        opts = host.connection_options.get(node)
        optional = ((opts.extras or {}).get("optional_args") or {}) if opts else {}
        port = (opts.port if opts else None) or optional.get("port") or 830
        nodes[node] = [opts.hostname if opts else None, str(port)]
    facts = {k: host.get(k) for k in ("model", "target_release", "package", "region")}
    text = json.dumps({"nodes": nodes, **facts}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def make_app(broker: str, *, unsafe_acks_late: float | None = None) -> Celery:
    """The Celery app of workers and coordinator. `unsafe_acks_late` (seconds of visibility)
    turns on the redelivery the design forbids, with a fast restore sweep: only for tests
    that prove the store still works each cluster once (RUNBOOKS_TEST_FAULTS=acks-late=S,
    runbooks/engines/fault_injection.py)."""
    from celery import Celery  # here: a local run never pays for importing Celery

    app = Celery("runbooks", broker=broker, set_as_current=False)
    transport: dict[str, Any] = {"visibility_timeout": unsafe_acks_late or VISIBILITY}
    if unsafe_acks_late:
        transport.update(unacked_restore_interval=1, unacked_restore_throttle=1)
    app.conf.update(
        task_acks_late=bool(unsafe_acks_late),
        # a worker takes a job only when one of its threads is free: a job is never reserved
        # behind busy threads, where a SIGKILL would leave it for the visibility timeout
        worker_disable_prefetch=True,
        task_reject_on_worker_lost=False,
        worker_prefetch_multiplier=1,
        task_ignore_result=True,
        task_store_errors_even_if_ignored=False,
        task_serializer="json",
        accept_content=["json"],
        task_default_queue=queue("default"),
        task_time_limit=None,
        task_soft_time_limit=None,
        broker_transport_options=transport,
        result_backend_transport_options=transport,
        visibility_timeout=unsafe_acks_late or VISIBILITY,
        broker_connection_retry_on_startup=True,
        worker_cancel_long_running_tasks_on_connection_loss=False,
        worker_hijack_root_logger=False,
        worker_send_task_events=False,
        worker_enable_remote_control=False,  # no pidbox queue: no key outside the ACL
    )
    return app


class CeleryEngine(Engine):
    """`--engine celery`: this process coordinates; the clusters are worked by the workers
    of their regions (runbooks.engines.celery_worker)."""

    name: ClassVar[str] = "celery"

    def __init__(self, broker: str, args: argparse.Namespace) -> None:
        self.broker, self.args = broker, args

    def backend(self, fleet: Fleet) -> Backend:
        return LocalBackend(fleet.state_dir)  # no cluster is worked in this process

    def run(self, runner: Runner) -> int:
        """The run on the workers; same progress, report and exit codes as a local run."""
        budget = runner.budget
        limits = (runner.opts.max_in_flight or 0, -1 if budget is None else int(budget))
        fleet = runner.fleet
        coord = prepare_run(
            fleet, runner.report.run_id, self.broker, self.args, limits, runner.view
        )
        if isinstance(coord, int):
            return coord
        coord.install_signals(str(runner.opts.policy.get("on_interrupt", "finish")))
        waves = runner.waves()

        def between(index: int) -> str | None:  # the same rule and pause as a local run's
            return runner.between_waves(waves, index, coord.halted)  # a stop ends a wait

        return coord.run(waves, runner.opts.job, between=between)

    def status(self, args: argparse.Namespace, fleet: Fleet, local: Job) -> Job:
        del local
        return status_coordinator(args, fleet, self.broker)


def status_coordinator(args: argparse.Namespace, fleet: Fleet, broker: str) -> Job:
    """`status --engine celery` in the operator's process: each cluster read by a worker of
    its region; the same table, report and exit code as a local status."""

    def run(report: Report) -> int:
        paths: Any = (args.report, None)
        view = FleetView(report, Progress(job="status", total=len(fleet.names)), None, paths)
        coord = prepare_run(fleet, report.run_id, broker, args, (0, -1), view)
        if isinstance(coord, int):
            return coord
        coord.install_signals("finish")
        code = coord.run([fleet.names], "status", summary=False)
        print_status_table([summary_of(n, view.outcomes[n]) for n in fleet.names])
        return code

    return run


def summary_of(name: str, o: Outcome) -> ClusterSummary:
    """The status table's row back from a report entry."""
    extra = o.extra or {}
    rgs = {int(k[2:]): v for k, v in (extra.get("rg_primary") or {}).items() if k[2:].isdigit()}
    findings = tuple(extra.get("findings") or ([o.detail] if o.outcome != "ok" else []))
    pending = extra.get("pending_install") or {}
    return ClusterSummary(
        name, o.state, o.versions, rgs, pending, findings, tuple(extra.get("notes") or ())
    )


def prepare_run(
    fleet: Fleet,
    run_id: str,
    broker: str,
    args: argparse.Namespace,
    limits: tuple[int, int],  # max in flight (0: none), failure budget (-1: none)
    view: FleetView,
) -> Coordinator | int:
    """The run written to the store, ready to enqueue; exit code 2 when it cannot start."""
    try:
        fault_injection.current()  # a test's faults, if any: refused here when malformed
    except fault_injection.BadFaults as exc:
        sys.stderr.write(f"error: {exc}: nothing enqueued\n")
        return 2
    store = RedisStore(broker)
    if not store.ping():
        sys.stderr.write("error: the Redis store at --broker does not answer: nothing enqueued\n")
        return 2
    regions = {name: region_of(fleet, name) for name in fleet.names}
    missing = sorted(r for r in set(regions.values()) if not live_workers(store, r))
    if missing:
        sys.stderr.write(
            f"error: no live worker for region {', '.join(missing)}: start "
            f"'python -m runbooks worker --broker URL --region {missing[0]}'; nothing enqueued\n"
        )
        return 2
    description = describe(args, regions)  # what the workers are told: typed, versioned
    fields: dict[Any, Any] = {"description": description.model_dump_json(), "job": args.job}
    fields.update(created=time.time(), max_in_flight=limits[0], max_failures=limits[1])
    store.r.hset(key("run", run_id), mapping=fields)
    hosts = fleet.nr.inventory.hosts
    prints = {name: fingerprint(hosts[name]) for name in regions}
    names = sorted(prints)
    for i in range(0, len(names), 1000):  # what each worker checks its inventory against
        chunk: dict[Any, Any] = {n: prints[n] for n in names[i : i + 1000]}
        store.r.hset(key("run", run_id, "inventory"), mapping=chunk)
    sys.stderr.write(f"run {run_id}: {len(regions)} clusters on the celery engine\n")
    return Coordinator(store, make_app(broker), run_id, regions, view)


def live_workers(store: RedisStore, region: str) -> list[str]:
    """Worker processes of `region` whose heartbeat is fresh."""
    found: Any = store.r.zrangebyscore(key("workers", region), time.time() - stale(), "+inf")
    return [str(w) for w in found]


class Coordinator:
    """Enqueues a run's cluster jobs and follows its event stream (also for `attach`)."""

    def __init__(
        self,
        store: RedisStore,
        app: Celery | None,
        run_id: str,
        regions: dict[str, str],
        view: FleetView,
    ) -> None:
        self.store, self.app, self.run_id, self.regions, self.view = (
            store,
            app,
            run_id,
            regions,
            view,
        )
        self.last_id = "0-0"
        self.ended_now: list[str] = []  # clusters whose outcome arrived since follow() looked
        self.outage_until = 0.0
        self.lost = LostWork(MAX_ATTEMPTS)  # runbooks.fleet.lost_work: re-enqueue, or end it
        self.unclaimed: dict[str, float] = {}  # cluster -> since when its job seems lost
        self.run_key = key("run", run_id)
        self._signals = 0
        self.stop_now: Callable[[], None] | None = None

    def run(
        self,
        waves: list[list[str]],
        job: str,
        summary: bool = True,
        between: Callable[[int], str | None] | None = None,  # may wave N start? (None: yes)
    ) -> int:
        """The run's clusters wave by wave (runbooks.fleet.waves); a wave is enqueued only
        once `between` allows it, and nothing at all once the run's halt is set."""
        names = [n for wave in waves for n in wave]
        self.view.progress.start()
        self._publish(job, EventKind.RUN_STARTED, clusters=len(names))
        try:
            for index, wave in enumerate(waves):
                if index and between is not None and not self.halted() and (why := between(index)):
                    self.store.r.hsetnx(self.run_key, "halt", why)  # nothing more is enqueued
                halted = self.store.r.hget(self.run_key, "halt")
                if halted:
                    for name in wave:
                        self.view.settle(name, Outcome("not-started", "unknown", {}, str(halted)))
                    continue
                self._enqueue(wave)
                self.follow(wave)
        finally:
            self.view.progress.stop()
        return self.end(names, job, summary)

    def halted(self) -> str | None:
        """Why the run stopped starting clusters (its `halt` in the store), or None."""
        try:
            value: Any = self.store.r.hget(self.run_key, "halt")
        except Exception:  # redis.RedisError: an outage is no stop
            return None
        return str(value) if value else None

    def end(self, names: list[str], job: str, summary: bool = True) -> int:
        for name in names:
            self.view.settle(name, Outcome("not-started", "unknown", {}, "not reached"))
        self.view.report.finished = now_iso()
        self.view.write_report()
        counts: dict[str, int] = {}
        for o in self.view.outcomes.values():
            counts[o.outcome] = counts.get(o.outcome, 0) + 1
        self._publish(job, EventKind.RUN_FINISHED, outcomes=counts)
        self._expire()
        self.view.close()
        if summary:
            self.view.progress.summary(self.view.outcomes, job)
        return 0 if all(o.good for o in self.view.outcomes.values()) else 1

    def _expire(self) -> None:
        """The run's own keys go after RUN_KEPT; the clusters' journals and fences never."""
        try:
            for name in [self.run_key, *self.store.r.scan_iter(match=f"{self.run_key}:*")]:
                self.store.r.expire(name, RUN_KEPT)
        except Exception as exc:  # redis.RedisError: the keys stay; nothing else depends on it
            log.warning("run %s: keys not set to expire: %s", self.run_id, exc)

    def _publish(self, job: str, kind: EventKind, **data: Any) -> None:
        self.view.event(Event(time.time(), self.run_id, job, "", kind, data))

    def _enqueue(self, names: list[str], attempt: int = 0) -> None:
        assert self.app is not None
        for name in names:
            self.lost.started(name, attempt)
            self.app.send_task(
                TASK, args=[self.run_id, name, attempt], queue=queue(self.regions[name])
            )

    def follow(self, names: list[str]) -> None:
        """Read the stream until every one of `names` has an outcome."""
        waiting = {n for n in names if n not in self.view.outcomes}
        checked = time.monotonic()
        while waiting:
            self.read(block_ms=500)
            waiting.difference_update(self.ended_now)  # not the whole fleet at each read
            self.ended_now.clear()
            if waiting and time.monotonic() - checked > max(HEARTBEAT, stale() / 2):
                checked = time.monotonic()
                self.check_lost(waiting)

    def read(self, block_ms: int = 0) -> int:
        stream = key("run", self.run_id, "events")
        try:
            got: Any = self.store.r.xread({stream: self.last_id}, count=500, block=block_ms or None)
        except Exception as exc:  # redis.RedisError: an outage; the workers retry their events
            log.warning("run %s: event stream unreadable: %s", self.run_id, exc)
            self.outage_until = time.monotonic() + stale()  # heartbeats stopped too: no verdicts
            time.sleep(1.0)
            return 0
        count = 0
        for _, entries in got or []:
            for entry_id, fields in entries:
                self.last_id = entry_id
                self._deliver(fields)
                count += 1
        return count

    def _deliver(self, fields: dict[str, str]) -> None:
        event = event_from(json.loads(fields["e"]))
        if fields.get("k") == "event":
            self.view.event(event, quiet=fields.get("q") == "1")
            return
        cluster = fields["c"]
        if fields.get("p") != "1" or cluster in self.view.outcomes:
            return  # a duplicate copy's "locked", or a second end: not this run's news
        self.view.finished(cluster, outcome_of_json(fields["o"]), event, published=True)
        self.ended_now.append(cluster)

    def check_lost(self, waiting: set[str]) -> None:
        """Clusters whose worker died: enqueued again (the next worker re-attaches)."""
        if self.app is None or time.monotonic() < self.outage_until:
            return
        try:
            self._check_lost(waiting)
        except Exception as exc:  # redis.RedisError: an outage; look again next time
            log.warning("run %s: workers not checked: %s", self.run_id, exc)
            self.outage_until = time.monotonic() + stale()

    def _check_lost(self, waiting: set[str]) -> None:
        ended: Any = self.store.r.hgetall(key("run", self.run_id, "ended"))  # before done:
        claimed: Any = self.store.r.hgetall(key("run", self.run_id, "claimed"))
        done: Any = self.store.r.hkeys(key("run", self.run_id, "done"))  # a worker writes it first
        for cluster in sorted(waiting & set(ended) - set(done)):  # its outcome was lost
            self.store.r.hdel(key("run", self.run_id, "ended"), cluster)
            self.store.r.hdel(key("run", self.run_id, "claimed"), cluster)
            self._again(cluster, f"the job on {ended[cluster]} ended with no outcome stored")
        live: dict[str, list[str]] = {}  # region -> its live workers, read once per check
        for cluster in sorted(waiting & set(claimed) - set(done) - set(ended)):
            worker = claimed[cluster]
            region = self.regions[cluster]
            if region not in live:
                live[region] = live_workers(self.store, region)
            if worker in live[region]:
                continue
            if self.store.r.exists(key("lease", cluster)):
                continue  # its lease has not lapsed yet
            self.store.r.hdel(key("run", self.run_id, "claimed"), cluster)
            self._again(cluster, f"worker {worker} lost")
        self._check_undelivered(waiting - set(claimed) - set(done) - set(ended))

    def _check_undelivered(self, unclaimed: set[str]) -> None:
        """A job taken off its queue but never claimed (its worker died in that instant, or
        its claim found no store for ENDED_RETRY): with the region's queue empty for stale()
        seconds and still no claim, nothing will work it; it is enqueued again. A copy that
        does turn up later finds the cluster leased or done (one ICU all the same)."""
        now, empty = time.monotonic(), {}
        for region in {self.regions[c] for c in unclaimed}:
            empty[region] = not self.store.r.llen(queue(region))
        since = {c: self.unclaimed.get(c, now) for c in unclaimed if empty[self.regions[c]]}
        self.unclaimed = {c: at for c, at in since.items() if now - at < stale()}
        for cluster in sorted(set(since) - set(self.unclaimed)):
            self._again(cluster, "its job was taken off the queue but never started")

    def _again(self, cluster: str, why: str) -> None:
        """Enqueue the cluster's job once more: the next worker re-attaches from the journal."""
        attempt = self.lost.again(cluster)
        if attempt is None:
            self._lost(cluster, self.lost.ended(cluster, why, in_flight=True))
            return
        log.warning("run %s: %s: %s enqueued again", self.run_id, why, cluster)
        sys.stderr.write(f"{cluster}: {why}; re-attaching on another worker\n")
        self._enqueue([cluster], attempt)

    def _lost(self, cluster: str, outcome: Outcome) -> None:
        """The cluster reported failed, and so recorded in the store (`done`, the stream): a
        copy of its job that turns up later finds it done and does nothing, and `attach`
        reads the same outcome."""
        event = Event(
            time.time(),
            self.run_id,
            self.view.report.job,
            cluster,
            EventKind.CLUSTER_FINISHED,
            {"outcome": outcome.outcome, "state": outcome.state, "detail": outcome.detail},
        )
        StreamSink(self.store, self.run_id, fenced=False).finished(
            cluster, outcome, event, published=True
        )
        self.view.finished(cluster, outcome, event, published=True)
        self.ended_now.append(cluster)

    # interrupts -----------------------------------------------------------------------
    def install_signals(self, how: str) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        self.how = "abort" if how == "abort" else "finish"
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, self._on_signal)
        from runbooks.cli import signals

        for signum in signals.take_pending():
            self._on_signal(signum, None)

    def _on_signal(self, signum: int, frame: Any) -> None:
        del frame
        self._signals += 1
        if self._signals == 1:
            self.store.r.hsetnx(self.run_key, "halt", "interrupted before start")
            self.store.r.hset(self.run_key, "interrupt", self.how)
            sys.stderr.write(
                f"\n{signal.Signals(signum).name}: no new clusters will start; in-flight ones "
                f"will {'be aborted' if self.how == 'abort' else 'finish'} on their workers. "
                "Again to stop following (python -m runbooks attach follows again).\n"
            )
            return
        for name in self.regions:
            if name not in self.view.outcomes:
                self.view.settle(
                    name,
                    Outcome("failed", "unknown", {}, f"coordinator stopped; attach {self.run_id}"),
                )
        self.view.report.finished = now_iso()
        self.view.write_report()
        self.view.report.write_html()  # --html, as the JSON report: also when stopped now
        os._exit(130)
