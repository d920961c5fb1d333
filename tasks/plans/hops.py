"""Upgrade hop by hop: a cluster whose way to its target needs a dual reboot first (an
SRX300-family cluster before 24.4R1: tasks/upgrade_paths.py) goes there in order, hop 1 by
dual reboot (tasks.plans.dual_reboot), then the ICU of today (tasks.plans.upgrade), each hop
verified before the next. Only with `upgrade --allow-outage`: without it such a cluster is
refused with the hops and the reason, nothing sent.

A cluster whose way needs no other method than the ICU goes to `upgrade_plan` with the very
observation its `connect` step would have made: today's upgrade, unchanged.
"""

from __future__ import annotations

from typing import Any

from nornir.core.task import Task

from tasks.device.commands import IcuCommand
from tasks.device.readings import ClusterView
from tasks.events import EventKind
from tasks.plans import sessions
from tasks.plans.approved_plan import CHANGED, ApprovedCluster, ApprovedHop
from tasks.plans.classify import ClusterState, classify
from tasks.plans.dual_reboot import (
    ABORT_ASKED,
    METHOD,
    DualProgress,
    commands,
    dual_reboot_plan,
    progress,
)
from tasks.plans.dual_recover import recover_dual
from tasks.plans.estimates import estimate, minutes
from tasks.plans.hop_checks import check_hop_packages
from tasks.plans.icu import inflight
from tasks.plans.outcomes import outcome_from
from tasks.plans.steps import step
from tasks.plans.upgrade import _left_failed, aborted_since_began, observe_cluster, upgrade_plan
from tasks.state.run_context import ClusterRun, Outcome
from tasks.state.settings import Target
from tasks.upgrade_paths import OUTAGE, Hop, method_refusal, plan_hops
from tasks.vocabulary import IcuOptions


def upgrade_by_hops(
    task: Task,
    run: ClusterRun,
    target: Target,
    requested: IcuOptions,
    approved: ApprovedCluster | None = None,
) -> Outcome:
    """The cluster's hops to `target`, in order; today's upgrade when there is one ICU hop."""
    if (approved is not None and not approved.hops) or inflight(run.history) is not None:
        return upgrade_plan(task, run, target, requested, approved)  # as today
    try:
        return _hops(task, run, target, requested, approved)
    finally:
        sessions.drop_all(task, run)


def packages_of(task: Task, target: Target) -> dict[str, str]:
    """The inventory's `packages: {release: package}` with the target's own package."""
    found = {str(k): str(v) for k, v in (task.host.get("packages") or {}).items()}
    found.setdefault(target.release, target.package)
    return found


def way(
    view: ClusterView,
    target: Target,
    packages: dict[str, str],
    prog: DualProgress,
    method: str = "auto",
) -> tuple[list[Hop], str | None]:
    """The hops from here ([] when the ICU of today decides: one hop, or none documented);
    a dual reboot under way is the first. With a `method` other than auto (tasks/
    upgrade_paths.METHODS), also why that method refuses the cluster (else None)."""
    software = next((n.software for n in view.nodes.values() if n.software), None)
    model = software.model if software else ""
    if prog.active:
        if method not in ("auto", METHOD):
            return [], (
                f"a dual reboot to {prog.release} an earlier run began is under way: finish it "
                f"with --method auto (or {METHOD}) --allow-outage, or `recover` it first; "
                "nothing sent"
            )
        first = Hop(prog.release, METHOD, prog.package, OUTAGE[METHOD], True, "resumed")
        rest = plan_hops(model, prog.release, target.release, packages, method)[0]
        return [first, *(rest if prog.release != target.release else [])], None
    running = set(view.versions.values())
    if len(running) != 1 or None in running:
        return [], None  # the pre-checks say what is wrong
    release = str(running.pop())
    if release == target.release:
        return [], None  # the upgrade's pre-checks: already on the target
    refusal = method_refusal(model, release, target.release, packages, method)
    if refusal is not None:
        return [], refusal
    hops, _why = plan_hops(model, release, target.release, packages, method)
    return (hops if any(h.method == METHOD for h in hops) else []), None


def _hops(
    task: Task,
    run: ClusterRun,
    target: Target,
    requested: IcuOptions,
    approved: ApprovedCluster | None = None,
) -> Outcome:
    """`approved` (upgrade --plan): the reviewed way with its hops, compared before the first
    hop, and its ICU hop's command compared by the ICU as always."""
    packages = packages_of(task, target)
    method = str(run.options.get("method") or "auto")
    ended: list[dict[str, Any]] = []
    name = "connect"
    while True:
        view = step(task, observe_cluster, name, run=run)
        name = "re-observe"
        prog = progress(run.history)
        hops, refusal = way(view, target, packages, prog, method)
        if refusal is not None and not ended:
            detail = f"--method {method}: {refusal}" if not refusal.startswith("--") else refusal
            return outcome_from(view, "refused", detail, phase="pre-checks")
        if not hops or hops[0].method != METHOD:
            if ended:
                _tell(run, len(ended) + 1, len(ended) + 1, "icu", target.release)
                # this run verified hop 1 itself: an older run's failure is behind it
                run.options["retry_failed"] = True
            last = approved_icu(approved, view) if ended else approved
            outcome = upgrade_plan(task, run, target, requested, last, view=view)
            return with_hops(outcome, ended, "icu", target.release)
        if not ended and not prog.active:
            held = _held(task, run, view, hops, target, requested, approved)
            if held is not None:
                return held
        elif not ended and prog.reboot is None and not run.dry_run:
            held = aborted_since_began(run, view)  # no further install after an abort
            if held is not None:
                return held
        hop, number, total = hops[0], len(ended) + 1, len(ended) + len(hops)
        _tell(run, number, total, hop.method, hop.to)
        outcome = dual_reboot_plan(task, run, Target(hop.to, hop.package or ""), view)
        outcome = abort_asked(task, run, outcome)
        if run.dry_run and outcome.outcome == "would-upgrade":
            return would(run, outcome, view, hops, target, requested)
        ended.append(_entry(number, total, hop.method, hop.to, outcome))
        if outcome.outcome not in ("ok", "skipped") or hop.to == target.release:
            return with_hops(outcome, ended[:-1], hop.method, hop.to)


def _held(
    task: Task,
    run: ClusterRun,
    view: ClusterView,
    hops: list[Hop],
    target: Target,
    requested: IcuOptions,
    approved: ApprovedCluster | None,
) -> Outcome | None:
    """Why a way with a dual reboot does not begin, before anything is sent (None: it may)."""
    held = ended_in_this_run(run, view)
    left = _left_failed(run)  # as the ICU: a cluster a run left failed is left alone
    held = held or (outcome_from(view, "failed", left) if left else None)
    held = held or aborted_since_began(run, view)
    held = held or changed_since(run, view, hops, target, requested, approved)
    held = held or held_for_outage(run, view, hops, target, requested)
    held = held or too_long(run, view, hops, target, requested)
    return held or later_packages(task, run, view, hops, target)


def ended_in_this_run(run: ClusterRun, view: ClusterView) -> Outcome | None:
    """A dual reboot this very run ended (its own `dual-reboot-ended`: cancelled for an abort
    handed to it) begins no new one: a job an engine delivers again under the same run id
    sends nothing (as the ICU: tasks.plans.upgrade.ended_in_this_run). None: no such end."""
    mine = [
        r
        for r in run.history
        if r.get("event") == EventKind.DUAL_ENDED and r.get("run_id") == run.run_id
    ]
    if not mine:
        return None
    how = str(mine[-1].get("how"))
    detail = f"this run's dual reboot already ended ({how}); nothing sent again"
    verdict = classify(view)
    if verdict.state is not ClusterState.HEALTHY:
        return outcome_from(view, "failed", f"{detail}; {verdict.detail}")
    return outcome_from(view, "aborted" if how == "cancelled" else "skipped", detail)


def changed_since(
    run: ClusterRun,
    view: ClusterView,
    hops: list[Hop],
    target: Target,
    requested: IcuOptions,
    approved: ApprovedCluster | None,
) -> Outcome | None:
    """upgrade --plan with hops: `not-started`, each difference named, when the cluster or
    its way is no longer what the reviewed dry run saw (state, releases, RG0 primary, each
    hop's method, release and commands)."""
    if approved is None:
        return None
    now = [
        ApprovedHop(h["method"], h["to"], tuple(h["commands"]))
        for h in _hop_plan(view, hops, target, requested)
    ]
    primary = view.status.rg0_primary if view.status else None
    state = classify(view).state.value
    changes = approved.changes(state, view.versions, primary, ApprovedHop.joined(now))
    changes = [c for c in changes if not c.startswith("command ")] + approved.hop_changes(now)
    if not changes:
        return None
    detail = f"{CHANGED}: {'; '.join(changes)}; nothing sent"
    run.emit(EventKind.NOTE, message=detail)
    return outcome_from(view, "not-started", detail, phase="pre-checks")


def approved_icu(approved: ApprovedCluster | None, view: ClusterView) -> ApprovedCluster | None:
    """The ICU hop after a verified dual reboot, as the reviewed plan has it: its command,
    on both nodes on the release hop 1 reached, healthy, on the RG0 primary the reboot left
    (the dual reboot reboots the primary first so it keeps RG0; either way the ICU goes to
    the RG0 primary)."""
    if approved is None or not approved.hops:
        return None
    last = approved.hops[-1]
    before = approved.hops[-2].to if len(approved.hops) > 1 else None
    command = last.commands[0].split("  (")[0] if last.commands else ""
    primary = (view.status.rg0_primary if view.status else None) or approved.primary
    versions = dict.fromkeys(approved.versions, before)
    return ApprovedCluster("healthy", versions, primary, command)


def abort_asked(task: Task, run: ClusterRun, outcome: Outcome) -> Outcome:
    """An abort asked while a dual-reboot hop ran (docs/operators/abort.md, "A dual reboot"):
    before its reboots, the installs it sent are cancelled as `recover` does and the cluster
    ends `aborted` on its old release (verified); after them nothing can be stopped: the hop
    ends and is verified, `too-late`, and no further hop begins."""
    why = outcome.extra.get(ABORT_ASKED)
    if why is not None:  # journaled: a delivery of this run again starts nothing more
        run.emit(EventKind.NOTE, message=f"{why}: the dual reboot stops", abort_asked=why)
        view = step(task, observe_cluster, "abort: observe", run=run)
        stopped = recover_dual(task, run, view, prefix=f"{why} before the dual reboot's reboots: ")
        if stopped.outcome == "ok":
            stopped.outcome = "aborted"
        return stopped
    why = run.abort_reason() if outcome.outcome == "ok" and not run.dry_run else None
    if why is not None:
        run.emit(EventKind.NOTE, message=f"{why}: too late, no further hop", abort_asked=why)
        outcome.outcome = "too-late"
        outcome.detail = (
            f"{why} after the dual reboot's reboots were sent: a dual reboot cannot be stopped "
            f"then; {outcome.detail}; no further hop"
        )
    return outcome


def _tell(run: ClusterRun, number: int, total: int, method: str, to: str) -> None:
    run.emit(EventKind.HOP, hop=number, of=total, method=method, to=to)


def _entry(number: int, total: int, method: str, to: str, outcome: Outcome) -> dict[str, Any]:
    return {
        "hop": number,
        "of": total,
        "method": method,
        "to": to,
        "outcome": outcome.outcome,
        "detail": outcome.detail,
    }


def with_hops(outcome: Outcome, ended: list[dict[str, Any]], method: str, to: str) -> Outcome:
    """The last hop's outcome, the hops before it named in its detail and the report (one
    ICU hop: today's outcome, untouched)."""
    if not ended and method != METHOD:
        return outcome
    number = len(ended) + 1
    last = _entry(number, number, method, to, outcome)
    outcome.extra["hops"] = [*ended, last]
    if not ended:
        return outcome
    for hop in ended:
        hop["of"] = number
    before = "; ".join(
        f"hop {h['hop']}/{number} {h['method']} to {h['to']}: {h['outcome']}" for h in ended
    )
    outcome.detail = f"{before}; hop {number}/{number} {method} to {to}: {outcome.detail}"
    return outcome


def _commands(hop: Hop, target: Target, model: str, requested: IcuOptions) -> list[str]:
    if hop.method == METHOD:
        return commands(hop.package or f"<package of {hop.to}>")
    package = target.package if hop.to == target.release else hop.package or "?"
    return [IcuCommand.for_model(package, model, requested).cli + "  (on the RG0 primary)"]


def _hop_plan(
    view: ClusterView, hops: list[Hop], target: Target, requested: IcuOptions
) -> list[dict[str, Any]]:
    software = next((n.software for n in view.nodes.values() if n.software), None)
    model = software.model if software else ""
    return [
        {
            "hop": i,
            "of": len(hops),
            "method": h.method,
            "to": h.to,
            "outage": h.outage,
            "commands": _commands(h, target, model, requested),
        }
        for i, h in enumerate(hops, 1)
    ]


def _words(plan: list[dict[str, Any]]) -> str:
    return "; ".join(
        f"hop {h['hop']}/{h['of']} to {h['to']} by {h['method']}: " + "; then ".join(h["commands"])
        for h in plan
    )


def _plan_of(
    run: ClusterRun, view: ClusterView, hops: list[Hop], target: Target, requested: IcuOptions
) -> dict[str, Any]:
    """The report's plan: every hop's commands, and the estimate the window fit judges."""
    guess = estimate(hops, run.timing, run.icu_estimate)
    return {"hops": _hop_plan(view, hops, target, requested), "estimate": guess.to_json()}


def too_long(
    run: ClusterRun, view: ClusterView, hops: list[Hop], target: Target, requested: IcuOptions
) -> Outcome | None:
    """A way with a dual reboot judged against the cluster's window as a whole, every hop by
    its method (tasks/plans/estimates.py): one that would not fit is not started, nothing
    sent (the runner judged only an ICU's figure before the cluster was observed)."""
    if run.window_end is None:
        return None
    guess = estimate(hops, run.timing, run.icu_estimate)
    left = run.window_end - run.clock.time()
    if guess.seconds <= left:
        return None
    detail = (
        f"would not fit: the plan needs {minutes(guess.seconds)} ({guess.words()}), "
        f"{minutes(max(0.0, left))} left in the window; nothing sent"
    )
    plan = _plan_of(run, view, hops, target, requested)
    return outcome_from(view, "not-started", detail, phase="window", plan=plan)


def later_packages(
    task: Task, run: ClusterRun, view: ClusterView, hops: list[Hop], target: Target
) -> Outcome | None:
    """Every later hop's package where its method needs it (tasks.plans.hop_checks), before
    the first hop sends anything; a dry run checks it too."""
    if len(hops) < 2:
        return None
    check = step(
        task, check_hop_packages, "hop packages", run=run, view=view, hops=hops, target=target
    )
    if check.passed:
        return None
    detail = f"pre-check {check.name} failed: {check.evidence}; nothing sent"
    return outcome_from(view, "failed", detail, checks=[check.to_json()], phase="pre-checks")


def held_for_outage(
    run: ClusterRun, view: ClusterView, hops: list[Hop], target: Target, requested: IcuOptions
) -> Outcome | None:
    """Without --allow-outage a way with a dual reboot is refused, nothing sent; with it,
    a hop without its package in the inventory is."""
    plan = _plan_of(run, view, hops, target, requested)
    first = hops[0]
    if not run.options.get("allow_outage"):
        detail = (
            f"needs a {first.method} to {first.to} first ({first.outage}): "
            f"{first.reason}; re-run with --allow-outage to carry out every hop; nothing sent"
        )
        return outcome_from(view, "refused", detail, phase="pre-checks", plan=plan)
    if not first.package:
        detail = f"no package for {first.to}: name it in the inventory's `packages`; nothing sent"
        return outcome_from(view, "refused", detail, phase="pre-checks", plan=plan)
    return None


def would(
    run: ClusterRun,
    outcome: Outcome,
    view: ClusterView,
    hops: list[Hop],
    target: Target,
    requested: IcuOptions,
) -> Outcome:
    """A dry run: the first hop's checks passed; every command of every hop, in order, and
    the estimate of the whole way."""
    plan = _plan_of(run, view, hops, target, requested)
    resume = "would resume the dual reboot" in outcome.detail
    how = "resume the dual reboot an earlier run began, then go on" if resume else "upgrade"
    took = minutes(plan["estimate"]["seconds"])
    outcome.detail = f"dry-run: would {how} by " + _words(plan["hops"]) + f" (estimate {took})"
    primary = view.status.rg0_primary if view.status else None
    outcome.extra["plan"] = {**plan, "node": primary}  # what --save-plan records
    return outcome
