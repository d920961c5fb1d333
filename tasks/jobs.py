"""The Nornir tasks an operator's own script runs, one per job (docs/operators/nornir-api.md).

    from nornir_utils.plugins.functions import print_result
    from tasks import init_nornir, srx_recover, srx_status, srx_upgrade

    nr = init_nornir("config.yaml")
    print_result(nr.filter(site="nyc").run(task=srx_upgrade, dry_run=True))

Acting (srx_upgrade, srx_stage, srx_abort, srx_recover): a Result whose data is an Outcome;
`changed` when a destructive command left, `failed` when the cluster did not reach the
job's goal (a dry run that would act reached it: would-upgrade, ...). `dry_run=` is per call,
the Nornir idiom (nornir_napalm's napalm_configure): None takes Nornir's own
(`InitNornir(dry_run=...)`), as `task.is_dry_run(dry_run)`; a dry run sends, locks and
journals nothing.

Read-only (srx_status, srx_snapshot). srx_status is a report, not a verdict: an unhealthy or
unreachable cluster is `failed=False`, its state in the ClusterSummary (`.healthy`,
`.state`). So `nr.run(task=srx_recover)` after it on the same Nornir object still runs on
the clusters that need recovery (Nornir skips every host in nr.data.failed_hosts unless
on_failed=True). Only a status refused for its input is failed.

Every step is a Nornir subtask with a one-line `result` (tasks.plans.steps: its typed value is the
subtask's `value`), each upgrade pre-check a subtask of its own ("pass: evidence" or
"FAIL: evidence", failed), and a subtask is `changed` only when a destructive command left
while it ran: print_result of a two-cluster upgrade is some 115 lines (865 before).

Each task first checks its input against the rules of `python -m runbooks`
(tasks.input_rules: every keyword argument, and the host's inventory values): a refusal is
a failed Result whose detail starts with "bad input: ", and nothing was sent, locked or
journaled. Then it prepares its host (credentials, host keys, ssh_config of our own), locks
the cluster, journals every step under the config's state_dir and re-attaches to an ICU an
earlier run sent instead of sending another: the rules of `python -m runbooks`.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from nornir.core.task import Result, Task

from tasks.device.connections import devices_of
from tasks.device.hosts import prepare_host
from tasks.device.rpc import Devices
from tasks.errors import BadInput
from tasks.events import Event, EventKind
from tasks.executor import Plan, default_context, execute
from tasks.input_rules import InputRefused, check_call, checked_target, release_problem
from tasks.plans.abort import abort_plan, pending_abort
from tasks.plans.approved_plan import ApprovedPlan
from tasks.plans.classify import classify
from tasks.plans.cluster_status import ClusterSummary, prerequisites, summarize
from tasks.plans.dual_reboot import between_hops, dual_words
from tasks.plans.hops import upgrade_by_hops
from tasks.plans.icu import inflight
from tasks.plans.path_plan import plan_cluster
from tasks.plans.recover import recover_plan
from tasks.plans.service_snapshot import take_snapshot
from tasks.plans.stage import stage_plan
from tasks.plans.steps import done, step
from tasks.plans.transfer import StageSpec
from tasks.state.run_context import ClusterRun, Outcome, RunContext
from tasks.state.settings import Timing
from tasks.vocabulary import IcuOptions

log = logging.getLogger(__name__)
# srx_upgrade's arguments its plans read from run.options
UPGRADE_OPTIONS = (
    "retry_failed",
    "restore_primary",
    "allow_alarms",
    "align_rgs",
    "service_checks",
    "allow_undocumented_path",
    "allow_outage",
    "method",
)


def srx_upgrade(
    task: Task,
    *,
    target_release: str | None = None,
    package: str | None = None,
    no_sync: bool = False,
    no_tcp_syn_check: bool = False,
    no_validate: bool = False,
    unlink: bool = False,
    restore_primary: str | None = None,
    retry_failed: bool = False,
    allow_alarms: tuple[str, ...] = (),
    align_rgs: bool = False,
    service_checks: bool = True,
    allow_undocumented_path: bool = False,
    allow_outage: bool = False,
    method: str = "auto",
    stage: StageSpec | None = None,
    approved: ApprovedPlan | None = None,
    dry_run: bool | None = None,
    context: RunContext | None = None,
) -> Result:
    """ICU on the cluster's RG0 primary, every phase followed to a verified end (target from
    the inventory's target_release/package unless both are given). allow_alarms: regexes of
    accepted major alarms; align_rgs: move RG1+ to the RG0 primary first; service_checks:
    compare interfaces, tunnels, routes and alarms before the ICU and after its end;
    allow_undocumented_path: go ahead on a hop the path table has no answer for (recorded).
    allow_outage: go hop by hop where a hop is a dual reboot (an outage); else refused. method:
    auto, icu, issu, dual-reboot or minimal-downtime (tasks.upgrade_paths.plan_hops).
    stage: put the package on the node(s) first (as srx_stage), the ICU only once it is there.
    approved: an approved plan (upgrade --plan): a cluster not in it, or no longer as the
    plan saw it, is `not-started` with nothing sent. dry_run: this call's own (None: Nornir's,
    task.is_dry_run())."""
    given = dict(locals())  # every keyword argument, each against its rule (tasks.input_rules)
    try:
        target = checked_target(task, given)
        ctx, _ = _prepared(task, context)
    except BadInput as exc:
        return _refused(task, "upgrade", context, exc)
    requested = IcuOptions(no_sync, no_tcp_syn_check, no_validate, unlink)

    def plan(task: Task, run: ClusterRun) -> Outcome:
        entry = None if approved is None else approved.clusters.get(task.host.name)
        if approved is not None and entry is None:
            why = f"not in the approved plan {approved.source}"
            return Outcome("not-started", "unknown", {}, why)
        staged = None if stage is None else stage_plan(task, run, target, stage)
        if staged is not None and staged.outcome not in ("ok", "skipped"):
            return staged  # not staged (or, in a dry run, would be): no ICU
        outcome = upgrade_by_hops(task, run, target, requested, entry)
        if approved is not None:
            outcome.extra.setdefault("approved_plan", approved.source)
        if staged is not None:
            outcome.extra.setdefault("stage", staged.extra.get("stage", {"detail": staged.detail}))
        return outcome

    options: dict[str, Any] = {k: given[k] for k in UPGRADE_OPTIONS}
    options["allow_alarms"] = tuple(allow_alarms)
    return execute(task, "upgrade", plan, ctx, options, dry_run)


def srx_stage(
    task: Task,
    *,
    spec: StageSpec | None = None,
    target_release: str | None = None,
    package: str | None = None,
    dry_run: bool | None = None,
    context: RunContext | None = None,
) -> Result:
    """Put the upgrade package on the RG0 primary (or both nodes), verified by size and
    checksum on the device: pulled by the device from spec.url (or the inventory's
    package_url) or pushed over SFTP from spec.push. Copying is not destructive."""
    given = dict(locals())
    try:
        target = checked_target(task, given)
        ctx, _ = _prepared(task, context)
    except BadInput as exc:
        return _refused(task, "stage", context, exc)
    chosen = spec or StageSpec()

    def plan(task: Task, run: ClusterRun) -> Outcome:
        return stage_plan(task, run, target, chosen)

    return execute(task, "stage", plan, ctx, {}, dry_run)


def srx_abort(
    task: Task,
    *,
    no_recover: bool = False,
    even_if_idle: bool = False,
    dry_run: bool | None = None,
    context: RunContext | None = None,
) -> Result:
    """Abort a running ICU on the RG0 primary, wait for it to land, and recover what it
    leaves inconsistent (unless no_recover). even_if_idle: send it to a healthy cluster that
    shows no ICU too (an ICU in its validate or push phase shows nothing to a second session)."""
    given = dict(locals())

    def plan(task: Task, run: ClusterRun) -> Outcome:
        return abort_plan(task, run, target=task.host.get("target_release"))

    options = {"no_recover": no_recover, "even_if_idle": even_if_idle}
    return _emergency(task, "abort", given, plan, options)


def srx_recover(
    task: Task, *, dry_run: bool | None = None, context: RunContext | None = None
) -> Result:
    """Bring an inconsistent cluster back to one release: abort, rollback node <id>, reboot
    on the RG0 secondary, each verified, then verify the cluster healthy."""
    given = dict(locals())

    def plan(task: Task, run: ClusterRun) -> Outcome:
        return recover_plan(task, run, target=task.host.get("target_release"))

    return _emergency(task, "recover", given, plan, {})


def _emergency(
    task: Task, job: str, given: dict[str, Any], body: Plan, options: dict[str, Any]
) -> Result:
    """abort and recover: the input checked, then `body` with every session dropped after."""
    try:
        check_call(task, given)
        ctx, _ = _prepared(task, given["context"])
    except BadInput as exc:
        return _refused(task, job, given["context"], exc)

    def plan(task: Task, run: ClusterRun) -> Outcome:
        try:
            return body(task, run)
        finally:
            devices_of(run.context.devices).drop_all(task)

    return execute(task, job, plan, ctx, options, given["dry_run"])


def srx_status(task: Task, *, context: RunContext | None = None) -> Result:
    """Read-only: classify the cluster. No lock, nothing journaled, nothing sent that
    changes a device. A report, not a verdict: an unhealthy (or unreachable) cluster is
    `failed=False` with its state in the ClusterSummary (summary.healthy says which), so a
    following srx_recover on the same Nornir object still runs on it. Refused for its input:
    `failed`, a ClusterSummary.bad_input (state `unknown`, the finding "bad input: ...")."""
    given = dict(locals())
    try:
        check_call(task, given)
        ctx, timing = _prepared(task, context)
        history = ctx.journal.history(task.host.name)
    except BadInput as exc:
        log.warning("%s: bad input: %s", task.host.name, exc.message)
        summary = ClusterSummary.bad_input(task.host.name, exc.message)
        return Result(task.host, result=summary, failed=True)
    try:
        source = devices_of(ctx.devices)
        view = step(task, _observe, "observe", timeout=timing.rpc_timeout, devices=source)
        prereqs = step(
            task,
            _prerequisites,
            "links and alarms",
            view=view,
            timeout=timing.rpc_timeout,
            devices=source,
        )
    finally:
        devices_of(ctx.devices).drop_all(task)
    pending = pending_abort(history, timing.idle_abort_watch, task.host.name, now=ctx.clock.time())
    summary = summarize(
        view,
        icu_started=inflight(history) is not None,
        prereqs=prereqs,
        abort_pending=pending,
        dual=dual_words(history),
        between=between_hops(history, view, task.host.get("target_release")),
    )
    return Result(task.host, result=summary)


def srx_plan(
    task: Task,
    *,
    target_release: str | None = None,
    method: str = "auto",
    context: RunContext | None = None,
) -> Result:
    """Read-only: the cluster's way from the release it runs to its target (the inventory's
    target_release unless given): the hops, each with its method, package, commands and
    outage, or why there is none (tasks/upgrade_paths.py), by `method` (auto: the table's
    choice; icu, issu, dual-reboot, minimal-downtime: that method, or why not). Nothing sent
    that changes a device. A ClusterPlan; refused for its input: failed, "bad input: ...",
    nothing asked."""
    given = dict(locals())
    try:
        check_call(task, given)
        if target_release is not None and (why := release_problem(target_release)):
            raise BadInput(f"target_release: {why}", cluster=task.host.name)
        ctx, timing = _prepared(task, context)
        target = target_release or task.host.get("target_release")
        if not target:
            raise BadInput("no target_release in inventory and none given", cluster=task.host.name)
    except BadInput as exc:
        log.warning("%s: bad input: %s", task.host.name, exc.message)
        return Result(task.host, result=f"bad input: {exc.message}", failed=True)
    source = devices_of(ctx.devices)
    try:
        view = step(task, _observe, "observe", timeout=timing.rpc_timeout, devices=source)
    finally:
        source.drop_all(task)
    packages = {str(k): str(v) for k, v in (task.host.get("packages") or {}).items()}
    if task.host.get("package") and task.host.get("target_release"):  # the inventory's own
        packages.setdefault(str(task.host.get("target_release")), str(task.host.get("package")))
    plan = plan_cluster(task.host.name, view, str(target), packages, method, timing)
    return Result(task.host, result=plan)


def _observe(task: Task, *, timeout: float, devices: Devices) -> Result:
    from tasks.device.observe import observe

    return done(task, observe(task, timeout=timeout, devices=devices))


def srx_snapshot(task: Task, *, context: RunContext | None = None) -> Result:
    """Read-only: the service snapshot of the cluster (interfaces, tunnels, routes, alarms,
    sessions) on its RG0 primary, as the upgrade takes it before the ICU. Not taken: a failed
    Result whose text says why ("bad input: ..." for a refused input, nothing sent)."""
    given = dict(locals())
    try:
        check_call(task, given)
        ctx, timing = _prepared(task, context)
    except BadInput as exc:
        log.warning("%s: bad input: %s", task.host.name, exc.message)
        return Result(task.host, result=f"bad input: {exc.message}", failed=True)
    source = devices_of(ctx.devices)
    try:
        view = step(task, _observe, "observe", timeout=timing.rpc_timeout, devices=source)
        primary = view.status.rg0_primary if view.status else None
        up = [n for n in ("node0", "node1") if view.nodes[n].reachable]
        node = primary if primary in up else (up[0] if up else None)
        if node is None:  # said as status says it: auth-failed is no network problem
            verdict = classify(view)
            why = f"no node answers ({verdict.state}): " + "; ".join(verdict.findings)
            return Result(task.host, result=why, failed=True)
        snap = take_snapshot(source.node_rpc(task, node, timeout=timing.rpc_timeout))
    finally:
        source.drop_all(task)
    return Result(task.host, result=snap)


def _prepared(task: Task, context: RunContext | None) -> tuple[RunContext, Timing]:
    """The run's context and the host made ready to connect (credentials, host keys,
    timing): what is wrong there is bad input too, found before any lock or journal."""
    ctx = context or default_context(task)
    prepare_host(task.host, ctx.state_dir, ctx.timing_defaults)
    return ctx, Timing.resolve(task.host, ctx.timing_defaults)


def _refused(task: Task, job: str, context: RunContext | None, exc: BadInput) -> Result:
    """The failed Result of an input refused before anything was sent, locked or journaled
    (every problem in extra["problems"]); the run's sink hears of it when one was given."""
    detail = f"bad input: {exc.message}"
    extra = {"problems": exc.problems} if isinstance(exc, InputRefused) else {}
    outcome = Outcome("failed", "unknown", {}, detail, extra)
    log.warning("%s: %s", task.host.name, detail)
    if isinstance(context, RunContext):
        data = {"outcome": "failed", "state": "unknown", "detail": detail, "phase": None}
        event = Event(
            time.time(), context.run_id, job, task.host.name, EventKind.CLUSTER_FINISHED, data
        )
        context.gate.record(outcome.outcome)
        context.sink.finished(task.host.name, outcome, event, published=True)
    return Result(task.host, result=outcome, failed=True)


def _prerequisites(task: Task, *, view: Any, timeout: float, devices: Devices) -> Result:
    """Step: control/fabric links and alarms, on the RG0 primary (or any node that answers)."""
    up = [n for n in ("node0", "node1") if view.nodes[n].reachable]
    primary = view.status.rg0_primary if view.status else None
    node = primary if primary in up else (up[0] if up else None)
    if node is None:
        return done(task, ([], []), summary="not read: no node answers")
    findings, notes = prerequisites(devices.node_rpc(task, node, timeout=timeout))
    said = "; ".join(findings + notes) or "links up, no alarms"
    return done(task, (findings, notes), summary=said)


__all__ = ["srx_abort", "srx_recover", "srx_snapshot", "srx_stage", "srx_status", "srx_upgrade"]
