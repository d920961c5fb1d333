"""The cluster executor: one cluster, one job, its plan, under the run's rules.

In order: the host made safe to connect to (tasks.device.hosts), the cluster's lock, its journal
history, the fleet gate and the run's start policy (windows), the plan, and the outcome
journaled, counted and handed to the run's sink. Every srx_* task goes through here, so a
user's own Nornir script gets the same locks, journal and never-resend rules as the CLI.
"""

from __future__ import annotations

import logging
import secrets
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from nornir.core.task import Result, Task

from tasks.device.hosts import node_addresses, prepare_host
from tasks.errors import BadInput, RunbookError
from tasks.events import Event, EventKind
from tasks.plans.icu import inflight
from tasks.state.backends import LocalBackend, build_context
from tasks.state.gate import NotStarted
from tasks.state.handoff import answer_request, hand_over
from tasks.state.locks import device_key
from tasks.state.paths import check_name
from tasks.state.redact import redact
from tasks.state.run_context import ClusterRun, Outcome, RunContext
from tasks.state.settings import Timing
from tasks.transports import devices_for

log = logging.getLogger(__name__)

Plan = Callable[[Task, ClusterRun], Outcome]


def new_run_id() -> str:
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ") + "-" + secrets.token_hex(3)


def execute(
    task: Task,
    job: str,
    plan: Plan,
    context: RunContext | None,
    options: dict[str, Any],
    dry_run: bool | None = None,
) -> Result:
    """Work one cluster; the Result carries its Outcome, `changed` when a destructive command
    left, `failed` when the job's goal was not reached. `dry_run`: the task's own keyword,
    over Nornir's (task.is_dry_run)."""
    try:
        ctx = context or default_context(task)
        run = cluster_run(task, job, ctx, options, dry_run)
    except BadInput as exc:
        return Result(task.host, result=Outcome("failed", "unknown", {}, str(exc)), failed=True)
    name = run.cluster
    holder = None if run.dry_run else ctx.locks.acquire(name, run.device, job)
    if holder is not None and job == "abort":  # an ICU may be aborted at any time: hand it
        handed = hand_over(task, run, holder)  # to the holder, or take the cluster over
        if handed is not None:
            return finish(task, run, handed, False)
        holder = None
    if holder is not None:
        return finish(task, run, Outcome("locked", "unknown", {}, f"locked by {holder}"), False)
    outcome: Outcome | None = None
    try:
        run.history = ctx.journal.history(name)
        foreign = ctx.locks.foreign_history(name)
        if foreign:  # the same device journaled under another state directory too
            run.history = sorted(run.history + foreign, key=lambda r: float(r.get("ts", 0)))
        # Re-attaching to an ICU a previous run sent is observation, not a start: no halt,
        # canary or window may keep a run from following it.
        if job != "upgrade" or inflight(run.history) is None:
            ctx.gate.check()
            if ctx.before_start is not None and ctx.windowed:
                ctx.before_start(task, run)
        run.emit(EventKind.CLUSTER_STARTED)
        outcome = plan(task, run)
    except NotStarted as exc:
        outcome = Outcome("not-started", "unknown", {}, str(exc))
    except RunbookError as exc:
        outcome = Outcome("failed", "unknown", {}, exc.message, {"phase": exc.step or ""})
    except Exception as exc:  # a bug must not leave the cluster unreported
        log.exception("run %s %s: unexpected error", run.run_id, name)
        outcome = Outcome("failed", "unknown", {}, f"internal error: {type(exc).__name__}: {exc}")
    finally:
        if outcome is not None:  # an abort another run asked of this one: its verdict,
            answer_request(run, outcome)  # before the cluster is let go
        ctx.locks.release(name)
    return finish(task, run, outcome)


def cluster_run(
    task: Task, job: str, ctx: RunContext, options: dict[str, Any], dry_run: bool | None = None
) -> ClusterRun:
    """This cluster's view of the run; BadInput when its name or inventory is unusable."""
    host = task.host
    check_name(host.name)
    prepare_host(host, ctx.state_dir, ctx.timing_defaults)
    run = ClusterRun(
        cluster=host.name,
        job=job,
        context=ctx,
        timing=Timing.resolve(host, ctx.timing_defaults),
        dry_run=task.is_dry_run(dry_run),
        options={**ctx.policy, **options},
        transcript=ctx.transcripts.recorder(host.name) if ctx.transcripts else None,
    )
    run.device = device_key(node_addresses(host))
    return run


def finish(task: Task, run: ClusterRun, outcome: Outcome, journal: bool = True) -> Result:
    """Journal the outcome (a locked cluster is not this run's to journal), count it
    against the failure budget, hand it to the sink. The report's `timeline`: the plan's
    steps with their times (ClusterRun.timeline), when it ran any."""
    timeline = run.timeline_so_far()
    if timeline:
        outcome.extra.setdefault("timeline", timeline)
    event = run.event(
        EventKind.CLUSTER_FINISHED,
        outcome=outcome.outcome,
        state=outcome.state,
        detail=outcome.detail,
        phase=outcome.extra.get("phase"),
    )
    if journal and not run.dry_run:
        run.context.journal.write(event)
    run.gate.record(outcome.outcome)
    run.context.sink.finished(run.cluster, outcome, event, published=journal)
    return Result(task.host, result=outcome, changed=run.changed, failed=not outcome.good)


class LogSink:
    """The sink of a user's own script: events and outcomes to the log."""

    def event(self, event: Event, *, quiet: bool = False) -> None:
        if not quiet:
            log.info(
                "run %s %s %s %s", event.run_id, event.cluster, event.kind, redact(str(event.data))
            )

    def finished(self, cluster: str, outcome: Outcome, event: Event, *, published: bool) -> None:
        del event, published
        log.info("%s: %s (%s) %s", cluster, outcome.outcome, outcome.state, redact(outcome.detail))


_DEFAULTS: dict[tuple[int, Path], RunContext] = {}
_DEFAULTS_LOCK = threading.Lock()


def default_context(task: Task) -> RunContext:
    """The run context of a user's own `nr.run(task=srx_...)`: one per Nornir config and
    state directory in this process, with today's local journal, locks and an unlimited gate.
    A relative state_dir would depend on the working directory (another journal, and a
    resend could follow): load the config with tasks.init_nornir, which resolves it."""
    config = task.nornir.config
    state = Path(str(config.user_defined.get("state_dir", "state")))
    if not state.is_absolute():
        raise BadInput(
            f"state_dir {str(state)!r} is relative: load the config with tasks.init_nornir() "
            "(which resolves it against the config file) or give an absolute path"
        )
    with _DEFAULTS_LOCK:
        key = (id(config), state)
        if key not in _DEFAULTS:
            run_id = new_run_id()
            _DEFAULTS[key] = build_context(
                LocalBackend(state),
                run_id=run_id,
                state_dir=state,
                sink=LogSink(),
                timing_defaults=config.user_defined.get("timing"),
                devices=devices_for(config.user_defined.get("transport")),
            )
        return _DEFAULTS[key]
