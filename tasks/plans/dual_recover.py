"""`recover` of a dual reboot left half-way (a run killed, or a refusal, between the installs
and the reboot): its pending installs are cancelled with `request system software rollback
node <id>` on each node's own session (a rollback of a pending install cancels it and names
the running release as the one for the next boot), each journaled before it leaves and never
sent twice; the cluster is then verified on one release, nothing pending, healthy. A dual
reboot whose journaled reboot a node took (down, or booted since) is finished instead: a node
the reboot never took (still up on its old boot once it can no longer be on its way) is
rebooted, then both are awaited on the new release. One whose reboot neither node took is
cancelled as if no reboot had been journaled.

A rollback here only ever cancels a pending install: no running release is rolled back, so the
post-24.4R1 rollback limit (tasks/upgrade_paths.py) does not arise. A node that booted another
release than its peer is an inconsistent cluster: recover's own decision (tasks.plans.recover).
"""

from __future__ import annotations

from typing import Any

from nornir.core.task import Result, Task

from tasks.device.commands import rollback_cli
from tasks.device.readings import ClusterView, node_id
from tasks.errors import (
    DeadlineExceeded,
    DeviceRefused,
    NodeUnreachable,
    RunbookError,
    SessionLost,
)
from tasks.events import EventKind
from tasks.plans import sessions
from tasks.plans.dual_reboot import (
    DualProgress,
    boot_before,
    both_back,
    installs_journaled,
    not_rebooted,
    progress,
    reboot_rest,
)
from tasks.plans.outcomes import failed_now, outcome_from
from tasks.plans.steps import done, step
from tasks.plans.waits import await_healthy, look
from tasks.state.run_context import ClusterRun, Outcome
from tasks.state.settings import Target
from tasks.vocabulary import NODES


def recover_dual(task: Task, run: ClusterRun, view: ClusterView, prefix: str = "") -> Outcome:
    """Finish (reboot sent) or cancel (installs only) the dual reboot the journal shows."""
    prog = progress(run.history)
    if prog.reboot is not None:
        left, _ = not_rebooted(task, run, prog)
        if set(left) != set(NODES):  # a node took the reboot: only forward is one release
            return _finish(task, run, view, prog, left, prefix)
        # neither node took the journaled reboot: both still pending, cancelled as below
    ours = sorted(set(prog.sent) | set(prog.installed))
    words = [f"{rollback_cli(node_id(n))} (on {n}, if it has an install pending)" for n in ours]
    if run.dry_run:
        detail = prefix + "dry-run: would cancel the dual reboot's installs: " + "; ".join(words)
        return outcome_from(view, "would-recover", detail, plan={"commands": words})
    try:
        for node in ours:
            step(task, cancel_install, f"cancel install {node}", run=run, node=node, prog=prog)
        view = await_healthy(task, run, what="cluster healthy, nothing pending")
    except (RunbookError, DeadlineExceeded) as exc:
        detail = prefix + f"recover of the dual reboot stopped: {exc.message}"
        return failed_now(task, run, detail, phase="recover")
    finally:
        sessions.drop_all(task, run)
    release = view.versions.get("node0")
    run.emit(EventKind.DUAL_ENDED, how="cancelled", release=release)
    detail = (
        f"cancelled the dual reboot's installs on {' and '.join(ours)}: both nodes on "
        f"{release}, nothing pending, cluster healthy (verified)"
    )
    return outcome_from(view, "ok", prefix + detail)


def _finish(
    task: Task,
    run: ClusterRun,
    view: ClusterView,
    prog: DualProgress,
    left: list[str],
    prefix: str,
) -> Outcome:
    """A dual reboot a node already took: the node(s) it has not taken are rebooted (each
    still pending the release), then both are awaited on the release."""
    hop = Target(prog.release, prog.package)
    also = (
        f"reboot {' and '.join(left)} (the journaled reboot never took it), then " if left else ""
    )
    if run.dry_run:
        detail = prefix + f"dry-run: would {also}wait for both nodes back on {prog.release}"
        return outcome_from(view, "would-recover", detail)
    boot = boot_before(prog)
    try:
        if left:
            primary = (view.status.rg0_primary if view.status else None) or "node0"
            what = {"run": run, "hop": hop, "prog": prog, "primary": primary}
            boot = step(task, reboot_rest, "dual reboot: reboot the rest", **what)
    except RunbookError as exc:
        detail = prefix + f"recover of the dual reboot stopped: {exc.message}"
        return failed_now(task, run, detail, phase="recover")
    finally:
        sessions.drop_all(task, run)
    outcome = step(task, both_back, "dual reboot: both back", run=run, hop=hop, boot=boot)
    outcome.detail = prefix + "finished the dual reboot an earlier run sent: " + outcome.detail
    return outcome


def cancel_install(task: Task, *, run: ClusterRun, node: str, prog: DualProgress) -> Result:
    """Step: the install this tool sent to `node` cancelled. One still running (sent less than
    install_deadline ago, not yet pending) is awaited first. A cancel an earlier run journaled
    is sent again only when the device shows it never took effect (still pending once it
    could no longer be on its way: _cancel_never_took); its reply lost, the device tells."""
    cancelled = _cancel_sent(run, node)
    view = _settled(task, run, node)
    if not view.nodes[node].pending:
        return done(task, None, summary=f"{node}: nothing pending")
    if cancelled is not None and not _cancel_never_took(task, run, node, cancelled):
        raise DeviceRefused(
            f"{node} still has an install pending after the cancel run "
            f"{cancelled.get('run_id')} sent; check `show system software` there by hand",
            step="cancel",
            node=node,
        )
    rpc = sessions.rpc(task, run, node)
    command = rollback_cli(node_id(node))
    again = {} if cancelled is None else {"resumes": str(cancelled.get("run_id"))}
    run.emit(EventKind.COMMAND, dual="cancel", node=node, command=command, **again)
    try:
        result = rpc.rollback(node_id(node))
    except (SessionLost, NodeUnreachable) as exc:  # its reply lost: the device tells
        sessions.drop(task, run, node)
        run.emit(EventKind.NOTE, message=f"cancel on {node}: {exc.message}; checking {node}")
    else:
        if result.failed:
            raise DeviceRefused(result.output or "rollback refused", step="cancel", node=node)
    after = look(task, run)
    if after.nodes[node].pending:
        raise DeviceRefused(f"{node}: install still pending after '{command}'", step="cancel")
    return done(task, command, changed=True, summary=f"{node}: pending install cancelled")


def _cancel_never_took(task: Task, run: ClusterRun, node: str, record: dict[str, Any]) -> bool:
    """A cancel an earlier run journaled (then died, before or while sending it) that the
    device shows never happened: `node` still pending rpc_timeout + poll_interval after the
    record (a cancel of a pending install takes effect at once on the device; the bound is
    the reboot's, _not_going_down's: inferred). Then, and only then, it is sent again."""
    t = run.timing
    until = float(record.get("ts", 0)) + t.rpc_timeout + t.poll_interval
    while run.clock.time() < until:
        run.tell_busy(f"the cancel on {node} journaled by run {record.get('run_id')} to show")
        run.clock.sleep(min(t.poll_interval, until - run.clock.time()))
    me = look(task, run).nodes[node]
    if not me.reachable or not me.pending:
        return False
    run.emit(
        EventKind.NOTE,
        message=f"the cancel on {node} journaled by run {record.get('run_id')} never took "
        f"effect ({node} still pending): sending it again",
    )
    return True


def _cancel_sent(run: ClusterRun, node: str) -> dict[str, Any] | None:
    """The newest cancel journaled on `node` for this dual reboot, else None."""
    for rec in reversed(run.history):
        if rec.get("event") == EventKind.DUAL_ENDED:
            return None
        cancel = rec.get("event") == EventKind.COMMAND and rec.get("dual") == "cancel"
        if cancel and rec.get("node") == node:
            return rec
    return None


def _settled(task: Task, run: ClusterRun, node: str) -> ClusterView:
    """The cluster once `node`'s install can no longer still be running: pending, or the
    install deadline since it was journaled passed."""
    sent = installs_journaled(run, node)
    until = (max(sent) if sent else 0.0) + run.timing.install_deadline
    while True:
        view = look(task, run)
        me = view.nodes[node]
        if not me.reachable:
            raise DeviceRefused(f"{node} unreachable: {me.error}", step="cancel", node=node)
        if me.pending or run.clock.time() >= until:
            return view
        run.tell_busy(f"the install on {node} to end")
        run.clock.sleep(min(run.timing.poll_interval, max(0.0, until - run.clock.time())))
