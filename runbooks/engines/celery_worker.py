"""`python -m runbooks worker` and `python -m runbooks attach`.

A worker process is a Celery worker (threads pool, early ack, prefetch 1, no results, no
retries, no time limits) consuming its region's queue. A job is `(run_id, cluster, attempt)`:
the worker reads the run's job description from the store (runbooks.engines.job_description,
refused when it cannot take it), loads its own config and inventory (credentials come from
the worker's inventory and environment, never from a message), validates the options as the
CLI does, and runs the very per-cluster call a local worker process runs (Runner.work on one
cluster: tasks.executor with the job's plan) on its `WorkerEngine`: a Redis-backed context
fenced lease, conditional intent writes, the fleet's in-flight set, halt/interrupt, the
event stream. `--processes N` starts N such processes; each heartbeats `workers:{region}`.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import dataclasses
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from nornir.core import Nornir
from nornir.core.inventory import Host, Hosts, Inventory

from runbooks.cli import inputs
from runbooks.cli.main import JOBS, build_parser
from runbooks.engines import celery_coordinator, fault_injection
from runbooks.engines.base import Engine, Launch
from runbooks.engines.celery_status import work_status
from runbooks.engines.job_description import JobDescription, namespace, received
from runbooks.engines.registry import BROKER_ENV
from runbooks.fleet import inventory
from runbooks.fleet.windows import icu_durations
from runbooks.output.progress import Progress
from runbooks.output.report import Report
from runbooks.output.sinks import EventsFile, FleetView
from tasks.errors import BadInput
from tasks.events import Event, EventKind
from tasks.state.backends import Backend
from tasks.state.redis_store import (
    LEASE_TTL,
    RedisBackend,
    RedisJournal,
    RedisStore,
    StreamSink,
    key,
)
from tasks.state.run_context import Outcome, Sink

if TYPE_CHECKING:
    from runbooks.fleet.runner import Runner
    from runbooks.output.sinks import FleetView

log = logging.getLogger(__name__)


@dataclasses.dataclass
class WorkerConfig:
    store: RedisStore
    region: str
    config: str | None
    inventory: str | None
    # tests only (RUNBOOKS_TEST_FAULTS, runbooks/engines/fault_injection.py): never a flag
    die_after_intent: bool = False  # SIGKILL between the ICU intent and the wire
    die_before_claim: bool = False  # SIGKILL once a job is acked, before its claim


def cluster_job(conf: WorkerConfig, run_id: str, cluster: str, attempt: int = 0) -> None:
    """The Celery task (bound to this process's WorkerConfig by `_serve`): one cluster of
    one run. Never raises (no retry may follow)."""
    store = conf.store
    if conf.die_before_claim:
        os.kill(os.getpid(), signal.SIGKILL)
    claimed = _claim(store, run_id, cluster)
    if claimed is None:
        return
    raw, job = claimed
    log.info("run %s %s: attempt %d on %s", run_id, cluster, attempt, store.worker)
    sink = _Tracking(StreamSink(store, run_id, fenced=job != "status"))
    try:
        _run_one(conf, received(raw), run_id, cluster, sink)  # the description checked first
    except BadInput as exc:
        _report(sink, run_id, job, cluster, f"worker {store.worker} refused the run: {exc}")
    except BaseException as exc:  # a bug or an outage must not leave the cluster silent
        log.exception("run %s %s: worker error", run_id, cluster)
        _report(sink, run_id, job, cluster, f"worker error: {type(exc).__name__}: {exc}")
    else:
        if not sink.ended:
            _report(sink, run_id, job, cluster, "no outcome: the store did not answer")
    finally:
        if sink.published:  # not a duplicate copy that found the cluster locked
            _mark_ended(store, run_id, cluster)


def _claim(store: RedisStore, run_id: str, cluster: str) -> tuple[str, str] | None:
    """The run's job description and job, the job claimed; None for an unknown run or a
    copy of an ended job.
    A store that does not answer is tried again (a job dropped here would never come back
    by itself: it was acked when it started), for ENDED_RETRY, then the job is dropped with
    a log line (the coordinator enqueues a job nobody claimed again)."""

    def claim() -> Any:
        raw, job = store.r.hmget(key("run", run_id), ["description", "job"])
        if raw is None or store.r.hexists(key("run", run_id, "done"), cluster):
            return None  # an unknown run, or a second copy of a job that has ended
        # the first copy claims it; the coordinator drops the claim when it enqueues again
        store.r.hsetnx(key("run", run_id, "claimed"), cluster, store.worker)
        store.r.hincrby(key("run", run_id, "deliveries"), cluster, 1)  # copies seen
        return str(raw), str(job)

    return _until_answered(claim, f"run {run_id} {cluster}: job dropped, claim")


ENDED_RETRY = 120.0  # seconds a job's claim and end marker are retried through a store outage


def _mark_ended(store: RedisStore, run_id: str, cluster: str) -> None:
    """This job is over (after its outcome, if that got out): a cluster whose job ended with
    no outcome in the store (one lost in an outage) is enqueued again by the coordinator."""
    mine = store.last_fence.get(cluster)

    def mark() -> None:
        if mine and store.r.get(key("fence", cluster)) != mine:
            return  # another worker took the cluster over: its job, not ours, will end it
        store.r.hset(key("run", run_id, "ended"), cluster, store.worker)

    _until_answered(mark, f"run {run_id} {cluster}: end not recorded")


def _until_answered(attempt: Callable[[], Any], what: str) -> Any:
    """`attempt()` again each second while the store does not answer, for ENDED_RETRY;
    then None, logged as `what`."""
    end = time.monotonic() + ENDED_RETRY
    while True:
        try:
            return attempt()
        except Exception as exc:  # redis.RedisError: nothing was done yet
            if time.monotonic() > end:
                log.error("%s: the store did not answer: %s", what, exc)
                return None
            log.warning("%s: the store did not answer, tried again: %s", what, exc)
            time.sleep(1.0)


class _Tracking:
    """The stream sink, remembering whether the cluster's outcome went out."""

    def __init__(self, sink: StreamSink) -> None:
        self.sink, self.ended = sink, False
        self.published = True  # False once the job's end was not this run's news (locked)

    def event(self, event: Event, *, quiet: bool = False) -> None:
        self.sink.event(event, quiet=quiet)

    def finished(self, cluster: str, outcome: Outcome, event: Event, *, published: bool) -> None:
        self.ended, self.published = True, published
        self.sink.finished(cluster, outcome, event, published=published)
        if self.sink.published is not None:  # what the store made of it (StreamSink.finished)
            self.published = self.sink.published


def _report(sink: _Tracking, run_id: str, job: str, cluster: str, detail: str) -> None:
    if sink.ended:
        return
    outcome = Outcome("failed", "unknown", {}, detail)
    data = {"outcome": "failed", "state": "unknown", "detail": detail}
    event = Event(time.time(), run_id, job, cluster, EventKind.CLUSTER_FINISHED, data)
    sink.finished(cluster, outcome, event, published=True)


def _run_one(
    conf: WorkerConfig, desc: JobDescription, run_id: str, cluster: str, sink: _Tracking
) -> None:
    """The CLI's own validation and job preparation, for this one cluster, from the job
    description (this worker's config and inventory, the job's options)."""
    with _PREPARING:
        args = namespace(desc, _parser())
    if conf.config:
        args.config = conf.config
    if conf.inventory:
        args.inventory = conf.inventory
    args.cluster = [cluster]
    with _PREPARING:  # one cluster thread at a time loads (and caches) the fleet
        fleet, job = _prepare(args, cluster, conf.region)
    _same_inventory(conf.store, run_id, fleet, cluster)
    if not isinstance(job, Launch):  # status: read-only, published as the cluster's outcome
        work_status(conf.store, fleet, run_id, cluster, sink)
        return
    job.engine = WorkerEngine(conf, cluster, sink)
    job(Report(job=args.job, run_id=run_id))


_PREPARING = threading.Lock()
_PARSER: list[argparse.ArgumentParser] = []


def _parser() -> argparse.ArgumentParser:
    """The CLI's parser, built once per process (6 % of a job's CPU, measured); under
    _PREPARING."""
    if not _PARSER:
        _PARSER.append(build_parser())
    return _PARSER[0]


def _prepare(args: argparse.Namespace, cluster: str, region: str) -> tuple[Any, Any]:
    """The run's flags checked as the CLI does, the fleet narrowed to this cluster."""
    problems = list(inputs.check_flags(args))
    if problems:
        raise inputs.InputErrors(problems)
    full = _loaded(args)
    host = full.nr.inventory.hosts.get(cluster)
    if host is None:
        raise BadInput(f"unknown cluster {cluster} in this worker's inventory")
    whole = full.nr.inventory
    nr = Nornir(  # not nr.filter(): that walks every host of the fleet, for each job
        inventory=Inventory(Hosts({cluster: own_host(host)}), whole.groups, whole.defaults),
        config=full.nr.config,
        data=full.nr.data,
        processors=full.nr.processors,
        runner=full.nr.runner,
    )
    fleet = inventory.Fleet(nr=nr, state_dir=full.state_dir, user_defined=full.user_defined)
    found = celery_coordinator.region_of(fleet, cluster)
    if found != region:
        raise BadInput(f"{cluster} is in region {found}, not {region}: not worked here")
    return fleet, JOBS[args.job].prepare(args, fleet)


def _same_inventory(store: RedisStore, run_id: str, fleet: inventory.Fleet, cluster: str) -> None:
    """Refuse a cluster this worker's inventory describes otherwise than the operator's did
    (another target, package, model, region or node address): the operator's checks were
    made on what the operator's inventory says."""
    expected: Any = store.r.hget(key("run", run_id, "inventory"), cluster)
    found = celery_coordinator.fingerprint(fleet.nr.inventory.hosts[cluster])
    if expected is not None and expected != found:
        raise BadInput(
            f"{cluster}: this worker's inventory differs from the operator's (node addresses, "
            "model, target_release, package or region): not worked here"
        )


def own_host(host: Host) -> Host:
    """The cluster's host for this job alone. The loaded inventory is shared by the jobs of
    this process, and a job delivered twice runs on two of its threads at once: sharing the
    host would share its node sessions, so one copy's close or reconnect would cut the
    other's RPCs (measured: two threads polling one host, one of them dropping its session
    now and then: 56 of 200 observations lost)."""
    mine = copy.copy(host)
    mine.connections = {}
    mine.connection_options = copy.deepcopy(host.connection_options)
    return mine


_FLEETS: dict[tuple[Any, ...], inventory.Fleet] = {}


def _loaded(args: argparse.Namespace) -> inventory.Fleet:
    """Config and inventory loaded (and checked) once per version of their files, not per job:
    a fleet of thousands would otherwise parse its inventory thousands of times. The run's
    --transport, when the operator gave one, is the job's (its description carries it) over
    the worker's own config; without it the worker's config decides."""
    files = [Path(args.config)]
    if args.inventory:
        files += [Path(args.inventory) / f for f in ("hosts.yaml", "groups.yaml", "defaults.yaml")]
    stamp = tuple((str(p), p.stat().st_mtime_ns if p.exists() else 0) for p in files)
    dry_run = bool(getattr(args, "dry_run", False))
    transport = getattr(args, "transport", None)  # the operator's --transport, if given
    cache_key = (stamp, dry_run, transport)
    if cache_key not in _FLEETS:
        problems = list(inputs.check_files(Path(args.config), args.inventory))
        if problems:
            raise inputs.InputErrors(problems)
        _FLEETS.clear()
        _FLEETS[cache_key] = inventory.load(
            config_file=args.config,
            inventory_dir=args.inventory,
            clusters=[],
            filters=[],
            workers=1,
            dry_run=dry_run,
            transport=transport,
        )
    return _FLEETS[cache_key]


class WorkerEngine(Engine):
    """The engine inside a worker process: the job's one cluster, with the store's state
    (fenced lease, conditional journal, the fleet's in-flight set) and the stream sink."""

    name: ClassVar[str] = "celery-worker"

    def __init__(self, conf: WorkerConfig, cluster: str, sink: _Tracking) -> None:
        self.conf, self.cluster, self.tracking = conf, cluster, sink

    def backend(self, fleet: inventory.Fleet) -> Backend:
        journal = _DyingJournal if self.conf.die_after_intent else RedisJournal
        return RedisBackend(self.conf.store, self.cluster, journal)

    def sink(self, view: FleetView) -> Sink:
        del view  # the operator's view is the coordinator's, fed by the stream
        return self.tracking

    def run(self, runner: Runner) -> int:
        store, run_id, cluster = self.conf.store, runner.report.run_id, self.cluster
        upgrade = runner.opts.job == "upgrade"
        if upgrade:  # the window fit's estimate: past ICUs of the fleet, not this host's journals
            runner.icu_history = _icu_times(store)
        try:
            runner.work([cluster], 1)
        finally:
            if runner.context.transcripts is not None:
                runner.context.transcripts.close()
        if upgrade:
            _record_icu_time(store, run_id, cluster)
        return 0


def _icu_times(store: RedisStore) -> dict[str, list[float]]:
    try:
        return store.icu_times()
    except Exception:  # redis.RedisError: the inventory's estimate then
        return {}


def _record_icu_time(store: RedisStore, run_id: str, cluster: str) -> None:
    """This run's ICU of the cluster, verified ok: its duration joins the model's history."""
    try:
        recent = RedisJournal(store).history(cluster, last=RECENT)  # not every run's, ever
        ended = [d for d in icu_durations(recent) if d[2] == run_id]
        if ended:
            store.add_icu_time(ended[-1][0], ended[-1][1])
    except Exception as exc:  # redis.RedisError: one estimate less, nothing else
        log.warning("run %s %s: ICU duration not recorded: %s", run_id, cluster, exc)


RECENT = 2000  # journal records read back for the ICU just verified (one run: ~100)


class _DyingJournal(RedisJournal):
    """Tests only (RUNBOOKS_TEST_FAULTS=die-after-intent): the crash between journal and
    wire, at its worst moment."""

    def write(self, event: Event) -> None:
        super().write(event)
        if event.kind is EventKind.ICU_SENDING:
            os.kill(os.getpid(), signal.SIGKILL)


# the worker command ---------------------------------------------------------------------
def worker_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m runbooks worker",
        description="Work the cluster jobs of one region's queue (--engine celery).",
    )
    p.add_argument(
        "--broker",
        default=os.environ.get(BROKER_ENV),
        metavar="URL",
        help=f"the Redis URL, store and broker (default: ${BROKER_ENV})",
    )
    p.add_argument("--region", required=True, help="the inventory region this worker reaches")
    p.add_argument("--processes", type=int, default=1, metavar="N", help="worker processes")
    p.add_argument("--workers", type=int, default=50, metavar="M", help="clusters per process")
    p.add_argument("--config", help="this host's config.yaml (default: the run's --config)")
    p.add_argument("--inventory", metavar="DIR", help="this host's inventory (default: the run's)")
    p.add_argument("--lease-ttl", type=float, default=LEASE_TTL, help=argparse.SUPPRESS)
    p.add_argument("-v", "--verbose", action="count", default=0)
    # the tests' faults (a worker that dies on cue, redeliveries) are no flags of this command:
    # RUNBOOKS_TEST_FAULTS only (runbooks/engines/fault_injection.py,
    # docs/development/fault-injection.md)
    return p


def worker_main(argv: list[str]) -> int:
    args = worker_parser().parse_args(argv)
    if not args.broker:
        sys.stderr.write(f"error: --broker URL (or ${BROKER_ENV}) is required\n")
        return 2
    if args.processes < 1 or args.workers < 1:
        sys.stderr.write("error: --processes and --workers must be at least 1\n")
        return 2
    if not all(c.isalnum() or c in "-_" for c in args.region):
        sys.stderr.write(f"error: --region {args.region!r}: letters, digits, - and _ only\n")
        return 2
    try:
        args.faults = fault_injection.current()
    except fault_injection.BadFaults as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 2
    if args.faults.names():
        names = ", ".join(args.faults.names())
        sys.stderr.write(f"warning: {fault_injection.ENV}: test faults injected: {names}\n")
    level = logging.WARNING - 10 * min(args.verbose, 2)
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args.processes > 1:
        return _supervise(argv, args.processes)
    return _serve(args)


def _supervise(argv: list[str], count: int) -> int:
    """N worker processes; SIGINT/SIGTERM passed on; exits when they all have."""
    rest = [a for a in argv if not a.startswith("--processes")]
    if "--processes" in argv:
        i = argv.index("--processes")
        rest = argv[:i] + argv[i + 2 :]
    cmd = [sys.executable, "-m", "runbooks", "worker", *rest, "--processes", "1"]
    procs = [subprocess.Popen(cmd) for _ in range(count)]

    def forward(signum: int, frame: Any) -> None:
        del frame
        for proc in procs:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signum)

    signal.signal(signal.SIGINT, forward)
    signal.signal(signal.SIGTERM, forward)
    codes = [proc.wait() for proc in procs]
    return max(codes, default=0)


def _warm_up(args: argparse.Namespace) -> None:
    """What each job needs, done once before the worker takes its first: the CLI's parser,
    the junos driver's modules and, when the worker has its own --config and --inventory,
    its fleet (loaded again only when those files change). Measured at 40 clusters over 4
    workers: without it, 0.7 s of each process's CPU went into its first job. A worker
    whose own input is bad stops here (exit 2), not at each job."""
    from napalm import get_network_driver

    get_network_driver("junos")
    with _PREPARING:
        _parser()
        if args.config and args.inventory:
            _loaded(argparse.Namespace(config=args.config, inventory=args.inventory))


def _serve(args: argparse.Namespace) -> int:
    name = f"{args.region}-{os.getpid()}@{socket.gethostname()}"
    store = RedisStore(args.broker, lease_ttl=args.lease_ttl, worker=name)
    if not store.ping():
        sys.stderr.write("error: the Redis store at --broker does not answer\n")
        return 2
    try:
        _warm_up(args)
    except BadInput as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 2
    faults: fault_injection.Faults = args.faults
    conf = WorkerConfig(store, args.region, args.config, args.inventory)
    conf.die_after_intent = faults.die_after_intent
    conf.die_before_claim = faults.die_before_claim

    def job(run_id: str, cluster: str, attempt: int = 0) -> None:
        cluster_job(conf, run_id, cluster, attempt)

    app = celery_coordinator.make_app(args.broker, unsafe_acks_late=faults.acks_late)
    acks_late = bool(faults.acks_late)  # never, outside the tests that prove it safe
    app.task(name=celery_coordinator.TASK, acks_late=acks_late, ignore_result=True)(job)
    stopped: list[bool] = []  # under _BEATING: no heartbeat once the registry entry is gone
    beat = threading.Thread(target=_heartbeat, args=(store, args.region, stopped), daemon=True)
    # live (heartbeating) once it consumes: a coordinator never counts a worker still starting
    from celery.signals import worker_ready

    worker_ready.connect(lambda **_: beat.start(), weak=False)
    try:
        app.worker_main(
            [
                "worker",
                "-P",
                "threads",
                "-c",
                str(args.workers),
                "-Q",
                celery_coordinator.queue(args.region),
                "-n",
                name,
                "--prefetch-multiplier",
                "1",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
                "-l",
                "WARNING" if args.verbose == 0 else "INFO",
            ]
        )
    finally:
        with _BEATING, contextlib.suppress(Exception):
            stopped.append(True)
            store.r.zrem(key("workers", args.region), name)
    return 0


_BEATING = threading.Lock()


def _heartbeat(store: RedisStore, region: str, stopped: list[bool]) -> None:
    """The worker registry the coordinator reads (a live region, a dead worker)."""
    while True:
        with _BEATING, contextlib.suppress(Exception):
            if stopped:
                return
            store.control.zadd(key("workers", region), {store.worker: time.time()})
        time.sleep(celery_coordinator.HEARTBEAT)


# attach ----------------------------------------------------------------------------------
def attach_main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(
        prog="python -m runbooks attach",
        description="Follow a --engine celery run again (its coordinator died): progress, "
        "report, --events; a cluster whose worker died is enqueued again.",
    )
    p.add_argument("run_id", metavar="RUN_ID")
    p.add_argument("--broker", default=os.environ.get(BROKER_ENV), metavar="URL")
    p.add_argument("--report", type=Path, metavar="FILE")
    p.add_argument("--events", type=Path, metavar="FILE")
    args = p.parse_args(argv)
    if not args.broker:
        sys.stderr.write(f"error: --broker URL (or ${BROKER_ENV}) is required\n")
        return 2
    try:
        fault_injection.current()  # a test's faults (worker-stale) read by the coordinator
    except fault_injection.BadFaults as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 2
    store = RedisStore(args.broker)
    if not store.ping():
        sys.stderr.write("error: the Redis store at --broker does not answer\n")
        return 2
    raw: Any = store.r.hget(key("run", args.run_id), "description")
    if raw is None:
        sys.stderr.write(f"error: no run {args.run_id} in the store\n")
        return 2
    try:
        desc = received(raw)
    except BadInput as exc:
        sys.stderr.write(f"error: run {args.run_id}: {exc}\n")
        return 2
    report = Report(job=desc.job, run_id=args.run_id)
    names = list(desc.names)
    events = EventsFile(args.events) if args.events else None
    paths: Any = (args.report, None)  # no state dir here: the report where it is asked for
    progress = Progress(job=desc.job, total=len(names))
    view = FleetView(report, progress, events, paths)
    app = celery_coordinator.make_app(args.broker)
    coord = celery_coordinator.Coordinator(store, app, args.run_id, dict(desc.regions), view)
    coord.view.progress.start()
    try:
        coord.follow(names)
    finally:
        coord.view.progress.stop()
    return coord.end(names, desc.job)


COMMANDS = {"worker": worker_main, "attach": attach_main}


def main(argv: list[str]) -> int:
    return COMMANDS[argv[0]](argv[1:])
