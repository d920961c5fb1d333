"""The per-cluster upgrade plan: connect, pre-checks, start ICU, follow each phase, verify.

Every step observes first and skips what is already done; the ICU command is journaled
*before* it goes on the wire, so no resume can ever send it twice. Each step is a Nornir
subtask (tasks.plans.steps).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from nornir.core.task import Result, Task

from tasks.device.commands import IcuCommand
from tasks.device.readings import ClusterView, peer_of
from tasks.device.rpc import NodeRpc, Session
from tasks.errors import DeviceRefused, NodeUnreachable, SessionLost
from tasks.events import EventKind
from tasks.plans import sessions
from tasks.plans.abort import abort_pending, abort_plan
from tasks.plans.approved_plan import CHANGED, ApprovedCluster
from tasks.plans.classify import ClusterState, classify
from tasks.plans.config_backup import backup_after
from tasks.plans.icu import ORDER, Baseline, Phase, Tracker, inflight
from tasks.plans.outcomes import failed_now, outcome_from
from tasks.plans.prechecks import Check, Facts, PrecheckResult, run_prechecks
from tasks.plans.service_steps import ready_for_icu, services_after
from tasks.plans.steps import done, step
from tasks.plans.verify import preempt_blocks, verify_upgraded
from tasks.plans.waits import look, track
from tasks.srx_facts import model_family
from tasks.state.gate import NotStarted
from tasks.state.run_context import ClusterRun, Outcome
from tasks.state.settings import Target
from tasks.vocabulary import NODES, IcuOptions


def upgrade_plan(
    task: Task,
    run: ClusterRun,
    target: Target,
    requested: IcuOptions,
    approved: ApprovedCluster | None = None,
    view: ClusterView | None = None,
) -> Outcome:
    """`approved`: what a reviewed dry run saw and would have sent (upgrade --plan); a
    cluster that differs now gets nothing. `view`: the caller's own `connect` observation
    (tasks.plans.hops), not taken again."""
    try:
        return _upgrade(task, Judged(run, target, requested, approved), view)
    finally:
        sessions.drop_all(task, run)


def _upgrade(task: Task, judged: Judged, seen: ClusterView | None = None) -> Outcome:
    run, target, requested = judged.run, judged.target, judged.requested
    view = seen or step(task, observe_cluster, "connect", run=run)
    # Resume: an ICU this tool sent whose end no run has seen is re-attached, never resent.
    found = inflight(run.history)
    if found is not None:
        sent, base = found
        run.emit(EventKind.NOTE, message=f"re-attaching to the ICU sent by run {sent['run_id']}")
        return follow(task, run, base, view, call=None)
    held = _held_back(run, view)
    if held is not None:
        return held
    pre = step(task, check_cluster, "pre-checks", run=run, view=view, target=target)
    if _unanswered(pre):  # a read the node did not answer (a dropped session, a garbled
        # reply) is no verdict on the cluster: fresh sessions, a fresh look, the checks again
        sessions.drop_all(task, run)
        view = step(task, observe_cluster, "re-observe", run=run)
        pre = step(task, check_cluster, "pre-checks again", run=run, view=view, target=target)
    ends = judged.no_icu(view, pre)
    if ends is not None:
        return ends
    asked = run.clock.monotonic()
    with run.gate.slot():
        if run.window_closed():  # pre-checks or the wait for a slot outlasted the window
            raise NotStarted("window closed before the ICU could be sent")
        if run.clock.monotonic() - asked > run.timing.poll_interval:
            # The wait for an in-flight slot took a while: what the checks saw may be stale
            # (an RG0 failover since would send the ICU to the secondary). Check again.
            view = step(task, observe_cluster, "re-observe", run=run)
            pre = step(task, check_cluster, "pre-checks again", run=run, view=view, target=target)
            ends = judged.no_icu(view, pre)
            if ends is not None:
                return ends
        before = ready_for_icu(task, run, pre)
        if isinstance(before, Outcome):
            return before
        why = run.abort_reason()
        if why is not None and run.request is not None:  # asked to abort before the ICU
            detail = f"{why} before the ICU was sent: nothing sent; {classify(view).detail}"
            return outcome_from(view, "aborted", detail, checks=pre.to_json())
        command = IcuCommand.for_model(target.package, pre.model, requested)
        what = {"run": run, "view": view, "pre": pre, "command": command, "target": target}
        started = step(task, start_icu, "start-icu", **what)
        if isinstance(started, Outcome):  # not sent, or refused at once
            return started
        result = follow(task, run, started.base, view, call=started.call)
        result = services_after(task, run, before, result)
        result = backup_after(task, run, result)
        result.extra.setdefault("checks", pre.to_json())
        result.extra.setdefault("plan", {"node": pre.primary, "command": command.cli})
        return result


def _held_back(run: ClusterRun, view: ClusterView) -> Outcome | None:
    """A cluster an earlier run left failed, whose abort has not been seen to land, or whose
    ICU from this very run another run ended (an abort while this run's worker was lost:
    a job enqueued again must never send the ICU the operator aborted)."""
    ended = ended_elsewhere(run)
    if ended is not None:
        other = f"run {ended.get('run_id')} ({ended.get('job')}: {ended.get('how')})"
        detail = f"this run's ICU was ended by {other}; not sent again"
        healthy = classify(view).state is ClusterState.HEALTHY
        return outcome_from(view, "aborted" if healthy else "failed", detail)
    own = ended_in_this_run(run)
    if own is not None:  # a job delivered again after its ICU ended: one ICU per run
        return _ended_here(view, own)
    left = _left_failed(run)
    if left:
        return outcome_from(view, "failed", left)
    stopped = aborted_since_began(run, view)
    if stopped is not None:
        return stopped
    pending = abort_pending(run)
    if pending:  # the device may still be in the aborted ICU's last step
        return outcome_from(view, "not-started", pending, phase="pre-checks")
    return None


def _end_of_this_runs_icu(run: ClusterRun) -> dict[str, Any] | None:
    """The `icu-ended` record that follows the newest ICU sent, when this run sent it (by
    whichever run it was written), else None."""
    ended: dict[str, Any] | None = None
    for rec in reversed(run.history):
        if rec.get("event") == EventKind.ICU_ENDED and ended is None:
            ended = rec
        elif rec.get("event") == EventKind.ICU_SENDING:
            return ended if rec.get("run_id") == run.run_id else None
    return None


def ended_elsewhere(run: ClusterRun) -> dict[str, Any] | None:
    """The `icu-ended` record another run wrote for the newest ICU this run sent (an abort
    that was not too late), else None."""
    ended = _end_of_this_runs_icu(run)
    if ended is None or ended.get("run_id") == run.run_id:
        return None
    return None if "too-late" in str(ended.get("how")) else ended


def ended_in_this_run(run: ClusterRun) -> dict[str, Any] | None:
    """The `icu-ended` record of the newest ICU this very run sent, written by this run (its
    own end, or an abort handed to it), else None. A run sends at most one ICU per cluster:
    a job an engine delivers again under the same run id must not send another."""
    ended = _end_of_this_runs_icu(run)
    return ended if ended is not None and ended.get("run_id") == run.run_id else None


def _ended_here(view: ClusterView, ended: dict[str, Any]) -> Outcome:
    """The outcome of a job delivered again after this run's ICU ended: nothing is sent;
    aborted, on target, or failed, as the cluster now is."""
    how = str(ended.get("how"))
    detail = f"this run's ICU already ended ({how}); nothing sent again"
    verdict = classify(view)
    if verdict.state is not ClusterState.HEALTHY:
        return outcome_from(view, "failed", f"{detail}; {verdict.detail}")
    if "abort landed" in how and "too-late" not in how:
        return outcome_from(view, "aborted", detail)
    if how == "primary back" or "too-late" in how:
        return outcome_from(view, "skipped", detail)
    return outcome_from(view, "failed", detail)  # refused, failed or stopped by the device


@dataclass(frozen=True)
class Judged:
    """What ends a cluster with no ICU once its pre-checks are in (each time they are)."""

    run: ClusterRun
    target: Target
    requested: IcuOptions
    approved: ApprovedCluster | None  # upgrade --plan: what the reviewed dry run saw

    def no_icu(self, view: ClusterView, pre: PrecheckResult) -> Outcome | None:
        """The outcome of a cluster that gets no ICU (changed since its approved plan, a
        placement refused, on target, a failed check, a dry run); None: it goes on."""
        changed = self.changed_since_approval(view, pre)
        if changed is not None:
            return changed
        if not (pre.already_on_target or pre.failed):
            refused = _placement_refused(self.run, view)
            if refused is not None:
                return refused
        if pre.already_on_target or pre.failed or self.run.dry_run:
            return before_icu(view, pre, self.target, self.requested)
        return None

    def changed_since_approval(self, view: ClusterView, pre: PrecheckResult) -> Outcome | None:
        """upgrade --plan: `not-started`, each difference named, when the cluster is no
        longer what the approved dry run saw or the command would differ."""
        if self.approved is None or _unanswered(pre):  # an unanswered read: the checks say
            return None
        command = IcuCommand.for_model(self.target.package, pre.model, self.requested).cli
        state = classify(view).state.value
        changes = self.approved.changes(state, view.versions, pre.primary, command)
        if not changes:
            return None
        detail = f"{CHANGED}: {'; '.join(changes)}; nothing sent"
        self.run.emit(EventKind.NOTE, message=detail)
        return outcome_from(view, "not-started", detail, checks=pre.to_json(), phase="pre-checks")


def _placement_refused(run: ClusterRun, view: ClusterView) -> Outcome | None:
    """--restore-primary asks for a placement the configured priorities and preempt would
    undo once the failover is reset: refused before the ICU, with the reason, nothing sent."""
    preferred = run.options.get("restore_primary")
    blocked = preempt_blocks(view.status, str(preferred)) if preferred else None
    if not blocked:
        return None
    run.emit(EventKind.NOTE, message=f"restore-primary {preferred} refused: {blocked}")
    detail = f"restore-primary {preferred} refused before the ICU, nothing sent: {blocked}"
    return outcome_from(view, "refused", detail, phase="pre-checks")


UNANSWERED = "could not read: "  # tasks.plans.prechecks: a check whose read got no usable reply


def _unanswered(pre: PrecheckResult) -> bool:
    return bool(pre.failed) and pre.failed[0].evidence.startswith(UNANSWERED)


def _left_failed(run: ClusterRun) -> str | None:
    """An earlier upgrade run left this cluster failed: leave it alone unless told not to.
    A pre-check whose read went unanswered said nothing about the cluster: not sticky."""
    finished = run.last(EventKind.CLUSTER_FINISHED)
    if (
        finished
        and finished.get("job") == "upgrade"
        and finished.get("outcome") == "failed"
        and not run.options.get("retry_failed")
        and not (
            finished.get("phase") == "pre-checks" and UNANSWERED in str(finished.get("detail"))
        )
    ):
        return (
            f"left as failed by run {finished['run_id']}: {finished.get('detail')}"
            " (re-run with --retry-failed)"
        )
    return None


def aborted_since_began(run: ClusterRun, view: ClusterView) -> Outcome | None:
    """An `abort` of this cluster run by someone since this very run first began on it (or
    handed to this run: its `abort_asked` note): a job an engine delivers again afterwards
    (under the same run id) starts nothing new, even when the abort found no ICU of ours to
    stop (it stopped another's, or none). An operator who typed abort meant "nothing more
    on this cluster"; a new `upgrade` (a new run id) goes on. None: no abort since this
    run's first record (on a first delivery, that is its `cluster-started` just written)."""
    first = next((i for i, r in enumerate(run.history) if r.get("run_id") == run.run_id), None)
    if first is None:
        return None
    for rec in run.history[first:]:
        by_another = rec.get("event") == EventKind.CLUSTER_STARTED and rec.get("job") == "abort"
        if (by_another and rec.get("run_id") != run.run_id) or rec.get("abort_asked"):
            detail = (
                f"an abort of this cluster (run {rec.get('run_id')}) ran after this run began: "
                "nothing new is started by it; run `upgrade` again to go on"
            )
            verdict = classify(view)
            if verdict.state is not ClusterState.HEALTHY:
                return outcome_from(view, "failed", f"{detail}; {verdict.detail}")
            return outcome_from(view, "aborted", detail)
    return None


def observe_cluster(task: Task, *, run: ClusterRun) -> Result:
    """Step: both nodes observed, each on its own session."""
    return done(task, look(task, run))


def check_cluster(task: Task, *, run: ClusterRun, view: ClusterView, target: Target) -> Result:
    """Step: the pre-check table against this observation (tasks.plans.prechecks), each check's
    verdict a subtask of its own. Failed when a check failed; a read the node did not answer
    is no verdict on the cluster (the plan looks again), so not a failed step."""

    def reader(node: str) -> NodeRpc:
        return sessions.rpc(task, run, node)

    def report(check: Check) -> None:
        run.emit(EventKind.CHECK, check=check.name, passed=check.passed, evidence=check.evidence)
        step(task, precheck_verdict, check.name, check=check)

    facts = Facts(view, target, reader)
    facts.allow_alarms = tuple(run.options.get("allow_alarms", ()))
    facts.align_rgs = bool(run.options.get("align_rgs"))
    facts.allow_undocumented = bool(run.options.get("allow_undocumented_path"))
    pre = run_prechecks(facts, report)
    return done(task, pre, failed=bool(pre.failed) and not _unanswered(pre))


def precheck_verdict(task: Task, *, check: Check) -> Result:
    """Subtask: one pre-check, "pass: evidence" or "FAIL: evidence" (failed). A read the node
    did not answer says so, and is not a failed subtask: the plan reads again, and only its
    outcome says whether the cluster failed (a failed subtask would fail the host in Nornir)."""
    if check.passed:
        return done(task, check, summary=f"pass: {check.evidence}")
    if check.evidence.startswith(UNANSWERED):
        return done(task, check, summary=check.evidence)
    return done(task, check, summary=f"FAIL: {check.evidence}", failed=True)


def before_icu(
    view: ClusterView, pre: PrecheckResult, target: Target, requested: IcuOptions
) -> Outcome:
    """The outcome of a cluster that gets no ICU: on target, a failed check, or a dry run."""
    checks = pre.to_json()
    if pre.already_on_target:
        verdict = classify(view)
        if verdict.state is not ClusterState.HEALTHY:  # on target is not done until healthy
            detail = f"already on {target.release} but {verdict.state.value}: {verdict.detail}"
            return outcome_from(view, "failed", detail, checks=checks)
        detail = f"already on {target.release}; nothing sent"
        return outcome_from(view, "skipped", detail, checks=checks)
    if pre.failed:
        first = pre.failed[0]
        detail = f"pre-check {first.name} failed: {first.evidence}"
        return outcome_from(view, "failed", detail, checks=checks, phase="pre-checks")
    command = IcuCommand.for_model(target.package, pre.model, requested)
    return outcome_from(
        view,
        "would-upgrade",
        f"dry-run: would send '{command.cli}' to {pre.primary} (RG0 primary)",
        checks=checks,
        plan={"node": pre.primary, "command": command.cli},
    )


class IcuCall(threading.Thread):
    """The ICU RPC on a session of its own, which the device will drop when the primary
    reboots. We never close it while the ICU runs: closing could end the operation. The
    session is opened before the ICU is journaled, so this thread only sends. Started and
    joined through the run's clock (tasks.state.clock: under a virtual clock a participant
    whose wait for the reply is parked on virtual time)."""

    def __init__(
        self, run: ClusterRun, session: tuple[Session, NodeRpc], command: IcuCommand, timeout: float
    ) -> None:
        super().__init__(name=f"icu-{run.cluster}", daemon=True)
        self.session, self.rpc = session
        self.command, self.timeout = command, timeout
        self.clock = run.clock
        self.refused: str | None = None
        self.accepted: str | None = None
        self.answered_at = 0.0  # epoch seconds the RPC answered (0: not, or its session died)

    def run(self) -> None:
        try:
            result = self.rpc.start_icu(self.command, timeout=self.timeout)
            if result.failed:
                self.refused = result.output or "ICU refused"
            else:  # accepted, or words that prove nothing: the polls tell
                self.accepted = result.output
            self.answered_at = self.clock.time()
        except DeviceRefused as exc:
            self.refused = exc.message
            self.answered_at = self.clock.time()
        except (SessionLost, NodeUnreachable):
            pass  # expected: the session dies with the primary's reboot; polls tell the rest
        finally:
            self.session.close()


@dataclass(frozen=True)
class Started:
    base: Baseline
    call: IcuCall


def start_icu(
    task: Task,
    *,
    run: ClusterRun,
    view: ClusterView,
    pre: PrecheckResult,
    command: IcuCommand,
    target: Target,
) -> Result:
    """Step: journal the ICU with its baseline, then send it to the RG0 primary on the
    session the pre-checks used. A refusal comes at once; silence is the normal answer."""
    primary = pre.primary
    plan = {"node": primary, "command": command.cli}
    extra: dict[str, Any] = {"checks": pre.to_json(), "phase": "start-icu", "plan": plan}
    run.emit(EventKind.STEP, step="start-icu", node=primary, command=command.cli)
    try:
        session = sessions.take(task, run, primary)
    except NodeUnreachable as exc:
        return done(
            task, failed_now(task, run, f"ICU not sent: {exc.message}", **extra), failed=True
        )
    base = Baseline(
        primary=primary,
        secondary=peer_of(primary),
        old_release=str(view.versions[primary]),
        target=target.release,
        boot={n: int(view.nodes[n].booted_at or 0) for n in NODES},
    )
    # Journal first, then send: a crash in between must never lead to a second ICU.
    run.emit(
        EventKind.ICU_SENDING,
        node=primary,
        command=command.cli,
        baseline=base.to_json(),
        model=model_family(pre.model),
    )
    t = run.timing
    call = IcuCall(run, session, command, timeout=t.install_deadline + 3 * t.reboot_deadline)
    run.clock.start(call)
    run.clock.join(call, timeout=min(t.icu_reply_timeout, max(t.poll_interval, 1.0)))
    if call.refused:
        run.emit(EventKind.ICU_ENDED, how="refused", reply=call.refused)
        detail = f"ICU refused by {primary}: {call.refused}"
        return done(task, failed_now(task, run, detail, **extra), changed=True, failed=True)
    reply = call.accepted if call.accepted is not None else "no reply yet (expected)"
    run.emit(EventKind.ICU_STARTED, node=primary, reply=reply)
    said = f"sent '{command.cli}' to {primary}: {reply}"
    return done(task, Started(base, call), changed=True, summary=said)


@dataclass
class Watch:
    """One ICU being followed: the tracker, the latest observation, the ICU call (None when
    re-attached to an ICU an earlier run sent)."""

    run: ClusterRun
    tracker: Tracker
    view: ClusterView
    call: IcuCall | None

    def poll(self, task: Task) -> None:
        # Until the secondary's reboot is proven (its boot time moved, not just silence),
        # installs tell the phase and whether the device ended the ICU; then boot times do.
        t = self.tracker
        installs = not t.secondary_rebooted and t.phase.rank < Phase.SECONDARY_BACK.rank
        self.view = track(task, self.run, t.base.boot, installs=installs)


def follow(
    task: Task, run: ClusterRun, base: Baseline, view: ClusterView, call: IcuCall | None
) -> Outcome:
    """Follow the ICU phase by phase (one subtask each) to the primary's return, then verify.
    Polls are discrete: a phase passed between two polls ends its subtask at once."""
    found = inflight(run.history)
    sent_at = float(str(found[0].get("ts", 0))) if found else run.clock.time()
    tracker = Tracker(base, run.timing, since=run.clock.monotonic(), sent_at=sent_at)
    run.emit(EventKind.PHASE, phase=tracker.phase.value)
    watch = Watch(run, tracker, view, call)
    for phase in ORDER[1:]:
        ended = step(task, await_phase, f"icu {phase.value}", run=run, watch=watch, phase=phase)
        if ended is not None:
            return ended
    run.emit(EventKind.ICU_ENDED, how="primary back")
    return step(task, verify_upgrade, "verify", run=run, base=base)


def await_phase(task: Task, *, run: ClusterRun, watch: Watch, phase: Phase) -> Result:
    """Step: poll until the ICU reaches `phase`; an Outcome when it ends any other way. A
    wait sends nothing (an abort it sends on the way is `changed`: tasks.plans.steps)."""
    tracker = watch.tracker
    while True:
        moved = tracker.update(watch.view, run.clock.monotonic())
        if moved:
            run.emit(EventKind.PHASE, phase=moved.value)
        if tracker.phase.rank >= phase.rank:
            return done(task, None)
        ended = _ended(task, watch)
        if ended is not None:
            return done(task, ended, failed=not ended.good)
        run.pause(run.timing.poll_interval)  # an abort asked by another run wakes it
        watch.poll(task)


def _ended(task: Task, watch: Watch) -> Outcome | None:
    """How the ICU ended if it did not reach its next phase: refused late, stopped by the
    device, aborted by us (interrupt or window end), or a deadline missed."""
    run, tracker, phase = watch.run, watch.tracker, watch.tracker.phase.value
    if watch.call is not None and watch.call.refused:
        run.emit(EventKind.ICU_ENDED, how="failed on the device", reply=watch.call.refused)
        detail = f"ICU failed on the device during {phase}: {watch.call.refused}"
        return failed_now(task, run, detail, phase=phase)
    reason = tracker.stopped(watch.view, run.clock.time())
    if reason:
        run.emit(EventKind.ICU_ENDED, how="stopped by the device", reason=reason)
        return failed_now(task, run, f"ICU stopped during {phase}: {reason}", phase=phase)
    why = run.abort_reason()
    if why:
        run.emit(EventKind.NOTE, message=f"aborting the ICU: {why}")
        base = tracker.base
        result = abort_plan(
            task, run, target=base.target, view=look(task, run), base=base, call=watch.call
        )
        if result.good:  # consistent and healthy, but not upgraded
            result.outcome = "aborted"
        result.detail = f"{why}: {result.detail}"
        return result
    if tracker.overdue(run.clock.monotonic()):
        detail = f"deadline: {phase} lasted more than {tracker.deadline():g}s"
        return failed_now(task, run, detail, phase=phase)
    return None


def verify_upgrade(task: Task, *, run: ClusterRun, base: Baseline) -> Result:
    """Step: both nodes on the target, nothing pending, cluster healthy (and RGs restored)."""
    outcome = verify_upgraded(task, run, base)
    return done(task, outcome, failed=not outcome.good)
