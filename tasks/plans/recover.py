"""Recovery of an inconsistent cluster (Juniper's order: docs/design/device-facts.md), on the
RG0 secondary only:

abort -> rollback node <id> -> reboot, each verified before the next, then wait for the node
to rejoin and verify the cluster consistent and healthy. Each step is a Nornir subtask whose
command is journaled before it leaves; a resumed recovery continues at the first step the
journal (`progress`) and the device do not show as done, and never sends a rollback twice
(a second one would cancel the first).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any

from nornir.core.task import Result, Task

from tasks.device.commands import ABORT_CLI, REBOOT_CLI, rollback_cli
from tasks.device.junos import rollback_names
from tasks.device.readings import ClusterView, node_id, peer_of
from tasks.errors import DeadlineExceeded, DeviceRefused, NodeUnreachable, RunbookError, SessionLost
from tasks.events import EventKind
from tasks.plans import sessions
from tasks.plans.classify import ClusterState, classify, icu_running
from tasks.plans.dual_reboot import progress as dual_progress
from tasks.plans.dual_recover import recover_dual
from tasks.plans.icu import inflight
from tasks.plans.outcomes import failed_now, outcome_from
from tasks.plans.steps import done, step
from tasks.plans.waits import await_healthy, look, poll_until
from tasks.srx_facts import newer
from tasks.state.run_context import ClusterRun, Outcome
from tasks.upgrade_paths import rollback_refusal
from tasks.vocabulary import NODES

LEGACY_STEP = "recover-step"  # journals before recover-verified: written after the abort's and
# the rollback's reply, and *before* the reboot was sent


@dataclass(frozen=True)
class Decision:
    node: str | None  # the node to recover, None when refused
    primary: str | None
    reason: str  # why this node, or why refused (with the suggested manual step)


def decide(view: ClusterView, target: str | None) -> Decision:
    """Which node to recover: the RG0 secondary on the release that differs from the primary's."""
    refused = [n for n in NODES if view.nodes[n].auth_failed]
    if refused:  # a wrong password is no routing problem: say which it is
        words = "; ".join(view.nodes[n].error for n in refused)
        return Decision(
            None,
            None,
            f"{', '.join(refused)} refused our credentials ({words}); set the right "
            "JUNOS_USERNAME / JUNOS_PASSWORD, then re-run recover",
        )
    down = [n for n in NODES if not view.nodes[n].reachable]
    if down:
        return Decision(
            None, None, f"{', '.join(down)} unreachable; bring it up, then re-run recover"
        )
    seen = {n: view.primary_seen_by(n) for n in NODES}
    if len(set(seen.values())) != 1 or None in seen.values():
        return Decision(
            None,
            None,
            "nodes disagree about the RG0 primary ("
            + ", ".join(f"{n} says {p or 'none'}" for n, p in seen.items())
            + "); check control/fabric links and `show chassis cluster status` "
            "on each node before acting",
        )
    primary = seen["node0"]
    assert primary is not None
    secondary = peer_of(primary)
    vp, vs = view.versions[primary], view.versions[secondary]
    if vp != vs:
        secondary_differs = vs == target or (target not in (vp, vs) and newer(str(vs), str(vp)))
        if not secondary_differs:
            return Decision(
                None,
                primary,
                f"the RG0 primary {primary} runs {vp}, the secondary "
                f"{vs}: the node on the differing release is the primary; fail "
                f"RG0 over to {secondary} or roll back {primary} by hand in a window",
            )
        software = view.nodes[secondary].software or view.nodes[primary].software
        limit = rollback_refusal(software.model if software else "", str(vs), str(vp))
        if limit:  # the device would refuse the rollback step: say so before the abort
            return Decision(None, primary, f"{limit}; bring {secondary} back by hand")
        return Decision(
            secondary,
            primary,
            f"{secondary} (RG0 secondary) runs {vs}, primary {primary} runs {vp}",
        )
    pending = [n for n in NODES if view.nodes[n].pending]
    if pending == [secondary]:
        return Decision(secondary, primary, f"leftover install pending on {secondary}")
    if primary in pending:
        return Decision(
            None,
            primary,
            f"an install is pending on the RG0 primary {primary}; "
            f"run `{rollback_cli(node_id(primary))}` on it by hand",
        )
    return Decision(None, primary, "nothing to recover")


@dataclass(frozen=True)
class RecoveryProgress:
    """This recovery so far, from the journal: it lasts from its first step to recover-done
    (or a new ICU), across runs."""

    sent: frozenset[str] = frozenset()  # steps whose command left (abort, rollback, reboot)
    verified: frozenset[str] = frozenset()
    reboot: dict[str, Any] | None = None  # the reboot that was sent: node, boot_before, run_id
    observed: frozenset[str] = frozenset()  # verified by observation alone: no reply was read

    @property
    def resuming(self) -> bool:
        return bool(self.sent or self.verified)

    @property
    def rolled_back(self) -> bool:
        return "rollback" in self.sent or "rollback" in self.verified


def progress(history: list[dict[str, Any]]) -> RecoveryProgress:
    sent: set[str] = set()
    verified: set[str] = set()
    observed: set[str] = set()
    reboot: dict[str, Any] | None = None
    for rec in history:
        event, name = rec.get("event"), str(rec.get("step"))
        if event in (EventKind.RECOVER_DONE, EventKind.ICU_SENDING):
            sent, verified, observed, reboot = set(), set(), set(), None
        elif event == EventKind.RECOVER_SENDING or (event == LEGACY_STEP and name == "reboot"):
            sent.add(name)
            reboot = rec if name == "reboot" else reboot
        elif event in (EventKind.RECOVER_VERIFIED, LEGACY_STEP):
            verified.add(name)
            (observed.add if rec.get("followed") else observed.discard)(name)
        elif event == EventKind.RECOVER_REFUSED:  # the device refused it: not in effect
            sent.discard(name)
    return RecoveryProgress(frozenset(sent), frozenset(verified), reboot, frozenset(observed))


def screen(
    view: ClusterView, prog: RecoveryProgress, icu_run: str | None, cluster: str = ""
) -> tuple[str, str] | None:
    """(outcome, detail) for a cluster that gets no recovery step now, else None."""
    verdict = classify(view)
    if icu_run is not None and not prog.resuming:
        which = f" --cluster {cluster}" if cluster else ""
        return (
            "refused",
            f"refused: the ICU sent by run {icu_run} has not been seen to its end; follow it "
            f"with `python -m runbooks upgrade --resume{which}` or stop it (and recover what "
            f"it leaves) with `python -m runbooks abort{which}`",
        )
    if verdict.state is ClusterState.HEALTHY:
        return "skipped", "healthy; nothing to recover" + (
            " (the recovery an earlier run began is complete)" if prog.resuming else ""
        )
    if verdict.state not in (ClusterState.INCONSISTENT, ClusterState.PENDING_INSTALL) and (
        prog.reboot is None
    ):
        return "refused", f"not recovered: {verdict.state.value} ({verdict.detail})"
    return None


def recover_plan(
    task: Task,
    run: ClusterRun,
    *,
    target: str | None,
    view: ClusterView | None = None,
    prefix: str = "",
) -> Outcome:
    view = view or look(task, run)
    if dual_progress(run.history).active:  # a dual reboot left half-way: its own recovery
        return recover_dual(task, run, view, prefix)
    prog = progress(run.history)
    found = inflight(run.history)
    early = screen(view, prog, str(found[0].get("run_id")) if found else None, run.cluster)
    if early is not None:
        if early[0] == "skipped" and prog.resuming:
            run.emit(EventKind.RECOVER_DONE, node="", release=view.versions.get("node0"))
        return outcome_from(view, early[0], prefix + early[1])
    if prog.reboot is not None:
        node = str(prog.reboot["node"])
        run.emit(
            EventKind.NOTE,
            message=f"resuming: reboot of {node} was sent by run "
            f"{prog.reboot['run_id']}; waiting for it to rejoin",
        )
        boot = int(prog.reboot["boot_before"])
        sent = float(str(prog.reboot.get("ts", 0)))
        return step(
            task, rejoin, "recover rejoin", run=run, node=node, boot=boot, prefix=prefix, sent=sent
        )
    decision = decide(view, target)
    if decision.node is None:
        return outcome_from(view, "refused", prefix + f"refused: {decision.reason}")
    if run.dry_run:
        words = [f"{c} (on {decision.node})" for c in _commands(decision.node)]
        return outcome_from(
            view,
            "would-recover",
            prefix
            + f"dry-run: would recover {decision.node} ({decision.reason}): "
            + "; then ".join(words),
            plan={"node": decision.node, "commands": words},
        )
    run.emit(EventKind.STEP, step="recover", node=decision.node, reason=decision.reason)
    try:
        return _recover(task, run, view, decision.node, prog, prefix)
    except RunbookError as exc:
        where = exc.step or "recover"
        detail = prefix + f"recover stopped at {where} on {decision.node}: {exc.message}"
        return failed_now(task, run, detail, phase=where)


def _commands(node: str) -> tuple[str, str, str]:
    return ABORT_CLI, rollback_cli(node_id(node)), REBOOT_CLI


def _recover(
    task: Task, run: ClusterRun, view: ClusterView, node: str, prog: RecoveryProgress, prefix: str
) -> Outcome:
    want = str(view.versions[peer_of(node)])
    differs = view.versions[node] != want
    pending = bool(view.nodes[node].pending)
    # Journal and device together: an install pending on the node after a rollback this
    # recovery sent is that rollback (a run died before seeing its reply); one nobody here
    # sent is unexplained, and rolling back again would cancel it, not undo it.
    rolled_back = differs and pending and prog.rolled_back
    if differs and pending and not rolled_back:
        return outcome_from(
            view,
            "refused",
            prefix + f"refused: {node} runs {view.versions[node]} and has an install "
            f"pending that this tool did not request; check `show system software "
            f"rollback` on {node} and roll it back by hand",
        )
    if rolled_back:
        run.emit(EventKind.NOTE, message=f"{node} already rolled back; resuming at the reboot")
    else:
        answered = _abort_once(task, run, node, view, prog)
        named = want if differs else None  # a leftover install: the reply names the current one
        _rollback(task, run, node, view, named, answered)
    boot = step(task, check_rolled_back, "rollback verified", run=run, node=node, want=want)
    if boot is None:
        run.emit(
            EventKind.NOTE, message=f"{node} runs {want} with nothing pending; no reboot needed"
        )
        return verified(task, run, node, want, prefix, "rollback")
    step(task, recover_reboot, "recover reboot", run=run, node=node, boot=boot)
    return step(task, rejoin, "recover rejoin", run=run, node=node, boot=boot, prefix=prefix)


def _abort_once(
    task: Task, run: ClusterRun, node: str, view: ClusterView, prog: RecoveryProgress
) -> bool:
    """Step 1 once per recovery: sent, or (journaled by an earlier run) followed. True when
    the device answered it (now, or an earlier run read its reply).

    An abort this recovery verified is not sent again. One an earlier run journaled and
    never saw verified (it died after the record: before the send, after it, or before the
    reply) is not sent again either: the journal cannot tell whether it left, and no read
    shows whether it reached the node, so the device is observed until it shows what a
    landed abort shows (no ICU running, the releases as they were) and the step is verified
    on that alone (`followed`). A refused abort (`recover-refused`) took no effect: it does
    not count as sent."""
    if "abort" in prog.verified:
        run.emit(EventKind.NOTE, message=f"the abort on {node} was verified by an earlier run")
        return "abort" not in prog.observed
    if "abort" in prog.sent:
        step(
            task, recover_abort_followed, "recover abort followed", run=run, node=node, before=view
        )
        return False
    step(task, recover_abort, "recover abort", run=run, node=node, before=view)
    return True


ICU_STATE = "in-service-upgrade state"  # the words of a rollback refused for ICU state [I]


def _rollback(
    task: Task, run: ClusterRun, node: str, before: ClusterView, want: str | None, answered: bool
) -> None:
    """Step 2 (rollback node <id>). When the abort before it was only followed (an earlier
    run journaled it and died unanswered) and the device refuses the rollback because
    in-service-upgrade state is still active on the node, the device has shown that abort
    never took effect (clearing that state is what it does): it is sent now, journaled
    first, and the rollback after it (the refused one took no effect either)."""
    try:
        step(task, recover_rollback, "recover rollback", run=run, node=node, want=want)
        return
    except DeviceRefused as exc:
        if answered or ICU_STATE not in exc.message.lower():
            raise
        words = exc.message
    run.emit(
        EventKind.NOTE,
        message=f"the rollback was refused ({words}): the abort an earlier run journaled never "
        f"cleared the ICU state on {node}; sending the abort, then the rollback",
    )
    step(task, recover_abort, "recover abort again", run=run, node=node, before=before)
    step(task, recover_rollback, "recover rollback again", run=run, node=node, want=want)


def recover_abort(task: Task, *, run: ClusterRun, node: str, before: ClusterView) -> Result:
    """Step 1: the abort on the node to recover; verified when no ICU runs any more and the
    releases are as they were (the device finishes its current operation first). A refusal
    is journaled (`recover-refused`): the device showed it took no effect."""
    rpc = sessions.rpc(task, run, node)
    run.emit(EventKind.RECOVER_SENDING, step="abort", node=node, command=ABORT_CLI)
    try:
        words = rpc.abort_icu()
    except DeviceRefused as exc:
        run.emit(EventKind.RECOVER_REFUSED, step="abort", node=node, reply=exc.message)
        raise
    _abort_settled(task, run, node, before)
    run.emit(EventKind.RECOVER_VERIFIED, step="abort", node=node, reply=words)
    return done(task, words, changed=True)


def recover_abort_followed(
    task: Task, *, run: ClusterRun, node: str, before: ClusterView
) -> Result:
    """Step 1 resumed: the abort an earlier run journaled, observed to its landing and
    verified as if sent now; nothing is sent."""
    run.emit(
        EventKind.NOTE,
        message=f"the abort on {node} was journaled by an earlier run that did not see it "
        "verified; observing the device (not sent again)",
    )
    _abort_settled(task, run, node, before)
    words = "sent by an earlier run; seen landed (no ICU running, releases unchanged)"
    run.emit(EventKind.RECOVER_VERIFIED, step="abort", node=node, reply=words, followed=True)
    return done(task, words)


def _abort_settled(task: Task, run: ClusterRun, node: str, before: ClusterView) -> None:
    """Wait for what a landed abort shows: both nodes up, no ICU running, the releases as in
    `before`; DeviceRefused (step abort) otherwise."""

    def settled(v: ClusterView) -> bool:
        return all(v.nodes[n].reachable for n in NODES) and not icu_running(v)

    try:
        _, after = poll_until(
            task,
            run,
            settled,
            deadline=run.timing.abort_deadline,
            what="no ICU running after the abort",
            describe=lambda v: classify(v).detail,
        )
    except DeadlineExceeded as exc:
        raise DeviceRefused(exc.message, step="abort", node=node) from None
    if after.versions != before.versions:
        raise DeviceRefused(
            f"the cluster changed while the abort landed (releases {before.versions} -> "
            f"{after.versions}); not rolling back",
            step="abort",
            node=node,
        )


def recover_rollback(task: Task, *, run: ClusterRun, node: str, want: str | None) -> Result:
    """Step 2: rollback node <id>; its reply must name the primary's release as the one that
    becomes active. A lost reply is not a refusal, and never a reason to send it again: the
    next step reads the device."""
    rpc = sessions.rpc(task, run, node)
    command = rollback_cli(node_id(node))
    run.emit(EventKind.RECOVER_SENDING, step="rollback", node=node, command=command)
    try:
        result = rpc.rollback(node_id(node))
    except SessionLost as exc:
        sessions.drop(task, run, node)
        run.emit(EventKind.NOTE, message=f"rollback: {exc.message}; checking {node} itself")
        return done(task, None, changed=True)
    if result.failed:
        words = result.output or "rollback refused"
        run.emit(EventKind.RECOVER_REFUSED, step="rollback", node=node, reply=words)
        raise DeviceRefused(words, step="rollback", node=node)
    if not result.ok:  # no evidence either way: the device shows it in the next step
        run.emit(EventKind.NOTE, message=f"rollback answered {result.output!r}; checking {node}")
        return done(task, result.output, changed=True)
    if want is not None and not rollback_names(result.output, want):
        raise DeviceRefused(
            f"rollback answered {result.output!r}; expected {want} to become active",
            step="rollback",
            node=node,
        )
    run.emit(EventKind.RECOVER_VERIFIED, step="rollback", node=node, reply=result.output)
    return done(task, result.output, changed=True)


def check_rolled_back(task: Task, *, run: ClusterRun, node: str, want: str) -> Result:
    """The device after the rollback: the boot time to prove the reboot by, or None when the
    node already runs `want` with nothing pending (a leftover install rolled back)."""
    current = look(task, run)
    me = current.nodes[node]
    if current.versions[node] == want:
        if me.pending:  # rolling back a leftover install must leave nothing pending
            raise DeviceRefused(
                f"an install is still pending on {node} after the rollback; not rebooting into it",
                step="rollback",
                node=node,
            )
        return done(task, None, summary=f"{node} runs {want}, nothing pending: no reboot needed")
    if not me.pending:
        raise DeviceRefused(
            f"after rollback {node} shows no pending install; the reboot would not bring {want}",
            step="rollback",
            node=node,
        )
    said = f"{node} has {want} pending: the reboot activates it"
    return done(task, int(me.booted_at or 0), summary=said)


def recover_reboot(task: Task, *, run: ClusterRun, node: str, boot: int) -> Result:
    """Step 3: reboot the node. A lost reply is expected: the box starts shutting down before
    it finishes the reply; the changed boot time proves the reboot."""
    rpc = sessions.rpc(task, run, node)
    run.emit(
        EventKind.RECOVER_SENDING, step="reboot", node=node, boot_before=boot, command=REBOOT_CLI
    )
    with contextlib.suppress(SessionLost, NodeUnreachable):
        rpc.reboot(node_id(node), timeout=min(run.timing.rpc_timeout, 30))
    sessions.drop(task, run, node)
    return done(task, None, changed=True, summary=f"sent '{REBOOT_CLI}' to {node}")


def rejoin(
    task: Task, *, run: ClusterRun, node: str, boot: int, prefix: str, sent: float | None = None
) -> Result:
    """Wait for the rebooted node to come back as RG0 secondary on the primary's release,
    then verify the cluster. `sent`: when an earlier run journaled the reboot (a resume)."""
    primary = peer_of(node)

    def gone_or_rebooted(v: ClusterView) -> bool:
        me = v.nodes[node]
        return not me.reachable or (me.booted_at or 0) > boot

    def rejoined(v: ClusterView) -> bool:
        me, other = v.nodes[node], v.nodes[primary]
        if not (me.reachable and other.reachable and (me.booted_at or 0) > boot):
            return False
        rg0 = v.status.group(0) if v.status else None
        member = rg0.member(node) if rg0 else None
        same = v.versions[node] == v.versions[primary]
        return same and bool(member and member.status == "secondary")

    t = run.timing
    what = f"{node} rebooting (boot time change)"
    try:
        try:
            poll_until(task, run, gone_or_rebooted, deadline=t.reboot_deadline, what=what)
        except DeadlineExceeded:
            if not _reboot_never_left(task, run, node, boot, sent):
                raise
            step(task, recover_reboot, "recover reboot again", run=run, node=node, boot=boot)
            poll_until(task, run, gone_or_rebooted, deadline=t.reboot_deadline, what=what)
        _, view = poll_until(
            task,
            run,
            rejoined,
            deadline=t.reboot_deadline,
            what=f"{node} back as RG0 secondary on the primary's release",
            describe=lambda v: classify(v).detail,
        )
    except DeadlineExceeded as exc:
        detail = prefix + f"recover stopped at reboot on {node}: {exc.message}"
        outcome = failed_now(task, run, detail, phase="reboot")
    else:
        outcome = verified(task, run, node, str(view.versions[primary]), prefix, "reboot")
    return done(task, outcome, failed=not outcome.good)


def _reboot_never_left(
    task: Task, run: ClusterRun, node: str, boot: int, sent: float | None
) -> bool:
    """A reboot an earlier run journaled (then died, before or while sending it) that the
    device shows never happened: the node is up on its old boot time a whole reboot deadline
    after the record. Then, and only then, it is sent again (journaled first): the device
    showed the first one did not take effect. Without this a recovery killed between the
    record and the send waited for that reboot on every later run, for ever."""
    if sent is None or run.clock.time() - sent < run.timing.reboot_deadline:
        return False
    me = look(task, run).nodes[node]
    if not me.reachable or (me.booted_at or 0) != boot:
        return False
    run.emit(
        EventKind.NOTE,
        message=f"the reboot of {node} journaled at {sent:.0f} never took effect ({node} is "
        f"up on the same boot time {run.timing.reboot_deadline:.0f} s later): sending it again",
    )
    return True


def verified(
    task: Task, run: ClusterRun, node: str, release: str, prefix: str, last_step: str
) -> Outcome:
    try:
        view = await_healthy(task, run, what="cluster healthy after recovery")
    except DeadlineExceeded as exc:
        return failed_now(task, run, prefix + f"recover: {exc.message}", phase="verify")
    run.emit(EventKind.RECOVER_DONE, node=node, release=release)
    return outcome_from(
        view,
        "ok",
        prefix + f"recovered {node} (last step {last_step}): both "
        f"nodes on {release}, cluster healthy (verified)",
        recovered_node=node,
    )
