"""The per-cluster abort plan: observe, abort on the RG0 primary, wait for it to land,
classify, and recover an inconsistent result unless told not to (reference section 4)."""

from __future__ import annotations

import time
from typing import Any

from nornir.core.task import Result, Task

from tasks.classify import ClusterState, classify, icu_evidence
from tasks.commands import ABORT_CLI
from tasks.connections import node_rpc
from tasks.errors import DeadlineExceeded, DeviceRefused, RunbookError
from tasks.events import EventKind
from tasks.icu import Baseline, Phase, evidence, inflight
from tasks.outcomes import failed_now, outcome_from
from tasks.recover import recover_plan
from tasks.runctx import ClusterRun, Outcome
from tasks.steps import done, step
from tasks.values import NODES, ClusterView
from tasks.verify import verify_upgraded
from tasks.waits import await_healthy, healthy_for, look, poll_until

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
) -> Outcome:
    view = view or look(task, run)
    if base is None:
        found = inflight(run.history)
        base = found[1] if found else None
    phase = icu_activity(view, base, target)
    if phase is None:
        state = classify(view).state
        if not (run.options.get("even_if_idle") and state is ClusterState.HEALTHY):
            hint = f" ({INVISIBLE})" if state is ClusterState.HEALTHY else ""
            return outcome_from(view, "skipped", f"no ICU visible ({state}); nothing sent{hint}")
        phase = NONE_VISIBLE
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
    return step(task, await_abort, "abort landed", run=run, base=base, phase=phase, target=target)


def _seen(phase: str) -> str:
    return phase if phase == NONE_VISIBLE else f"ICU running ({phase})"


def send_abort(task: Task, *, run: ClusterRun, node: str, phase: str) -> Result:
    """Step: the abort on the RG0 primary. A lost reply does not tell whether it landed:
    the next step observes, nothing is ever resent."""
    run.emit(EventKind.STEP, step="abort", node=node, phase=phase)
    try:
        rpc = node_rpc(task, node, timeout=run.timing.rpc_timeout, recorder=run.transcript)
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
        words = f"no reply ({exc.message}); observing"
    run.emit(EventKind.ABORT_SENT, node=node, phase=phase, reply=words)
    return done(task, None, changed=True)


def landing(view: ClusterView, base: Baseline | None, goal: str | None) -> str | None:
    """How the abort landed, from one observation: clean, inconsistent, too-late (the
    primary's reboot had begun), pending; None while the current operation still runs (the
    abort lands only after it)."""
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
    if any(view.nodes[n].pending for n in NODES):
        return None if base is not None else "pending"
    return "clean"


def await_abort(
    task: Task, *, run: ClusterRun, base: Baseline | None, phase: str, target: str | None
) -> Result:
    """Step: wait for the abort to land (the current operation finishes first), then
    classify and finish the cluster from there."""
    started = time.monotonic()
    goal = base.target if base else target
    try:
        found, view = poll_until(
            task,
            run,
            lambda v: landing(v, base, goal),
            deadline=run.timing.abort_deadline,
            what="the abort to land",
            describe=lambda v: classify(v).detail,
        )
    except DeadlineExceeded as exc:
        return done(task, failed_now(task, run, exc.message, phase=phase), failed=True)
    run.emit(EventKind.ICU_ENDED, how=f"abort landed: {found}")
    extra = {"aborted_during": phase, "abort_wait_s": round(time.monotonic() - started, 1)}
    if found == "too-late":
        outcome = _too_late(task, run, base, goal, phase)
    elif found == "inconsistent":
        outcome = _inconsistent(task, run, view, base, target, phase)
    else:
        outcome = _clean(task, run, phase, extra)
    outcome.extra.update(extra)
    return done(task, outcome, changed=run.changed, failed=not outcome.good)


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
