"""The per-cluster abort plan: observe, abort on the RG0 primary, wait for it to land,
classify, and recover an inconsistent result unless told not to (docs/design/device-facts.md,
"Abort")."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from nornir.core.task import Result, Task

from tasks.device.commands import ABORT_CLI
from tasks.device.readings import ClusterView
from tasks.errors import DeadlineExceeded, DeviceRefused, RunbookError
from tasks.events import EventKind
from tasks.plans import sessions
from tasks.plans.classify import ClusterState, classify, icu_evidence
from tasks.plans.dual_abort import abort_dual
from tasks.plans.dual_reboot import progress as dual_progress
from tasks.plans.icu import Baseline, Phase, evidence, inflight
from tasks.plans.outcomes import failed_now, outcome_from
from tasks.plans.recover import progress as recovery_progress
from tasks.plans.recover import recover_plan
from tasks.plans.steps import done, step
from tasks.plans.verify import verify_upgraded
from tasks.plans.waits import await_healthy, healthy_for, look, poll_until
from tasks.state.clock import SYSTEM_CLOCK, Clock
from tasks.state.run_context import ClusterRun, Outcome
from tasks.vocabulary import NODES

NONE_VISIBLE = "no ICU visible"  # abort --even-if-idle on a healthy cluster
INVISIBLE = (
    "an ICU before its first install is done (validate, push, install on the secondary) "
    "shows nothing a second session can read; --even-if-idle sends the abort anyway"
)


def icu_activity(view: ClusterView, base: Baseline | None, target: str | None = None) -> str | None:
    """A phase name when an ICU is evidently running, None when nothing shows one."""
    if base is not None:
        phase = evidence(view, base, Phase.STARTED)
        # The primary back on the target: that ICU is over, there is nothing to abort.
        return None if phase is Phase.PRIMARY_BACK else phase.value
    shown = icu_evidence(view)
    if shown:
        return shown
    if any(v.pending for v in view.nodes.values() if v.reachable):
        return "install pending"  # perhaps an ICU in its first install: an abort is harmless
    up = [n for n in NODES if view.nodes[n].reachable]
    if target and len(up) == 1 and view.versions.get(up[0]) == target:
        # the survivor already on the target while its peer is down: the primary's reboot
        return f"primary rebooting ({up[0]} on {target}, its peer down)"
    return None


def abort_target(view: ClusterView) -> str | None:
    """The node an abort goes to: the RG0 primary, reachable."""
    primary = view.status.rg0_primary if view.status else None
    if primary is None or not view.nodes[primary].reachable:
        primary = next((n for n in NODES if view.primary_seen_by(n) == n), None)
    return primary


def abort_plan(
    task: Task,
    run: ClusterRun,
    *,
    target: str | None,
    view: ClusterView | None = None,
    base: Baseline | None = None,
    call: Any = None,
) -> Outcome:
    """`call`: the ICU's own RPC (tasks.plans.upgrade.IcuCall) when this process sent it: its
    late answer is evidence that the abort landed."""
    view = view or look(task, run)
    if base is None:
        found = inflight(run.history)
        base = found[1] if found else None
    if base is None and dual_progress(run.history).active:  # no ICU: tasks.plans.dual_abort
        return abort_dual(task, run, view)
    earlier = abort_in_flight(run.history)
    if earlier is not None and not run.dry_run:
        return follow_earlier_abort(
            task, run, earlier, base=base, target=target, call=call, view=view
        )
    left = recovery_left(run.history)
    finished = finish_recovery(task, run, view, left, target) if left is not None else None
    if finished is not None:
        return finished
    activity = icu_activity(view, base, target)
    if activity is None:
        refused = _nothing_to_abort(run, view)
        if refused is not None:
            return refused
    phase = activity or NONE_VISIBLE
    if phase == Phase.STARTED.value:  # sent, nothing a second session can see yet
        phase = "the ICU's first steps (validate, push, the secondary's install)"
    primary = abort_target(view)
    if primary is None:
        detail = f"ICU running ({phase}) but no reachable RG0 primary to send the abort to"
        return outcome_from(view, "failed", detail, phase=phase)
    if run.dry_run:
        return outcome_from(
            view,
            "would-abort",
            f"dry-run: {_seen(phase)}; would send '{ABORT_CLI}' to {primary} (RG0 primary)",
            plan={"node": primary, "command": ABORT_CLI},
        )
    refused = step(task, send_abort, "abort", run=run, node=primary, phase=phase)
    if refused is not None:
        return refused
    landed = Landing(run.clock.time(), 0, call, clock=run.clock)
    return _follow(task, run, base, phase, target, landed)


def _nothing_to_abort(run: ClusterRun, view: ClusterView) -> Outcome | None:
    """No ICU visible: `skipped` (nothing sent), but never on an inconsistent cluster, which
    gets its own word and the command that recovers it. None: --even-if-idle on a healthy
    cluster (the abort is sent anyway)."""
    verdict = classify(view)
    state = verdict.state
    if run.options.get("even_if_idle") and state is ClusterState.HEALTHY:
        return None
    if state is ClusterState.INCONSISTENT:
        return outcome_from(
            view,
            "inconsistent",
            f"no ICU visible, but the cluster is inconsistent ({verdict.detail}); nothing "
            f"sent; run `python -m runbooks recover --cluster {run.cluster}`",
        )
    hint = f" ({INVISIBLE})" if state is ClusterState.HEALTHY else ""
    return outcome_from(view, "skipped", f"no ICU visible ({state}); nothing sent{hint}")


def recovery_left(history: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The journal record that shows a recovery unfinished: an abort that landed and left
    the cluster inconsistent, or a recovery step, with no `recover-done` (nor a new ICU)
    after it; else None."""
    for rec in reversed(history):
        event = rec.get("event")
        if event in (EventKind.RECOVER_DONE, EventKind.ICU_SENDING):
            return None
        if event in (EventKind.RECOVER_SENDING, EventKind.RECOVER_VERIFIED):
            return rec
        if event == EventKind.ICU_ENDED:
            return rec if str(rec.get("how")).startswith(INCONSISTENT_END) else None
    return None


INCONSISTENT_END = "abort landed: inconsistent"


def finish_recovery(
    task: Task, run: ClusterRun, view: ClusterView, left: dict[str, Any], target: str | None
) -> Outcome | None:
    """An abort run again after an earlier run's abort left the cluster inconsistent and its
    recovery unfinished (killed while it recovered, or while it waited for the landing it
    then saw): the recovery is finished from where the journal and the device say it
    stopped (tasks.plans.recover resumes, never sends a step twice). With --no-recover the
    cluster is reported with the command that finishes it. None when the cluster shows no
    recovery to finish: healthy (recovered since: the journal says so now), or in another
    state with no reboot of the recovery journaled (an ICU running: the abort's own path)."""
    state = classify(view).state
    if state is ClusterState.HEALTHY:
        if not run.dry_run:
            release = view.versions.get("node0")
            run.emit(EventKind.RECOVER_DONE, node="", release=release, seen="healthy by abort")
        return None
    unfinished = (ClusterState.INCONSISTENT, ClusterState.PENDING_INSTALL)
    if state not in unfinished and recovery_progress(run.history).reboot is None:
        return None
    who = left.get("run_id")
    begun = f"the recovery after the abort of run {who} was not finished"
    if run.options.get("no_recover"):
        return outcome_from(
            view,
            "inconsistent",
            f"{begun}; run `python -m runbooks recover --cluster {run.cluster}`",
        )
    if run.dry_run:
        return outcome_from(view, "would-recover", f"dry-run: {begun}; would finish it")
    run.emit(EventKind.NOTE, message=f"{begun}; finishing it")
    return recover_plan(task, run, target=target, view=view, prefix=f"{begun}; ")


def _follow(
    task: Task,
    run: ClusterRun,
    base: Baseline | None,
    phase: str,
    target: str | None,
    watch: Landing,
) -> Outcome:
    """The abort-landed step, on the evidence `watch` asks for."""
    watch.bound = run.timing.idle_abort_watch
    return step(
        task,
        await_abort,
        "abort landed",
        run=run,
        base=base,
        phase=phase,
        target=target,
        watch=watch,
    )


def follow_earlier_abort(
    task: Task,
    run: ClusterRun,
    earlier: dict[str, Any],
    *,
    base: Baseline | None,
    target: str | None,
    call: Any,
    view: ClusterView | None = None,
) -> Outcome:
    """An abort an earlier run journaled and nobody saw land: followed, not sent again,
    unless the device shows it never arrived (Landing.never_arrived)."""
    run.emit(
        EventKind.NOTE,
        message=f"the abort sent by run {earlier.get('run_id')} has not been seen to land; "
        "following it (not sent again)",
    )
    sent_at = float(earlier.get("ts", run.clock.time()))
    watch = Landing(sent_at, 0, call, clock=run.clock)
    if view is not None and not _answered(run.history, earlier):
        watch.watch_reboots(view)
    return _follow(task, run, base, str(earlier.get("phase") or "ICU running"), target, watch)


def _answered(history: list[dict[str, Any]], command: dict[str, Any]) -> bool:
    """The device answered the journaled abort: its run read a reply (an `abort-sent` record
    after it whose words are the device's, not a lost reply's)."""
    after = history[history.index(command) + 1 :] if command in history else []
    for rec in after:
        if rec.get("event") == EventKind.ABORT_SENT and rec.get("run_id") == command.get("run_id"):
            return not str(rec.get("reply", "")).startswith(LOST_REPLY)
    return False


LOST_REPLY = "no reply ("


def abort_in_flight(history: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The journaled abort (its `command` record) that no run has seen land: after the
    newest ICU this tool sent, and with no `icu-ended` after it."""
    for rec in reversed(history):
        event = rec.get("event")
        if event in (EventKind.ICU_ENDED, EventKind.ICU_SENDING, EventKind.RECOVER_DONE):
            return None
        if event == EventKind.COMMAND and rec.get("command") == ABORT_CLI:
            return rec
    return None


def abort_pending(run: ClusterRun) -> str | None:
    """Why no ICU may be sent now: an abort journaled by an earlier run that nobody saw
    land, younger than the longest step an ICU can be in unseen (Landing)."""
    return pending_abort(
        run.history, run.timing.idle_abort_watch, run.cluster, now=run.clock.time()
    )


def pending_abort(
    history: list[dict[str, Any]], bound: float, cluster: str, *, now: float | None = None
) -> str | None:
    """`abort_pending` from a journal's records (status reads it too); `now`: epoch seconds
    (None: the system clock's)."""
    rec = abort_in_flight(history)
    if rec is None:
        return None
    until = float(rec.get("ts", 0)) + bound
    if (SYSTEM_CLOCK.time() if now is None else now) >= until:
        return None
    when = time.strftime("%H:%M:%S", time.localtime(until))
    return (
        f"abort pending: the abort run {rec.get('run_id')} sent has not been seen to land, so "
        f"no ICU is sent before {when}; `python -m runbooks abort --cluster {cluster}` "
        "follows it to its end"
    )


@dataclass
class Landing:
    """What tells that an abort has landed when the cluster looks as before the ICU (both
    nodes on the old release, nothing pending, no reboot): the device ends the ICU only
    after its current step, and during the first steps (validate, push, the secondary's
    install) nothing a second session reads changes. So, in order:

    * the ICU's own RPC, when this process sent it, answered after the abort left;
    * an install pending seen since the abort left has gone (the build was rolled back);
    * `bound` seconds (timing.idle_abort_watch, the longest step an ICU can be in unseen)
      passed since the abort left with nothing seen: whatever step ran is over. Not while
      this process still holds the ICU's own RPC open: a step longer than the bound (a slow
      box) would look over; the RPC's answer comes when the ICU ends.

    Until one holds, the abort is pending (docs/operators/abort.md)."""

    sent_at: float  # epoch seconds the abort left (or was journaled)
    bound: float
    call: Any = None  # tasks.plans.upgrade.IcuCall
    saw_pending: bool = False
    clock: Clock = SYSTEM_CLOCK  # the run's
    # an abort journaled by a run that died unanswered: the nodes up (not the RG0 primary)
    # when this run first looked, with their boot times (never_arrived)
    unanswered: dict[str, int] = field(default_factory=dict)

    def watch_reboots(self, view: ClusterView) -> None:
        primary = abort_target(view)
        for n in NODES:
            me = view.nodes[n]
            if n != primary and me.reachable and me.booted_at:
                self.unanswered[n] = int(me.booted_at)

    def never_arrived(self, view: ClusterView) -> str | None:
        """Why the device shows that the journaled abort never reached it, or None.

        An ICU with an abort pending ends after its current step and begins no other; a
        reboot is a step of its own (the secondary's; the primary's is the last, and an
        abort then has nothing left to stop, so it is not watched). So a node that was up
        when this run first looked (after the abort's record) and has since booted again
        proves the ICU went on to a new step: the abort never arrived, and sending it now
        is its first arrival, not a second. Nothing else proves it: while the ICU stays in
        one step, an abort that arrived and one that never left look the same."""
        for n, boot in self.unanswered.items():
            me = view.nodes[n]
            if me.reachable and (me.booted_at or 0) > boot:
                return f"{n} rebooted (boot time {me.booted_at}, {boot} before) after the abort"
        return None

    def evidence(self, view: ClusterView) -> str | None:
        waited = self.clock.time() - self.sent_at
        pending = any(view.nodes[n].pending for n in NODES if view.nodes[n].reachable)
        if pending:
            self.saw_pending = True
            # an install left pending by no running ICU: nothing for the abort to stop
            return (
                f"install still pending {waited:.0f}s after the abort"
                if (waited >= self.bound)
                else None
            )
        call = self.call
        if call is not None and call.answered_at and call.answered_at >= self.sent_at:
            return f"the ICU's own RPC answered: {call.refused or call.accepted or ''}".strip()
        if self.saw_pending:
            return "the pending install was removed"
        if call is not None and call.is_alive():
            return None  # the ICU's own RPC still open: its answer tells, not the bound (F7)
        if waited >= self.bound:
            return f"nothing pending and no reboot {waited:.0f}s after the abort left"
        return None


def _seen(phase: str) -> str:
    return phase if phase == NONE_VISIBLE else f"ICU running ({phase})"


def send_abort(task: Task, *, run: ClusterRun, node: str, phase: str) -> Result:
    """Step: the abort on the RG0 primary. A lost reply does not tell whether it landed:
    the next step observes, nothing is ever resent."""
    run.emit(EventKind.STEP, step="abort", node=node, phase=phase)
    try:
        rpc = sessions.rpc(task, run, node)
    except RunbookError as exc:  # the session could not even be opened: nothing was sent
        outcome = failed_now(task, run, f"abort not sent: {exc.message}", phase=phase)
        return done(task, outcome, failed=True)
    run.emit(EventKind.COMMAND, node=node, command=ABORT_CLI)
    try:
        words = rpc.abort_icu()
    except DeviceRefused as exc:
        outcome = failed_now(task, run, f"abort refused by {node}: {exc.message}", phase=phase)
        return done(task, outcome, changed=True, failed=True)
    except RunbookError as exc:
        words = f"{LOST_REPLY}{exc.message}); observing"
    run.emit(EventKind.ABORT_SENT, node=node, phase=phase, reply=words)
    return done(task, None, changed=True, summary=f"sent '{ABORT_CLI}' to {node}: {words}")


def landing(
    view: ClusterView, base: Baseline | None, goal: str | None, watch: Landing | None = None
) -> str | None:
    """How the abort landed, from one observation: clean, inconsistent, too-late (the
    primary's reboot had begun), pending; None while the current operation still runs (the
    abort lands only after it). A cluster that looks as before the ICU is `clean` only on
    the evidence `watch` asks for."""
    stage = evidence(view, base, Phase.STARTED) if base is not None else None
    late = stage is not None and stage.rank >= Phase.PRIMARY_REBOOTING.rank
    reachable = all(view.nodes[n].reachable for n in NODES)
    running = icu_evidence(view) is not None  # e.g. the primary's install still pending
    if not reachable or running or stage is Phase.PRIMARY_REBOOTING:
        return "too-late" if late else None
    versions = {view.versions[n] for n in NODES}
    if len(versions) > 1:
        return "inconsistent"
    old = base.old_release if base else None
    if late or (goal is not None and versions == {goal} and old != goal):
        return "too-late"
    if watch is not None and watch.evidence(view) is None:
        return None  # the abort is pending: the ICU's current step may still run
    if any(view.nodes[n].pending for n in NODES):
        return None if base is not None else "pending"
    return "clean"


def await_abort(
    task: Task,
    *,
    run: ClusterRun,
    base: Baseline | None,
    phase: str,
    target: str | None,
    watch: Landing | None = None,
) -> Result:
    """Step: wait for the abort to land (the current operation finishes first), then
    classify and finish the cluster from there."""
    started = run.clock.monotonic()
    goal = base.target if base else target
    watch = watch or Landing(run.clock.time(), run.timing.idle_abort_watch, clock=run.clock)
    try:
        landed = _await_landing(task, run, base, goal, watch, phase)
    except DeadlineExceeded as exc:
        return done(task, failed_now(task, run, exc.message, phase=phase), failed=True)
    if isinstance(landed, Outcome):  # sent again, and refused or not sent
        return done(task, landed, failed=True)
    found, view = landed
    how = f"abort landed: {found}"
    if found in ("clean", "pending"):
        how += f" ({watch.evidence(view) or 'seen'})"
    run.emit(EventKind.ICU_ENDED, how=how)
    extra = {"aborted_during": phase, "abort_wait_s": round(run.clock.monotonic() - started, 1)}
    if found == "too-late":
        outcome = _too_late(task, run, base, goal, phase)
    elif found == "inconsistent":
        outcome = _inconsistent(task, run, view, base, target, phase)
    else:
        outcome = _clean(task, run, phase, extra)
    outcome.extra.update(extra)
    return done(task, outcome, failed=not outcome.good)


NEVER_ARRIVED = "never arrived: "


def _await_landing(
    task: Task,
    run: ClusterRun,
    base: Baseline | None,
    goal: str | None,
    watch: Landing,
    phase: str,
) -> tuple[str, ClusterView] | Outcome:
    """Poll until the abort lands (how, the view); an abort an earlier run journaled that
    the device shows never arrived is sent now, journaled first, and followed instead (an
    Outcome when that send was refused or could not leave). DeadlineExceeded past
    abort_deadline (counted again from a new send)."""

    def seen(v: ClusterView) -> str | None:
        why = watch.never_arrived(v)
        return landing(v, base, goal, watch) or (NEVER_ARRIVED + why if why else None)

    while True:
        found, view = poll_until(
            task,
            run,
            seen,
            deadline=run.timing.abort_deadline,
            what="the abort to land",
            describe=lambda v: "abort pending: " + classify(v).detail,
        )
        if not found.startswith(NEVER_ARRIVED):
            return found, view
        primary = abort_target(view)
        if primary is None:
            return failed_now(task, run, f"abort {found}; no reachable RG0 primary to send it")
        run.emit(EventKind.NOTE, message=f"the journaled abort {found}: sending it now")
        refused = step(task, send_abort, "abort again", run=run, node=primary, phase=phase)
        if refused is not None:
            return refused
        watch.unanswered.clear()
        watch.sent_at, watch.saw_pending = run.clock.time(), False


def _too_late(
    task: Task, run: ClusterRun, base: Baseline | None, goal: str | None, phase: str
) -> Outcome:
    run.emit(EventKind.NOTE, message="abort came too late: the primary's reboot had begun")
    old = base.old_release if base else ""
    outcome = verify_upgraded(task, run, base or Baseline("node0", "node1", old, str(goal), {}))
    outcome.outcome = "too-late" if outcome.outcome == "ok" else outcome.outcome
    outcome.detail = f"abort came too late (during {phase}); the upgrade completed: " + (
        outcome.detail
    )
    return outcome


def _inconsistent(
    task: Task,
    run: ClusterRun,
    view: ClusterView,
    base: Baseline | None,
    target: str | None,
    phase: str,
) -> Outcome:
    run.emit(EventKind.NOTE, message="abort left the cluster inconsistent")
    if run.options.get("no_recover"):
        return outcome_from(
            view,
            "inconsistent",
            f"aborted during {phase}: secondary on the new release, primary on the old; "
            f"run `python -m runbooks recover --cluster {run.cluster}`",
        )
    prefix = f"aborted during {phase}, left inconsistent; "
    goal = target or (base.target if base else None)
    return recover_plan(task, run, target=goal, view=view, prefix=prefix)


def _clean(task: Task, run: ClusterRun, phase: str, extra: dict[str, Any]) -> Outcome:
    """Both nodes on the old release, nothing pending: verify healthy (and, when no ICU
    was visible, that it stays so: nothing starts)."""
    watch = run.timing.idle_abort_watch
    try:
        view = healthy_for(task, run, watch) if phase == NONE_VISIBLE else await_healthy(task, run)
    except DeadlineExceeded as exc:
        return failed_now(task, run, f"aborted during {phase}, but {exc.message}", **extra)
    if phase == NONE_VISIBLE:
        return outcome_from(
            view,
            "ok",
            f"abort sent with no ICU visible; nothing started within {watch:g}s, both nodes "
            f"on {view.versions['node0']}, cluster healthy (verified)",
        )
    return outcome_from(
        view,
        "ok",
        f"aborted during {phase}; rolled back cleanly, both nodes on "
        f"{view.versions['node0']}, cluster healthy (verified)",
    )
