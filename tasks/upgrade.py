"""The per-cluster upgrade plan: connect, pre-checks, start ICU, track phases, verify.

Every step observes first and skips what is already done; the ICU command is journaled
*before* it goes on the wire, so no resume can ever send it twice.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from nornir.core.task import Task

from tasks.classify import ClusterState, classify
from tasks.connections import close_quietly, drop_all, node_rpc, take_session
from tasks.errors import DeadlineExceeded, DeviceRefused, NodeUnreachable, RunbookError, SessionLost
from tasks.icu import Baseline, Phase, Tracker, inflight, stopped_reason
from tasks.junos import NodeRpc
from tasks.prechecks import PrecheckResult, run_prechecks
from tasks.releases import model_family
from tasks.runctx import ClusterRun, NotStarted, Outcome
from tasks.settings import Target
from tasks.values import NODES, ClusterView, node_id, peer_of
from tasks.waits import look, poll_until, track

ICU_CLI = "request system software in-service-upgrade"


def icu_command(package: str, toggles: dict[str, bool]) -> str:
    order = ("no-sync", "no-tcp-syn-check", "no-validate", "unlink", "reboot")
    return " ".join([ICU_CLI, package, *(t for t in order if toggles.get(t))])


def outcome_from(view: ClusterView, outcome: str, detail: str, **extra: Any) -> Outcome:
    verdict = classify(view)
    return Outcome(
        outcome, verdict.state.value, {n: view.versions.get(n) for n in NODES}, detail, extra
    )


def failed_now(task: Task, run: ClusterRun, detail: str, **extra: Any) -> Outcome:
    """`failed`, with the cluster's state taken from a fresh full observation."""
    return outcome_from(look(task, run), "failed", detail, **extra)


class IcuCall(threading.Thread):
    """The ICU RPC on a session of its own, which the device will drop when the primary
    reboots. We never close it while the ICU runs: closing could end the operation. The
    session is opened before the ICU is journaled, so this thread only sends."""

    def __init__(
        self,
        run: ClusterRun,
        session: tuple[Any, NodeRpc],
        package: str,
        toggles: dict[str, bool],
        timeout: float,
    ) -> None:
        super().__init__(name=f"icu-{run.cluster}", daemon=True)
        self.plugin, self.rpc = session
        self.package, self.toggles, self.timeout = package, toggles, timeout
        self.refused: str | None = None
        self.accepted: str | None = None

    def run(self) -> None:
        try:
            result = self.rpc.start_icu(self.package, self.toggles, timeout=self.timeout)
            if result.ok:
                self.accepted = result.output
            else:
                self.refused = result.output or "ICU refused"
        except DeviceRefused as exc:
            self.refused = exc.message
        except (SessionLost, NodeUnreachable):
            pass  # expected: the session dies with the primary's reboot; polls tell the rest
        finally:
            close_quietly(self.plugin.connection)


def upgrade_cluster(
    task: Task, run: ClusterRun, target: Target, toggles: dict[str, bool]
) -> Outcome:
    try:
        return _upgrade(task, run, target, toggles)
    finally:
        drop_all(task)


def _upgrade(task: Task, run: ClusterRun, target: Target, toggles: dict[str, bool]) -> Outcome:
    run.emit("step", step="connect")
    view = look(task, run)

    # Resume: an ICU this tool sent whose end no run has seen is re-attached, never resent.
    found = inflight(run.history)
    if found is not None:
        sent, base = found
        run.emit("note", message=f"re-attaching to the ICU sent by run {sent['run_id']}")
        return _follow(task, run, base, view, call=None)
    finished = run.last("cluster-finished")
    if (
        finished
        and finished.get("job") == "upgrade"
        and finished.get("outcome") == "failed"
        and not run.options.get("retry_failed")
    ):
        return outcome_from(
            view,
            "failed",
            f"left as failed by run {finished['run_id']}: {finished.get('detail')}"
            " (re-run with --retry-failed)",
        )

    run.emit("step", step="pre-checks")
    pre = run_prechecks(task, run, view, target, toggles)
    if pre.already_on_target or pre.failed or run.dry_run:
        return _before_icu(view, pre, target)
    assert pre.primary is not None

    asked = time.monotonic()
    with run.gate.slot():
        if run.window_closed():  # pre-checks or the wait for a slot outlasted the window
            raise NotStarted("window closed before the ICU could be sent")
        if time.monotonic() - asked > run.timing.poll_interval:
            # The wait for an in-flight slot took a while: what the checks saw may be stale
            # (an RG0 failover since would send the ICU to the secondary). Check again.
            view = look(task, run)
            pre = run_prechecks(task, run, view, target, toggles)
            if pre.already_on_target or pre.failed:
                return _before_icu(view, pre, target)
            assert pre.primary is not None
        return _start_icu(task, run, view, pre, target)


def _before_icu(view: ClusterView, pre: PrecheckResult, target: Target) -> Outcome:
    """The outcome of a cluster that gets no ICU: on target, a failed check, or a dry run."""
    checks = [c.to_json() for c in pre.checks]
    if pre.already_on_target:
        verdict = classify(view)
        if verdict.state is not ClusterState.HEALTHY:  # on target is not done until healthy
            return outcome_from(
                view,
                "failed",
                f"already on {target.release} but {verdict.state.value}: {verdict.detail}",
                checks=checks,
            )
        return outcome_from(
            view, "skipped", f"already on {target.release}; nothing sent", checks=checks
        )
    if pre.failed:
        first = pre.failed[0]
        return outcome_from(
            view,
            "failed",
            f"pre-check {first.name} failed: {first.evidence}",
            checks=checks,
            phase="pre-checks",
        )
    assert pre.primary is not None
    command = icu_command(target.package, pre.toggles)
    return outcome_from(
        view,
        "skipped",
        f"dry-run: would send '{command}' to {pre.primary} (RG0 primary)",
        checks=checks,
        plan={"node": pre.primary, "command": command},
    )


def _start_icu(
    task: Task, run: ClusterRun, view: ClusterView, pre: PrecheckResult, target: Target
) -> Outcome:
    assert pre.primary is not None
    primary = pre.primary
    checks = [c.to_json() for c in pre.checks]
    command = icu_command(target.package, pre.toggles)
    plan = {"node": primary, "command": command}
    run.emit("step", step="start-icu", node=primary, command=command)
    try:
        session = take_session(task, primary, run.transcript)
    except NodeUnreachable as exc:
        return failed_now(
            task,
            run,
            f"ICU not sent: {exc.message}",
            checks=checks,
            phase="start-icu",
            plan=plan,
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
        "icu-sending",
        node=primary,
        command=command,
        baseline=base.to_json(),
        model=model_family(pre.model),
    )
    t = run.timing
    call = IcuCall(
        run,
        session,
        target.package,
        pre.toggles,
        timeout=t.install_deadline + 3 * t.reboot_deadline,
    )
    call.start()
    # A refusal comes at once; silence is the normal answer, so tracking starts after a
    # short grace and keeps watching the call for a late refusal.
    call.join(timeout=min(t.icu_reply_timeout, max(t.poll_interval, 1.0)))
    if call.refused:
        run.emit("icu-ended", how="refused", reply=call.refused)
        return failed_now(
            task,
            run,
            f"ICU refused by {primary}: {call.refused}",
            checks=checks,
            phase="start-icu",
            plan=plan,
        )
    run.emit(
        "icu-started",
        node=primary,
        reply=call.accepted if call.accepted is not None else "no reply yet (expected)",
    )
    result = _follow(task, run, base, view, call=call)
    result.extra.setdefault("checks", checks)
    result.extra.setdefault("plan", plan)
    return result


def _follow(
    task: Task, run: ClusterRun, base: Baseline, view: ClusterView, call: IcuCall | None
) -> Outcome:
    """Track the phases to the primary's return, then verify. Failures carry the phase."""
    # Re-attached (no call of ours): a device that reports idle with nothing pending has
    # already ended that ICU, or never received it.
    tracker = Tracker(base, run.timing, since=time.monotonic(), seen_running=call is None)
    run.emit("phase", phase=tracker.phase.value)
    while True:
        moved = tracker.update(view, time.monotonic())
        if moved:
            run.emit("phase", phase=moved.value)
        if tracker.phase is Phase.PRIMARY_BACK:
            break
        if call is not None and call.refused:
            run.emit("icu-ended", how="failed on the device", reply=call.refused)
            return failed_now(
                task,
                run,
                f"ICU failed on the device during {tracker.phase.value}: {call.refused}",
                phase=tracker.phase.value,
            )
        reason = stopped_reason(
            view, base, tracker.phase, tracker.seen_running, tracker.secondary_rebooted
        )
        if reason:
            run.emit("icu-ended", how="stopped by the device", reason=reason)
            return failed_now(
                task,
                run,
                f"ICU stopped during {tracker.phase.value}: {reason}",
                phase=tracker.phase.value,
            )
        why = run.abort_reason()
        if why:
            from tasks.abort import abort_cluster  # abort builds on this module

            run.emit("note", message=f"aborting the ICU: {why}")
            result = abort_cluster(task, run, target=base.target, view=look(task, run), base=base)
            if result.outcome in ("ok", "skipped"):  # consistent and healthy, but not upgraded
                result.outcome = "aborted"
            result.detail = f"{why}: {result.detail}"
            return result
        if tracker.overdue(time.monotonic()):
            return failed_now(
                task,
                run,
                f"deadline: {tracker.phase.value} lasted more than {tracker.deadline():g}s",
                phase=tracker.phase.value,
            )
        time.sleep(run.timing.poll_interval)
        # Until the secondary's reboot is proven (its boot time moved, not just silence),
        # installs tell the phase and whether the device ended the ICU; then boot times do.
        installs = not tracker.secondary_rebooted and tracker.phase.rank < Phase.SECONDARY_BACK.rank
        view = track(task, run, base.boot, installs=installs)
    run.emit("icu-ended", how="primary back")
    return verify_upgraded(task, run, base)


def verify_upgraded(task: Task, run: ClusterRun, base: Baseline) -> Outcome:
    run.emit("step", step="verify")

    def done(view: ClusterView) -> bool:
        return (
            all(view.versions.get(n) == base.target for n in NODES)
            and classify(view).state is ClusterState.HEALTHY
        )

    try:
        _, view = poll_until(
            task,
            run,
            done,
            deadline=run.timing.settle_deadline,
            what="both nodes on the target and the cluster healthy",
            describe=lambda v: classify(v).detail,
        )
    except DeadlineExceeded as exc:
        return failed_now(task, run, exc.message, phase="verify")
    restore = run.options.get("restore_primary")
    if restore:
        try:
            restore_primary(task, run, view, str(restore))
            view = look(task, run)
        except RunbookError as exc:
            return failed_now(
                task,
                run,
                f"restore-primary: {exc.message}",
                phase="restore-primary",
            )
    restored = f"; every RG primary on {restore}" if restore else ""
    return outcome_from(
        view, "ok", f"both nodes on {base.target}, cluster healthy (verified){restored}"
    )


def restore_primary(task: Task, run: ClusterRun, view: ClusterView, preferred: str) -> None:
    """Fail every RG back to `preferred`, then reset the manual-failover flag; verified."""
    status = view.status
    if status is None:
        raise NodeUnreachable("no cluster status to restore from", cluster=run.cluster)
    moves = [rg.rg_id for rg in status.groups if rg.nodes_with("primary") != (preferred,)]
    if not moves:
        run.emit("note", message=f"every RG already primary on {preferred}")
        return
    current = status.rg0_primary or preferred
    rpc = node_rpc(task, current, timeout=run.timing.rpc_timeout, recorder=run.transcript)
    for rg_id in moves:
        run.emit(
            "command",
            node=current,
            command=f"request chassis cluster failover "
            f"redundancy-group {rg_id} node {node_id(preferred)}",
        )
        rpc.failover(rg_id, node_id(preferred))
    drop_all(task)  # an RG0 move changes which node answers as primary

    def moved(v: ClusterView) -> bool:
        st = v.status
        return st is not None and all(
            (g := st.group(rg)) is not None and g.nodes_with("primary") == (preferred,)
            for rg in moves
        )

    poll_until(
        task,
        run,
        moved,
        deadline=run.timing.settle_deadline,
        what=f"RGs {moves} primary on {preferred}",
    )
    rpc = node_rpc(task, preferred, timeout=run.timing.rpc_timeout, recorder=run.transcript)
    for rg_id in moves:
        run.emit(
            "command",
            node=preferred,
            command=f"request chassis cluster failover reset redundancy-group {rg_id}",
        )
        rpc.failover_reset(rg_id)

    def reset(v: ClusterView) -> bool:
        st = v.status
        return st is not None and not any(m.manual_failover for g in st.groups for m in g.members)

    poll_until(
        task,
        run,
        lambda v: reset(v) and classify(v).state is ClusterState.HEALTHY,
        deadline=run.timing.settle_deadline,
        what="manual-failover flags cleared and the cluster healthy",
        describe=lambda v: classify(v).detail,
    )
