"""The verified end of an upgrade: both nodes on the target, nothing pending, cluster healthy;
and the optional return of every RG to a preferred node (`--restore-primary`)."""

from __future__ import annotations

from nornir.core.task import Task

from tasks.device.commands import failover_cli, failover_reset_cli
from tasks.device.readings import ClusterStatus, ClusterView, RedundancyGroup, node_id
from tasks.errors import DeadlineExceeded, NodeUnreachable, RunbookError
from tasks.events import EventKind
from tasks.plans import sessions
from tasks.plans.classify import ClusterState, classify
from tasks.plans.icu import Baseline
from tasks.plans.outcomes import failed_now, outcome_from
from tasks.plans.waits import look, poll_until
from tasks.state.run_context import ClusterRun, Outcome
from tasks.vocabulary import NODES

PLACEMENT_POLLS = 3  # polls an RG placement must hold after the reset before it counts


def verify_upgraded(task: Task, run: ClusterRun, base: Baseline) -> Outcome:
    run.emit(EventKind.STEP, step="verify")

    def done(view: ClusterView) -> bool:
        releases = {view.versions.get(n) for n in NODES}
        return (
            len(releases) == 1
            and releases != {base.old_release}
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
    reached = view.versions.get("node0")
    if reached != base.target:  # the package held another release than the target said
        detail = (
            f"the ICU completed on {reached}, not the target {base.target}: both nodes on "
            f"{reached}, cluster healthy (verified); the package holds another release"
        )
        return outcome_from(view, "failed", detail, phase="verify")
    upgraded = f"both nodes on {base.target}, cluster healthy (verified)"
    restore = run.options.get("restore_primary")
    if not restore:
        return outcome_from(view, "ok", upgraded)
    preferred = str(restore)
    blocked = preempt_blocks(view.status, preferred)
    if blocked:  # a placement preempt would undo at once: not even tried
        run.emit(EventKind.NOTE, message=f"restore-primary {preferred} refused: {blocked}")
        detail = f"{upgraded}; restore-primary {preferred} refused, nothing moved: {blocked}"
        return outcome_from(view, "refused", detail, phase="restore-primary")
    try:
        restore_primary(task, run, view, preferred)
        view, lost = hold_placement(task, run, preferred)
    except RunbookError as exc:
        return failed_now(task, run, f"restore-primary: {exc.message}", phase="restore-primary")
    if lost:
        detail = f"{upgraded}; restore-primary {preferred} did not last: {lost}"
        return outcome_from(view, "failed", detail, phase="restore-primary")
    return outcome_from(view, "ok", f"{upgraded}; every RG primary on {preferred} (held)")


def preempt_winner(group: RedundancyGroup) -> str | None:
    """The node preempt gives `group` to, from its configured priorities: the higher one,
    node0 on a tie (as the lab does). None without preempt, or when a priority shown is not
    the configured one (0: a monitor failure or a lost node; 255: a manual failover)."""
    members = {m.node: m for m in group.members}
    if len(members) != 2 or not any(m.preempt for m in members.values()):
        return None
    if any(m.priority in (0, 255) for m in members.values()):
        return None
    return max(NODES, key=lambda n: (members[n].priority, -node_id(n)))


def preempt_blocks(status: ClusterStatus | None, preferred: str) -> str | None:
    """Why every RG on `preferred` cannot last (preempt takes an RG back to its peer once
    the manual-failover flag is reset), or None."""
    reasons = []
    for group in status.groups if status is not None else ():
        winner = preempt_winner(group)
        if winner is not None and winner != preferred:
            pri = {m.node: m.priority for m in group.members}
            reasons.append(
                f"RG{group.rg_id} has preempt and {winner} the higher priority "
                f"({pri[winner]} over {pri[preferred]} on {preferred}), so preempt returns it "
                f"to {winner}"
            )
    return "; ".join(reasons) or None


def hold_placement(task: Task, run: ClusterRun, preferred: str) -> tuple[ClusterView, str]:
    """Watch every RG stay primary on `preferred` for PLACEMENT_POLLS polls once the
    reset is done (preempt and hold-down act after it), within settle_deadline. The last
    view, and what moved (empty: it held)."""
    watch = min(run.timing.settle_deadline, PLACEMENT_POLLS * run.timing.poll_interval)
    clock = run.clock
    end = clock.monotonic() + watch
    while True:
        view = look(task, run)
        status = view.status
        groups = status.groups if status is not None else ()
        moved = [g.rg_id for g in groups if g.nodes_with("primary") != (preferred,)]
        if moved:
            return view, _moved_back(status, moved)
        if clock.monotonic() >= end:
            return view, "" if groups else "no cluster status to confirm it"
        clock.sleep(min(run.timing.poll_interval, max(0.0, end - clock.monotonic())))


def _moved_back(status: ClusterStatus | None, moved: list[int]) -> str:
    parts = []
    for rg_id in moved:
        group = status.group(rg_id) if status else None
        now = ",".join(group.nodes_with("primary")) if group else ""
        why = " (preempt returned it)" if group and any(m.preempt for m in group.members) else ""
        parts.append(f"RG{rg_id} primary on {now or 'no node'}{why}")
    return "; ".join(parts)


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
    rpc = sessions.rpc(task, run, current)
    for rg_id in moves:
        run.emit(EventKind.COMMAND, node=current, command=failover_cli(rg_id, node_id(preferred)))
        rpc.failover(rg_id, node_id(preferred))
    sessions.drop_all(task, run)  # an RG0 move changes which node answers as primary

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
    rpc = sessions.rpc(task, run, preferred)
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
