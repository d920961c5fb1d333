"""The verified end of an upgrade: both nodes on the target, nothing pending, cluster healthy;
and the optional return of every RG to a preferred node (`--restore-primary`)."""

from __future__ import annotations

from nornir.core.task import Task

from tasks.classify import ClusterState, classify
from tasks.commands import failover_cli, failover_reset_cli
from tasks.connections import drop_all, node_rpc
from tasks.errors import DeadlineExceeded, NodeUnreachable, RunbookError
from tasks.events import EventKind
from tasks.icu import Baseline
from tasks.outcomes import failed_now, outcome_from
from tasks.runctx import ClusterRun, Outcome
from tasks.values import NODES, ClusterView, node_id
from tasks.waits import look, poll_until


def verify_upgraded(task: Task, run: ClusterRun, base: Baseline) -> Outcome:
    run.emit(EventKind.STEP, step="verify")

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
            return failed_now(task, run, f"restore-primary: {exc.message}", phase="restore-primary")
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
        run.emit(EventKind.NOTE, message=f"every RG already primary on {preferred}")
        return
    current = status.rg0_primary or preferred
    rpc = node_rpc(task, current, timeout=run.timing.rpc_timeout, recorder=run.transcript)
    for rg_id in moves:
        run.emit(EventKind.COMMAND, node=current, command=failover_cli(rg_id, node_id(preferred)))
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
        run.emit(EventKind.COMMAND, node=preferred, command=failover_reset_cli(rg_id))
        rpc.failover_reset(rg_id)

    def reset(v: ClusterView) -> bool:
        st = v.status
        flags = st is not None and not any(m.manual_failover for g in st.groups for m in g.members)
        return flags and classify(v).state is ClusterState.HEALTHY

    poll_until(
        task,
        run,
        reset,
        deadline=run.timing.settle_deadline,
        what="manual-failover flags cleared and the cluster healthy",
        describe=lambda v: classify(v).detail,
    )
