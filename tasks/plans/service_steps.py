"""The upgrade's steps around the ICU (or a dual reboot) that are not the ICU: the
configuration saved, RGs aligned on the RG0 primary (--align-rgs, ICU only), the service
snapshot just before the first change, and the comparison after the verified end
(tasks.plans.service_snapshot). Each is a Nornir subtask of the upgrade plan."""

from __future__ import annotations

from dataclasses import dataclass

from nornir.core.task import Result, Task

from tasks.device.commands import failover_reset_cli
from tasks.device.readings import ClusterView
from tasks.errors import DeadlineExceeded, RunbookError
from tasks.events import EventKind
from tasks.plans import sessions
from tasks.plans.config_backup import backup_before
from tasks.plans.outcomes import failed_now, outcome_from
from tasks.plans.prechecks import PrecheckResult
from tasks.plans.service_snapshot import (
    ServicePolicy,
    Snapshot,
    services_lost,
    snapshot_diff,
    take_snapshot,
)
from tasks.plans.steps import done, step
from tasks.plans.verify import restore_primary
from tasks.plans.waits import look, poll_until
from tasks.state.run_context import ClusterRun, Outcome

SERVICES_LOST = "services-lost"  # the outcome of an upgrade that came back without them


@dataclass(frozen=True)
class Prepared:
    """What was done and read just before the ICU."""

    snapshot: Snapshot | None  # None: service checks off
    aligned: tuple[int, ...] = ()  # RGs moved to the RG0 primary's node (--align-rgs)


def ready_for_icu(task: Task, run: ClusterRun, pre: PrecheckResult) -> Prepared | Outcome:
    """Save the configuration, align RGs if asked, then snapshot the services (unless
    service checks are off)."""
    failed = backup_before(task, run)  # before the first command that changes anything
    if failed is not None:
        return failed
    aligned: tuple[int, ...] = ()
    if pre.misplaced and run.options.get("align_rgs"):
        refused = step(task, align_rgs, "align RGs", run=run, pre=pre)
        if refused is not None:
            return refused
        aligned = pre.misplaced
    return _services_before(task, run, pre.primary, aligned)


def ready_for_dual_reboot(task: Task, run: ClusterRun, primary: str) -> Prepared | Outcome:
    """Before a dual reboot's first install: the configuration saved, then the services'
    snapshot on the RG0 primary (unless service checks are off). No RG is moved: both nodes
    reboot together, whatever holds what."""
    failed = backup_before(task, run)
    if failed is not None:
        return failed
    return _services_before(task, run, primary, ())


def _services_before(
    task: Task, run: ClusterRun, primary: str, aligned: tuple[int, ...]
) -> Prepared:
    if not run.options.get("service_checks", True):
        return Prepared(None, aligned)
    snap = step(task, snapshot_services, "services before", run=run, node=primary)
    return Prepared(snap, aligned)


def align_rgs(task: Task, *, run: ClusterRun, pre: PrecheckResult) -> Result:
    """Step: every RG1+ primary on the RG0 primary's node, manual-failover flag reset, verified."""
    names = ", ".join(f"RG{rg}" for rg in pre.misplaced)
    run.emit(EventKind.STEP, step="align RGs", node=pre.primary, groups=list(pre.misplaced))
    try:
        _reset_manual(task, run, pre)
        restore_primary(task, run, look(task, run), pre.primary)
    except (DeadlineExceeded, RunbookError) as exc:
        detail = f"--align-rgs: {names} not aligned on {pre.primary}: {exc.message}"
        return done(task, failed_now(task, run, detail, phase="align RGs"), failed=True)
    run.emit(EventKind.NOTE, message=f"{names} aligned on {pre.primary} (--align-rgs), verified")
    return done(task, None, summary=f"{names} aligned on {pre.primary}, verified")


def _reset_manual(task: Task, run: ClusterRun, pre: PrecheckResult) -> None:
    """A manual failover in effect blocks another one: reset it first (preempt may then
    bring the RG home by itself), and wait until the flag is gone."""
    status = look(task, run).status
    manual = [
        g.rg_id
        for g in (status.groups if status else ())
        if g.rg_id in pre.misplaced and any(m.manual_failover for m in g.members)
    ]
    if not manual:
        return
    rpc = sessions.rpc(task, run, pre.primary)
    for rg_id in manual:
        run.emit(EventKind.COMMAND, node=pre.primary, command=failover_reset_cli(rg_id))
        rpc.failover_reset(rg_id)

    def cleared(v: ClusterView) -> bool:
        st = v.status
        return st is not None and not any(
            m.manual_failover for g in st.groups if g.rg_id in manual for m in g.members
        )

    poll_until(task, run, cleared, deadline=run.timing.settle_deadline, what="failover reset")


def snapshot_services(task: Task, *, run: ClusterRun, node: str) -> Result:
    """Step: the snapshot, read on `node`'s session (the RG0 primary)."""
    rpc = sessions.rpc(task, run, node)
    snap = take_snapshot(rpc)
    run.emit(EventKind.NOTE, message="services before: " + _summary(snap))
    return done(task, snap, summary=_summary(snap))


def services_after(task: Task, run: ClusterRun, prepared: Prepared, outcome: Outcome) -> Outcome:
    """A verified upgrade is `ok` only if what was up before is up again (within
    settle_deadline); otherwise `services-lost` with what is missing."""
    if prepared.aligned:
        names = ", ".join(f"RG{rg}" for rg in prepared.aligned)
        outcome.extra["aligned"] = list(prepared.aligned)
        outcome.detail = f"{names} aligned on the RG0 primary first (--align-rgs); {outcome.detail}"
    before = prepared.snapshot
    if before is None or outcome.outcome != "ok":
        if before is not None:
            outcome.extra["services"] = {"before": before.to_json()}
        return outcome
    checked: Outcome = step(task, compare_services, "services after", run=run, before=before)
    checked.extra.update({k: v for k, v in outcome.extra.items() if k not in checked.extra})
    if checked.outcome == "ok":
        checked.detail = f"{outcome.detail}; {checked.detail}"
    return checked


def compare_services(task: Task, *, run: ClusterRun, before: Snapshot) -> Result:
    """Step: snapshot again until nothing is lost or settle_deadline passes."""
    policy = ServicePolicy.from_data(task.host.get("service_checks"))
    end = run.clock.monotonic() + run.timing.settle_deadline
    while True:
        view = look(task, run)
        primary = view.status.rg0_primary if view.status else None
        after = take_snapshot(sessions.rpc(task, run, primary or "node0"))
        missing = services_lost(before, after, policy)
        if not missing or run.clock.monotonic() >= end:
            break
        run.clock.sleep(run.timing.poll_interval)
    evidence = {
        "before": before.to_json(),
        "after": after.to_json(),
        "diff": snapshot_diff(before, after),
    }
    if missing:
        detail = "upgraded and verified, but not back after the settle time: " + "; ".join(missing)
        outcome = outcome_from(view, SERVICES_LOST, detail, services=evidence, lost=missing)
        run.emit(EventKind.NOTE, message=detail)
        return done(task, outcome, failed=True)
    outcome = outcome_from(view, "ok", "services back: " + _summary(after), services=evidence)
    return done(task, outcome)


def _summary(snap: Snapshot) -> str:
    s = snap.services
    up = sum(1 for v in s.interfaces.values() if v == "up")
    routes = sum(s.routes.values())
    text = f"{up}/{len(s.interfaces)} interfaces up, {len(s.tunnels)} tunnels up, {routes} routes"
    if snap.notes:
        text += f" ({'; '.join(snap.notes)})"
    if snap.unreadable:
        text += f" (unreadable: {'; '.join(snap.unreadable)})"
    return text
