"""One dual-reboot hop (KB17947's "dual reboot of both nodes after the upgrade", the way an
SRX300-family cluster reaches 24.4R1: docs/design/upgrade-paths.md, "Dual reboot"):

pre-checks -> install on each node without reboot, each on its own session (the RG0
secondary first) -> both nodes pending the same release -> reboot both together (the RG0
primary first, so it boots first and keeps RG0) -> both back on the release, cluster healthy.

The whole cluster is down while both reboot: `upgrade --allow-outage` only. Every command is
journaled (a `command` record with `dual`) before it leaves and never sent twice: a resumed
run reads `progress` from the journal, skips an install already pending, waits for one sent
but not yet seen, and proves a reboot already sent by the boot times. The nodes never meet on
different releases: neither reboots until both are pending.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import Any

from nornir.core.task import Result, Task

from tasks.device.commands import REBOOT_CLI, PackageAdd
from tasks.device.junos import added_release
from tasks.device.readings import ClusterView, peer_of
from tasks.device.rpc import NodeRpc
from tasks.errors import DeadlineExceeded, DeviceRefused, NodeUnreachable, RunbookError, SessionLost
from tasks.events import EventKind
from tasks.plans import prechecks as pc
from tasks.plans import sessions
from tasks.plans.config_backup import backup_after
from tasks.plans.outcomes import failed_now, outcome_from
from tasks.plans.service_steps import ready_for_dual_reboot, services_after
from tasks.plans.steps import done, step
from tasks.plans.waits import await_healthy, look, poll_until
from tasks.state.gate import NotStarted
from tasks.state.run_context import ClusterRun, Outcome
from tasks.state.settings import Target
from tasks.vocabulary import NODES

METHOD = "dual-reboot"
UNANSWERED = "could not read: "  # a pre-check whose read got no usable reply (prechecks.py)


@dataclass(frozen=True)
class DualProgress:
    """The dual reboot this tool began and no run has seen end, from the journal."""

    release: str = ""
    package: str = ""
    sent: dict[str, str] = field(default_factory=dict)  # node -> run id whose install left
    installed: dict[str, str] = field(default_factory=dict)  # node -> release seen pending
    refused: dict[str, str] = field(default_factory=dict)  # node -> the device's words
    reboot: dict[str, Any] | None = None  # the reboot record: nodes, boot_before, run_id

    @property
    def active(self) -> bool:
        return bool(self.sent or self.reboot)


def progress(history: list[dict[str, Any]]) -> DualProgress:
    """Read the newest dual reboot from the journal; one that ended (dual-reboot-ended) is
    no longer active."""
    found: dict[str, Any] = {"sent": {}, "installed": {}, "refused": {}}
    for rec in history:
        event = rec.get("event")
        if event == EventKind.DUAL_ENDED:
            found = {"sent": {}, "installed": {}, "refused": {}}
        elif event == EventKind.COMMAND and rec.get("dual") == "install":
            found["release"], found["package"] = rec.get("release"), rec.get("package")
            found["sent"][str(rec.get("node"))] = str(rec.get("run_id"))
        elif event == EventKind.COMMAND and rec.get("dual") == "reboot":
            found["reboot"] = rec
        elif event == EventKind.DUAL_VERIFIED and rec.get("refused"):
            found["refused"][str(rec.get("node"))] = str(rec.get("refused"))
        elif event == EventKind.DUAL_VERIFIED:
            found["installed"][str(rec.get("node"))] = str(rec.get("release"))
    return DualProgress(
        str(found.get("release") or ""),
        str(found.get("package") or ""),
        found["sent"],
        found["installed"],
        found["refused"],
        found.get("reboot"),
    )


def dual_words(history: list[dict[str, Any]]) -> str | None:
    """What the journal says of a dual reboot under way (status, recover), else None."""
    prog = progress(history)
    if not prog.active:
        return None
    if prog.reboot is not None:
        return (
            f"dual reboot to {prog.release}: both nodes rebooting (run {prog.reboot.get('run_id')})"
        )
    runs = ", ".join(sorted(set(prog.sent.values())))
    nodes = " and ".join(sorted(prog.sent))
    return (
        f"dual reboot to {prog.release}: install sent to {nodes} by run {runs}, no reboot yet; "
        "`upgrade --allow-outage` goes on, `recover` cancels the pending installs"
    )


def between_hops(
    history: list[dict[str, Any]], view: ClusterView, target: str | None
) -> str | None:
    """Both nodes on the release this tool's newest dual reboot ended verified on, short of
    the cluster's target: the way stopped between two hops (status), else None."""
    ended = [r for r in history if r.get("event") == EventKind.DUAL_ENDED]
    if not target or not ended or ended[-1].get("how") != "verified":
        return None
    release = str(ended[-1].get("release") or "")
    if not release or release == target or set(view.versions.values()) != {release}:
        return None
    return (
        f"between hops: both nodes on {release}, the dual reboot to it verified by run "
        f"{ended[-1].get('run_id')}; the target {target} is the next hop's: `upgrade` goes "
        "on (with the options of the first run)"
    )


def commands(package: str) -> list[str]:
    """What one dual-reboot hop sends, in order (the plan job, dry runs, the report)."""
    add = PackageAdd(package).cli
    return [
        f"{add}  (on the RG0 secondary's own session)",
        f"{add}  (on the RG0 primary's own session)",
        f"{REBOOT_CLI}  (on the RG0 primary's own session, then at once on the secondary's)",
    ]


DUAL_PRECHECKS = tuple(
    (name, fn)
    for name, fn in pc.PRECHECKS
    if name
    in (
        "reachable",
        "cluster-enabled",
        "no-icu-running",
        "same-release",
        "already-on-target",
        "no-pending-install",
        "cluster-healthy",
        "rg0-primary",
        "cluster-links",
        "no-major-alarms",
    )
)


def package_on_both(f: pc.Facts) -> pc.Finding:
    """Each node installs its own copy: the package must be a file on both nodes."""
    where = []
    for node in (f.primary, peer_of(f.primary)):
        info = f.reader(node).file_info(f.target.package)
        if info is None or info.kind != "file":
            what = "not found" if info is None else f"a {info.kind}, not a file"
            return pc.Finding(False, f"{f.target.package} {what} on {node}")
        f.package_size = info.size
        where.append(f"{node} {info.size} bytes")
    return pc.Finding(True, f"{f.target.package} on both nodes ({', '.join(where)})")


DUAL_TABLE = (
    *DUAL_PRECHECKS,
    ("package-on-both-nodes", package_on_both),
    ("free-space", pc.free_space),
)


def check_dual(task: Task, *, run: ClusterRun, view: ClusterView, hop: Target) -> Result:
    """Step: the pre-checks of a dual reboot (the upgrade's table where it applies)."""

    def reader(node: str) -> NodeRpc:
        return sessions.rpc(task, run, node)

    def report(check: pc.Check) -> None:
        run.emit(EventKind.CHECK, check=check.name, passed=check.passed, evidence=check.evidence)

    facts = pc.Facts(view, hop, reader)
    facts.allow_alarms = tuple(run.options.get("allow_alarms", ()))
    result = pc.run_prechecks(facts, report, DUAL_TABLE)
    return done(task, result, failed=bool(result.failed) and not unanswered(result))


def unanswered(pre: pc.PrecheckResult) -> bool:
    """The first failed check is a read the node did not answer (a dropped session, a
    garbled reply): no verdict on the cluster."""
    return bool(pre.failed) and pre.failed[0].evidence.startswith(UNANSWERED)


def prechecks(task: Task, run: ClusterRun, view: ClusterView, hop: Target) -> Any:
    """The dual reboot's pre-checks; as the ICU's (tasks.plans.upgrade), a read the node did
    not answer is looked at again: fresh sessions, a fresh look, the checks again."""
    pre = step(task, check_dual, "dual-reboot pre-checks", run=run, view=view, hop=hop)
    if unanswered(pre):
        sessions.drop_all(task, run)
        view = look(task, run)
        pre = step(task, check_dual, "dual-reboot pre-checks again", run=run, view=view, hop=hop)
    return pre


def dual_reboot_plan(task: Task, run: ClusterRun, hop: Target, view: ClusterView) -> Outcome:
    """One dual-reboot hop to `hop.release`, resumed from the journal when one is under way."""
    prog = progress(run.history)
    if prog.refused:
        words = "; ".join(f"{n}: {w}" for n, w in prog.refused.items())
        detail = (
            f"the dual reboot's install was refused ({words}); nothing rebooted: "
            "`python -m runbooks recover` cancels what is pending, then upgrade again"
        )
        return outcome_from(view, "failed", detail, phase="install")
    if prog.active and run.dry_run:  # a dry run never sends, not even to resume
        detail = f"dry-run: would resume the dual reboot to {prog.release} an earlier run began"
        return outcome_from(
            view, "would-upgrade", detail, plan={"commands": commands(prog.package)}
        )
    if prog.active:
        run.emit(EventKind.NOTE, message=f"resuming the dual reboot to {prog.release}")
        hop = Target(prog.release, prog.package)
        primary = (view.status.rg0_primary if view.status else None) or "node0"
        return _guarded(task, run, hop, primary, prog)
    pre = prechecks(task, run, view, hop)
    checks = pre.to_json()
    if pre.failed:
        first = pre.failed[0]
        detail = f"pre-check {first.name} failed: {first.evidence}"
        return outcome_from(view, "failed", detail, checks=checks, phase="pre-checks")
    if pre.already_on_target:
        return outcome_from(view, "skipped", f"already on {hop.release}", checks=checks)
    if run.dry_run:
        sends = commands(hop.package)
        detail = f"dry-run: would {METHOD} to {hop.release}: " + "; then ".join(sends)
        return outcome_from(view, "would-upgrade", detail, checks=checks, plan={"commands": sends})
    with run.gate.slot():
        if run.window_closed():
            raise NotStarted("window closed before the dual reboot could begin")
        why = run.abort_reason()
        if why is not None:
            return outcome_from(view, "aborted", f"{why} before the dual reboot: nothing sent")
        before = ready_for_dual_reboot(task, run, pre.primary)
        if isinstance(before, Outcome):
            return before
        outcome = _guarded(task, run, hop, pre.primary, prog)
    outcome = backup_after(task, run, services_after(task, run, before, outcome))
    outcome.extra.setdefault("checks", checks)
    return outcome


class AbortAsked(Exception):
    """An abort asked of this run (by another run, an interrupt, the window's end) before the
    dual reboot's reboots: nothing more is sent; the caller cancels what was (tasks.plans.hops)."""

    def __init__(self, why: str) -> None:
        super().__init__(why)
        self.why = why


ABORT_ASKED = "abort_asked"  # the outcome's extra key: the hop stopped for an abort, and why


def _unless_abort_asked(run: ClusterRun) -> None:
    why = run.abort_reason()
    if why is not None:
        raise AbortAsked(why)


def _guarded(task: Task, run: ClusterRun, hop: Target, primary: str, prog: DualProgress) -> Outcome:
    try:
        return _carry_out(task, run, hop, primary, prog)
    except AbortAsked as exc:
        return Outcome("aborted", "unknown", {}, exc.why, {ABORT_ASKED: exc.why})
    except RunbookError as exc:
        where = exc.step or METHOD
        detail = f"dual reboot stopped at {where}: {exc.message}"
        return failed_now(task, run, detail, phase=where)
    finally:
        sessions.drop_all(task, run)


def _carry_out(
    task: Task, run: ClusterRun, hop: Target, primary: str, prog: DualProgress
) -> Outcome:
    if prog.reboot is None:
        for node in (peer_of(primary), primary):  # the secondary first
            if node not in prog.sent:  # an abort asked: no further install
                _unless_abort_asked(run)
            what = {"run": run, "node": node, "hop": hop, "prog": prog}
            step(task, install_on, f"install {node}", **what)
        step(task, both_pending, "both pending", run=run, hop=hop)
        _unless_abort_asked(run)  # the last moment an abort can stop a dual reboot
        boot = step(task, reboot_both, "reboot both", run=run, hop=hop, primary=primary)
    else:
        run.emit(
            EventKind.NOTE, message=f"the reboot was journaled by run {prog.reboot.get('run_id')}"
        )
        what = {"run": run, "hop": hop, "prog": prog, "primary": primary}
        boot = step(task, reboot_rest, "reboot resumed", **what)
    return step(task, both_back, "both back", run=run, hop=hop, boot=boot)


def boot_before(prog: DualProgress) -> dict[str, int]:
    """Each node's boot time before the reboot the journal holds."""
    return {str(k): int(v) for k, v in dict((prog.reboot or {}).get("boot_before") or {}).items()}


def not_rebooted(task: Task, run: ClusterRun, prog: DualProgress) -> tuple[list[str], ClusterView]:
    """The nodes the journaled reboot has not taken (up on their old boot) once it can no
    longer be on its way: rpc_timeout + poll_interval since its record (the bound a reboot
    sent has to show, as _not_going_down's: inferred). A node down or booted since is taken."""
    boot = boot_before(prog)
    t = run.timing
    until = float((prog.reboot or {}).get("ts", 0)) + t.rpc_timeout + t.poll_interval
    while True:
        view = look(task, run)
        left = [
            n
            for n in NODES
            if view.nodes[n].reachable and (view.nodes[n].booted_at or 0) <= boot.get(n, 0)
        ]
        if not left or run.dry_run or run.clock.time() >= until:
            return left, view
        run.tell_busy("the journaled reboot to show")
        run.clock.sleep(min(t.poll_interval, max(0.0, until - run.clock.time())))


def reboot_rest(
    task: Task, *, run: ClusterRun, hop: Target, prog: DualProgress, primary: str
) -> Result:
    """Step: a reboot an earlier run journaled (then died: its record was written, its
    requests may or may not have left). The device tells: a node down or booted since took
    it; a node still up on its old boot once the bound passed never got it (the request did
    not leave, or was lost) and is rebooted now, journaled first, so the two nodes do not meet
    on different releases. Such a node must still have its install pending, else nothing is
    sent."""
    boot = boot_before(prog)
    left, view = not_rebooted(task, run, prog)
    if not left:
        return done(task, boot, summary="the journaled reboot took both nodes")
    stale = [n for n in left if not view.nodes[n].pending]
    if stale:
        raise DeviceRefused(
            f"{' and '.join(stale)} up since before the journaled reboot with nothing pending; "
            "check `show system software` there by hand (nothing sent)",
            step="reboot",
        )
    order = [n for n in (primary, peer_of(primary)) if n in left]
    resumed = str((prog.reboot or {}).get("run_id"))
    _send_reboots(task, run, order, boot, hop, resumed=resumed)
    said = " and ".join(order)
    return done(task, boot, changed=True, summary=f"sent '{REBOOT_CLI}' to {said} (resumed)")


def install_on(
    task: Task, *, run: ClusterRun, node: str, hop: Target, prog: DualProgress
) -> Result:
    """Step: the install on `node`'s own session, journaled before it leaves; an install this
    tool sent already (seen pending, or not yet) is never sent again."""
    if node in prog.installed:
        return done(task, None, summary=f"{node}: {prog.installed[node]} already pending")
    if node not in prog.sent:
        rpc = sessions.rpc(task, run, node)
        if rpc.pending_install():
            raise DeviceRefused(
                f"an install this tool did not request is pending on {node}; check `show "
                "system software` there and roll it back by hand",
                step="install",
                node=node,
            )
        _send_install(task, run, rpc, node, hop)
    else:
        run.emit(EventKind.NOTE, message=f"the install on {node} was sent by run {prog.sent[node]}")
    if not _await_pending(task, run, node, resumed=node in prog.sent):
        _resend_install(task, run, node, hop)
    run.emit(EventKind.DUAL_VERIFIED, step="install", node=node, release=hop.release)
    return done(task, None, changed=node not in prog.sent, summary=f"{node}: {hop.release} pending")


def _send_install(task: Task, run: ClusterRun, rpc: NodeRpc, node: str, hop: Target) -> None:
    add = PackageAdd(hop.package)
    run.emit(
        EventKind.COMMAND,
        dual="install",
        node=node,
        command=add.cli,
        package=hop.package,
        release=hop.release,
    )
    try:
        result = rpc.package_add(add, timeout=run.timing.install_deadline)
    except (SessionLost, NodeUnreachable) as exc:  # it may still run: the device tells
        sessions.drop(task, run, node)
        run.emit(EventKind.NOTE, message=f"install on {node}: {exc.message}; watching {node}")
        return
    named = added_release(result.output)
    if result.failed or (named is not None and named != hop.release):
        words = result.output or "install refused"
        if not result.failed:
            words = f"the package installs {named}, not {hop.release}: {words}"
        run.emit(EventKind.DUAL_VERIFIED, step="install", node=node, refused=words)
        raise DeviceRefused(words, step="install", node=node)


def _await_pending(task: Task, run: ClusterRun, node: str, *, resumed: bool) -> bool:
    """The install on `node` seen pending within the install deadline: counted from now for
    an install this run sent, from its journal record for one an earlier run sent (a re-run
    long after the kill waits no longer than the install itself could still take). False:
    an earlier run's install, journaled once, never showed pending by then (the caller sends
    it once more: _resend_install)."""
    deadline = run.timing.install_deadline
    if resumed:
        sent = installs_journaled(run, node)
        deadline = max(0.0, max(sent, default=run.clock.time()) + deadline - run.clock.time())
    try:
        poll_until(
            task,
            run,
            lambda v: v.nodes[node].reachable and bool(v.nodes[node].pending),
            deadline=deadline,
            what=f"the install pending on {node}",
        )
    except DeadlineExceeded as exc:
        if resumed and len(installs_journaled(run, node)) == 1:
            return False
        why = exc.message
        if resumed:  # journaled twice (once resent), still nothing pending
            why = (
                f"the install journaled for {node} never showed pending within the install "
                f"deadline ({run.timing.install_deadline:g}s), sent once more by a later run "
                "with the same end. Next: look at `show system software` on "
                f"{node}; `python -m runbooks recover` cancels what is pending on its peer"
            )
        raise DeviceRefused(why, step="install", node=node) from None
    return True


def _resend_install(task: Task, run: ClusterRun, node: str, hop: Target) -> None:
    """An earlier run journaled the install on `node` and died; the install deadline since
    its record has passed and nothing is pending there: the install never arrived (one that
    had would have ended by then, pending or refused) and is sent once more, journaled
    first, as a reboot that never arrived is (reboot_rest). Still under way after all, the
    device refuses it ("Another package installation in progress"): nothing is lost."""
    rpc = sessions.rpc(task, run, node)
    if rpc.pending_install():  # the moment between the last look and now
        return
    run.emit(
        EventKind.NOTE,
        message=f"the install journaled for {node} never showed pending within the install "
        f"deadline ({run.timing.install_deadline:g}s): it never arrived; sending it once more",
    )
    _send_install(task, run, rpc, node, hop)
    _await_pending(task, run, node, resumed=False)


def both_pending(task: Task, *, run: ClusterRun, hop: Target) -> Result:
    """Step: both nodes pending, each with the release its install named (the journal): the
    pending-install check names no release, so the install's own reply is the evidence."""
    view = look(task, run)
    installed = progress(run.history).installed
    wrong = [n for n in NODES if not view.nodes[n].pending or installed.get(n) != hop.release]
    if wrong:
        said = ", ".join(f"{n} {installed.get(n) or 'nothing'}" for n in NODES)
        raise DeviceRefused(
            f"not both pending {hop.release} ({said}); nothing rebooted", step="both pending"
        )
    return done(task, view, summary=f"node0 and node1 pending {hop.release}")


def reboot_both(task: Task, *, run: ClusterRun, hop: Target, primary: str) -> Result:
    """Step: both sessions open first (a node that cannot be reached gets nothing, nor does
    its peer), one journal record, then `request system reboot` on each node's own session,
    the RG0 primary first. A lost reply is expected (the box goes down); each node must then
    be seen going down (or booted since) before the step ends."""
    view = look(task, run)
    boot = {n: int(view.nodes[n].booted_at or 0) for n in NODES}
    order = [primary, peer_of(primary)]
    _send_reboots(task, run, order, boot, hop)
    return done(task, boot, changed=True, summary=f"sent '{REBOOT_CLI}' to {' and '.join(order)}")


def _send_reboots(
    task: Task,
    run: ClusterRun,
    order: list[str],
    boot: dict[str, int],
    hop: Target,
    resumed: str | None = None,
) -> None:
    """Sessions to `order`'s nodes open first, one journal record, then the reboot on each
    node's own session in that order; each node then seen going down."""
    t = run.timing
    rpcs = {n: sessions.rpc(task, run, n) for n in order}
    extra = {} if resumed is None else {"resumes": resumed}
    run.emit(
        EventKind.COMMAND,
        dual="reboot",
        nodes=order,
        boot_before=boot,
        command=REBOOT_CLI,
        **extra,
    )
    refused = []
    for node in order:
        with contextlib.suppress(SessionLost, NodeUnreachable):
            try:
                rpcs[node].reboot_self(timeout=min(t.rpc_timeout, 30))
            except DeviceRefused as exc:
                refused.append(f"{node}: {exc.message}")
        sessions.drop(task, run, node)
    if not refused:
        refused = _not_going_down(task, run, boot)
    if refused:
        raise DeviceRefused(
            f"reboot not done ({'; '.join(refused)}); the other node boots {hop.release}: "
            "reboot the one named here by hand now, before the other is back",
            step="reboot",
        )


def _not_going_down(task: Task, run: ClusterRun, boot: dict[str, int]) -> list[str]:
    """The nodes still up on their old boot once rpc_timeout + poll_interval have passed (a
    reboot whose request was lost on the wire, unseen), else []. How fast a real SRX stops
    answering after "Shutdown NOW!" is not published: that bound is ours (inferred)."""

    def gone(v: ClusterView) -> bool:
        return all(not v.nodes[n].reachable or (v.nodes[n].booted_at or 0) > boot[n] for n in NODES)

    try:
        wait = run.timing.rpc_timeout + run.timing.poll_interval
        poll_until(task, run, gone, deadline=wait, what="both nodes down")
    except DeadlineExceeded:
        view = look(task, run)
        return [
            f"{n} still up since its last boot"
            for n in NODES
            if view.nodes[n].reachable and (view.nodes[n].booted_at or 0) <= boot[n]
        ]
    return []


def both_back(task: Task, *, run: ClusterRun, hop: Target, boot: dict[str, int]) -> Result:
    """Step: both nodes booted since the reboot, on the release, nothing pending, then the
    cluster healthy: the hop's verified end."""

    def back(v: ClusterView) -> bool:
        return all(
            v.nodes[n].reachable
            and (v.nodes[n].booted_at or 0) > boot.get(n, 0)
            and v.versions[n] == hop.release
            and not v.nodes[n].pending
            for n in NODES
        )

    t = run.timing
    try:
        poll_until(
            task,
            run,
            back,
            deadline=t.reboot_deadline + t.settle_deadline,
            what=f"both nodes back on {hop.release}",
            describe=lambda v: v.brief(),
        )
        view = await_healthy(task, run, what=f"cluster healthy on {hop.release}")
    except DeadlineExceeded as exc:
        outcome = failed_now(task, run, f"dual reboot: {exc.message}", phase="reboot")
        return done(task, outcome, failed=True)
    run.emit(EventKind.DUAL_ENDED, how="verified", release=hop.release)
    detail = f"both nodes on {hop.release} by dual reboot, cluster healthy (verified)"
    return done(task, outcome_from(view, "ok", detail))


def installs_journaled(run: ClusterRun, node: str) -> list[float]:
    """When each dual-reboot install on `node` was journaled (epoch seconds, this run's and
    earlier runs')."""
    return [
        float(r.get("ts", 0))
        for r in run.history
        if r.get("event") == EventKind.COMMAND
        and r.get("dual") == "install"
        and r.get("node") == node
    ]
