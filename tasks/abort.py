"""The per-cluster abort plan: observe, abort on the RG0 primary, wait for it to land,
classify, and recover an inconsistent result unless told not to (reference section 4)."""

from __future__ import annotations

import time
from typing import Any

from nornir.core.task import Task

from tasks.classify import ClusterState, classify
from tasks.connections import node_rpc
from tasks.errors import DeadlineExceeded, DeviceRefused, RunbookError
from tasks.icu import Baseline, Phase, evidence, inflight
from tasks.recover import recover_cluster
from tasks.runctx import ClusterRun, Outcome
from tasks.upgrade import failed_now, outcome_from, verify_upgraded
from tasks.values import NODES, ClusterView, IcuPhase
from tasks.waits import look, poll_until

ABORT_CLI = "request system software abort in-service-upgrade"


def icu_activity(view: ClusterView, base: Baseline | None) -> str | None:
    """A phase name when an ICU is evidently running, None when it evidently is not."""
    reported = {v.icu_phase for v in view.nodes.values() if v.reachable}
    running = [p for p in reported if p not in (None, IcuPhase.IDLE)]
    if running:
        return str(running[0].value)
    if reported and reported <= {IcuPhase.IDLE}:
        return None  # the device says idle; believe it
    if base is not None:
        phase = evidence(view, base, Phase.STARTED)
        # The primary back on the target: that ICU is over, there is nothing to abort.
        return None if phase is Phase.PRIMARY_BACK else phase.value
    if any(v.pending for v in view.nodes.values() if v.reachable):
        return "install pending"
    return None


def abort_cluster(
    task: Task,
    run: ClusterRun,
    *,
    target: str | None,
    view: ClusterView | None = None,
    base: Baseline | None = None,
) -> Outcome:
    view = view or look(task, run)
    if base is None:
        found = inflight(run.history)
        base = found[1] if found else None
    phase = icu_activity(view, base)
    if phase is None:
        return outcome_from(
            view, "skipped", f"no ICU running ({classify(view).state.value}); nothing sent"
        )
    primary = view.status.rg0_primary if view.status else None
    if primary is None or not view.nodes[primary].reachable:
        primary = next((n for n in NODES if view.primary_seen_by(n) == n), None)
    if primary is None:
        return outcome_from(
            view,
            "failed",
            f"ICU running ({phase}) but no reachable RG0 primary to send the abort to",
            phase=phase,
        )
    if run.dry_run:
        return outcome_from(
            view,
            "skipped",
            f"dry-run: ICU running ({phase}); would send '{ABORT_CLI}' to {primary} (RG0 primary)",
            plan={"node": primary, "command": ABORT_CLI},
        )
    run.emit("step", step="abort", node=primary, phase=phase)
    try:
        rpc = node_rpc(task, primary, timeout=run.timing.rpc_timeout, recorder=run.transcript)
    except RunbookError as exc:  # the session could not even be opened: nothing was sent
        return failed_now(task, run, f"abort not sent: {exc.message}", phase=phase)
    run.emit("command", node=primary, command=ABORT_CLI)
    try:
        words = rpc.abort_icu()
    except DeviceRefused as exc:
        return failed_now(
            task,
            run,
            f"abort refused by {primary}: {exc.message}",
            phase=phase,
        )
    except RunbookError as exc:
        # A lost reply does not tell us whether the abort landed: observe, never resend.
        words = f"no reply ({exc.message}); observing"
    run.emit("abort-sent", node=primary, phase=phase, reply=words)
    return await_abort(task, run, base, phase, target)


def await_abort(
    task: Task, run: ClusterRun, base: Baseline | None, phase: str, target: str | None
) -> Outcome:
    """Wait for the abort to land (the current operation finishes first), then classify."""
    started = time.monotonic()
    goal = base.target if base else target
    old = base.old_release if base else None

    def landed(v: ClusterView) -> str | None:
        if not all(v.nodes[n].reachable for n in NODES):
            return None  # a node is rebooting: the current operation has not finished
        if any(v.nodes[n].icu_phase not in (None, IcuPhase.IDLE) for n in NODES):
            return None
        if base is not None and evidence(v, base, Phase.STARTED) is Phase.PRIMARY_REBOOTING:
            return None
        versions = {v.versions[n] for n in NODES}
        if len(versions) > 1:
            return "inconsistent"
        if goal is not None and versions == {goal} and old != goal:
            return "too-late"
        if any(v.nodes[n].pending for n in NODES):
            return None if base is not None else "pending"
        return "clean"

    def too_late(v: ClusterView) -> bool:
        return (
            base is not None
            and evidence(v, base, Phase.STARTED).rank >= Phase.PRIMARY_REBOOTING.rank
        )

    try:
        found, view = poll_until(
            task,
            run,
            lambda v: landed(v) or ("too-late" if too_late(v) else None),
            deadline=run.timing.abort_deadline,
            what="the abort to land",
            describe=lambda v: classify(v).detail,
        )
    except DeadlineExceeded as exc:
        return failed_now(task, run, exc.message, phase=phase)
    run.emit("icu-ended", how=f"abort landed: {found}")
    extra: dict[str, Any] = {
        "aborted_during": phase,
        "abort_wait_s": round(time.monotonic() - started, 1),
    }
    if found == "too-late":
        run.emit("note", message="abort came too late: the primary's reboot had begun")
        done = verify_upgraded(
            task, run, base or Baseline("node0", "node1", old or "", str(goal), {})
        )
        done.outcome = "too-late" if done.outcome == "ok" else done.outcome
        done.detail = f"abort came too late (during {phase}); the upgrade completed: " + done.detail
        done.extra.update(extra)
        return done
    if found == "inconsistent":
        run.emit("note", message="abort left the cluster inconsistent")
        if run.options.get("no_recover"):
            return outcome_from(
                view,
                "inconsistent",
                f"aborted during {phase}: secondary on "
                "the new release, primary on the old; run `python -m runbooks "
                f"recover --cluster {run.cluster}`",
                **extra,
            )
        result = recover_cluster(
            task,
            run,
            target=target or (base.target if base else None),
            view=view,
            prefix=f"aborted during {phase}, left inconsistent; ",
        )
        result.extra.update(extra)
        return result
    # clean: both nodes on the old release, nothing pending; verify healthy
    try:
        _, view = poll_until(
            task,
            run,
            lambda v: classify(v).state is ClusterState.HEALTHY,
            deadline=run.timing.settle_deadline,
            what="cluster healthy",
            describe=lambda v: classify(v).detail,
        )
    except DeadlineExceeded as exc:
        return failed_now(task, run, f"aborted during {phase}, but {exc.message}", **extra)
    return outcome_from(
        view,
        "ok",
        f"aborted during {phase}; rolled back cleanly, both nodes on "
        f"{view.versions['node0']}, cluster healthy (verified)",
        **extra,
    )
