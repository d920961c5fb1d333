"""An abort for a cluster another run holds: handed to that run, which sends it at its next
step, or taken over when the holder does not answer in time.

Juniper's procedure lets an ICU be aborted at any time from the primary. A cluster our own
`upgrade` follows is held (tasks.state.locks), so `abort` does not race it with a second abort
RPC: it asks the holder through the lock's mailbox and waits for the verdict, showing the
holder's progress. The holder acknowledges within a fraction of a second (a watcher thread
of its process), acts at its next step (an upgrade following the ICU aborts it, one before
the ICU does not send it), and answers with its outcome. Deadlines (timing.handoff_deadline):

* no acknowledgement: the holder is hung or stopped; the abort fences it off (it can never
  journal another intent, so never send again) and goes ahead itself;
* acknowledged but not acting, or acting with no verdict for longer than the abort and a
  recovery can take: the same;
* the holder's lock goes free (it ended or was killed): the abort takes the lock and goes
  ahead itself, reading the journal first, so an abort the holder already sent is followed,
  never sent a second time.

A holder that is not an upgrade (a recover, a stage, another abort) follows no ICU of its
own: the abort waits for it to release the cluster, then runs.
"""

from __future__ import annotations

import time
from typing import Any

from nornir.core.task import Task

from tasks.events import EventKind
from tasks.state.locks import AbortRequest, Reply
from tasks.state.run_context import ClusterRun, Outcome

WAIT_EVERY = 0.1  # seconds between two looks at the holder's answer and lock


def hand_over(task: Task, run: ClusterRun, holder: str) -> Outcome | None:
    """Ask the holder to abort and wait for its verdict: the abort's Outcome, or None once
    the cluster is this run's (the holder let go, or was fenced off): run the plan then."""
    del task
    locks, name, device = run.context.locks, run.cluster, run.device
    request = locks.request_abort(name, device, run.run_id)
    t = run.timing
    _say(
        run,
        f"held by {holder}: abort handed to it; waiting for it to answer "
        f"(up to {t.handoff_deadline:g}s)",
    )
    started = time.monotonic()
    act_by = started + t.handoff_deadline
    verdict_by = started + t.abort_deadline + 2 * t.reboot_deadline + t.settle_deadline
    seen, acked = 0, False
    try:
        while True:
            reply = locks.reply(name, device, request)
            if reply is not None and reply.acked and not acked:
                acked = True
                _say(
                    run,
                    f"{_who(reply)} acknowledged the abort after "
                    f"{reply.acked - request.at:.1f}s; it acts at its next step",
                )
                act_by = time.monotonic() + t.handoff_deadline + t.poll_interval
                act_by += 2 * t.rpc_timeout
            if reply is not None:
                for note in reply.notes[seen:]:
                    _say(run, f"{_who(reply)}: {note} ({time.monotonic() - started:.1f}s)")
                    seen += 1
            outcome = _verdict(reply)
            if outcome is not None:
                return outcome
            if locks.acquire(name, device, run.job) is None:
                outcome = _verdict(locks.reply(name, device, request))  # said as it let go
                if outcome is not None:
                    locks.release(name)
                    return outcome
                _say(run, f"{holder} let the cluster go; the abort goes ahead here")
                return None
            now = time.monotonic()
            acting = reply is not None and reply.stage in ("acting", "done")
            late = now > verdict_by if acting else now > act_by
            if late:
                why = "did not act on it" if reply is not None else "did not answer"
                _say(run, f"{holder} {why} in time: fenced off, the abort goes ahead here")
                locks.take_over(name, device, run.run_id)
                return None
            locks.renew_request(name, device, request)
            time.sleep(WAIT_EVERY)
    finally:
        locks.withdraw(name, device, request)


def _say(run: ClusterRun, message: str) -> None:
    """A line for the operator (progress, log, --events); not journaled: the cluster is not
    this run's while another holds it."""
    run.context.sink.event(run.event(EventKind.NOTE, message=message, say=True))


def _who(reply: Reply) -> str:
    return f"run {reply.run} (pid {reply.pid}{', ' + reply.job if reply.job else ''})"


def _verdict(reply: Reply | None) -> Outcome | None:
    """The abort's outcome from the holder's: None before its verdict, and when the holder
    was no upgrade (the abort then runs by itself once the cluster is free)."""
    if reply is None or reply.job != "upgrade" or reply.verdict is None:
        return None
    v: dict[str, Any] = reply.verdict
    seen, detail = str(v.get("outcome")), str(v.get("detail", ""))
    by = f"handed to run {reply.run}, which followed the ICU: "
    if seen == "aborted":
        outcome = "ok" if reply.changed else "skipped"
    elif seen in ("ok", "too-late"):
        outcome = "too-late"
    elif not reply.changed:
        outcome = "skipped"
        detail = f"the upgrade ended before any ICU left ({seen}): {detail}"
    else:
        outcome = seen
    extra = {"handed_to": reply.run, "holder_outcome": seen}
    return Outcome(
        outcome, str(v.get("state", "unknown")), v.get("versions") or {}, by + detail, extra
    )


def answer_request(run: ClusterRun, outcome: Outcome) -> None:
    """The holder's verdict for the abort another run asked of it (executor.finish)."""
    if run.request is None and run.device:
        run.request = run.context.locks.abort_requested(run.cluster)
    if run.request is None:
        return
    verdict = {
        "outcome": outcome.outcome,
        "state": outcome.state,
        "versions": outcome.versions,
        "detail": outcome.detail,
    }
    run.context.locks.answer(
        run.cluster, stage="done", verdict=verdict, job=run.job, changed=run.changed
    )


__all__ = ["AbortRequest", "answer_request", "hand_over"]
