"""Recovery of an inconsistent cluster (reference section 5), on the RG0 secondary only:

abort -> rollback node <id> -> reboot, each verified before the next, then wait for the node
to rejoin and verify the cluster consistent and healthy. Steps are journaled; a resumed
recovery continues at the first step the device and the journal do not show as done.
"""

from __future__ import annotations

import contextlib
import re
import time
from dataclasses import dataclass
from typing import Any

from nornir.core.task import Task

from tasks.classify import ClusterState, classify, icu_running
from tasks.connections import drop, node_rpc
from tasks.errors import DeadlineExceeded, DeviceRefused, NodeUnreachable, RunbookError, SessionLost
from tasks.icu import inflight
from tasks.releases import newer
from tasks.runctx import ClusterRun, Outcome
from tasks.upgrade import failed_now, outcome_from
from tasks.values import NODES, ClusterView, node_id, peer_of
from tasks.waits import look, poll_until

_ROLLBACK_RELEASE = re.compile(r'version\s+"?([\w.\-]+)"?\s+will become active', re.IGNORECASE)
RECOVER_STEPS = ("abort", "rollback", "reboot")


@dataclass(frozen=True)
class Decision:
    node: str | None  # the node to recover, None when refused
    primary: str | None
    reason: str  # why this node, or why refused (with the suggested manual step)


def decide(view: ClusterView, target: str | None) -> Decision:
    """Which node to recover: the RG0 secondary on the release that differs from the primary's."""
    down = [n for n in NODES if not view.nodes[n].reachable]
    if down:
        return Decision(
            None, None, f"{', '.join(down)} unreachable; bring it up, then re-run recover"
        )
    seen = {n: view.primary_seen_by(n) for n in NODES}
    if len(set(seen.values())) != 1 or None in seen.values():
        return Decision(
            None,
            None,
            "nodes disagree about the RG0 primary ("
            + ", ".join(f"{n} says {p or 'none'}" for n, p in seen.items())
            + "); check control/fabric links and `show chassis cluster status` "
            "on each node before acting",
        )
    primary = seen["node0"]
    assert primary is not None
    secondary = peer_of(primary)
    vp, vs = view.versions[primary], view.versions[secondary]
    if vp != vs:
        secondary_differs = vs == target or (target not in (vp, vs) and newer(str(vs), str(vp)))
        if not secondary_differs:
            return Decision(
                None,
                primary,
                f"the RG0 primary {primary} runs {vp}, the secondary "
                f"{vs}: the node on the differing release is the primary; fail "
                f"RG0 over to {secondary} or roll back {primary} by hand in a window",
            )
        return Decision(
            secondary,
            primary,
            f"{secondary} (RG0 secondary) runs {vs}, primary {primary} runs {vp}",
        )
    pending = [n for n in NODES if view.nodes[n].pending]
    if pending == [secondary]:
        return Decision(secondary, primary, f"leftover install pending on {secondary}")
    if primary in pending:
        return Decision(
            None,
            primary,
            f"an install is pending on the RG0 primary {primary}; "
            f"run `request system software rollback node {node_id(primary)}` on it "
            "by hand",
        )
    return Decision(None, primary, "nothing to recover")


def _steps(run: ClusterRun) -> tuple[dict[str, dict[str, Any]], set[str]]:
    """This recovery's journal so far: steps verified done, and steps sent at least once.

    A recovery lasts from its first step to `recover-done` (or a new ICU), across runs: a
    rollback sent by a run that died must never be sent again, since a second rollback
    would cancel the first."""
    done: dict[str, dict[str, Any]] = {}
    sent: set[str] = set()
    for rec in run.history:
        if rec.get("event") in ("recover-done", "icu-sending"):
            done.clear()
            sent.clear()
        elif rec.get("event") == "recover-step":
            done[str(rec["step"])] = rec
        elif rec.get("event") == "recover-sending":
            sent.add(str(rec["step"]))
    return done, sent


def recover_cluster(
    task: Task,
    run: ClusterRun,
    *,
    target: str | None,
    view: ClusterView | None = None,
    prefix: str = "",
) -> Outcome:
    view = view or look(task, run)
    verdict = classify(view)
    done, sent = _steps(run)
    resuming = bool(done or sent)
    found = inflight(run.history)
    if found is not None and not resuming:
        return outcome_from(
            view,
            "refused",
            prefix + f"refused: the ICU sent by run {found[0].get('run_id')} has not been seen "
            "to its end; follow it with `python -m runbooks upgrade --resume` or stop it with "
            "`python -m runbooks abort` first",
        )
    if verdict.state is ClusterState.HEALTHY and not resuming:
        return outcome_from(view, "skipped", prefix + "healthy; nothing to recover")
    if verdict.state not in (ClusterState.INCONSISTENT, ClusterState.PENDING_INSTALL) and not (
        resuming and "reboot" in done
    ):
        return outcome_from(
            view, "refused", prefix + f"not recovered: {verdict.state.value} ({verdict.detail})"
        )
    if "reboot" in done:
        node, primary = str(done["reboot"]["node"]), peer_of(str(done["reboot"]["node"]))
        run.emit(
            "note",
            message=f"resuming: reboot of {node} was sent by run "
            f"{done['reboot']['run_id']}; waiting for it to rejoin",
        )
        return _after_reboot(task, run, node, primary, int(done["reboot"]["boot_before"]), prefix)
    decision = decide(view, target)
    if decision.node is None:
        return outcome_from(view, "refused", prefix + f"refused: {decision.reason}")
    node, primary = decision.node, peer_of(decision.node)
    want = str(view.versions[primary])
    command_words = [
        f"request system software abort in-service-upgrade (on {node})",
        f"request system software rollback node {node_id(node)} (on {node})",
        f"request system reboot (on {node})",
    ]
    if run.dry_run:
        return outcome_from(
            view,
            "skipped",
            prefix + f"dry-run: would recover {node} "
            f"({decision.reason}): " + "; then ".join(command_words),
            plan={"node": node, "commands": command_words},
        )
    run.emit("step", step="recover", node=node, reason=decision.reason)
    try:
        rpc = node_rpc(task, node, timeout=run.timing.rpc_timeout, recorder=run.transcript)
        differs = view.versions[node] != want
        pending = bool(view.nodes[node].pending)
        # Journal and device together: an install pending on the node after a rollback this
        # recovery sent is that rollback (a run died before seeing its reply); one nobody
        # here sent is unexplained, and rolling back again would cancel it, not undo it.
        rolled_back = differs and pending and ("rollback" in done or "rollback" in sent)
        if differs and pending and not rolled_back:
            return outcome_from(
                view,
                "refused",
                prefix + f"refused: {node} runs {view.versions[node]} and has an install "
                f"pending that this tool did not request; check `show system software "
                f"rollback` on {node} and roll it back by hand",
            )
        if rolled_back:
            run.emit("note", message=f"{node} already rolled back; resuming at the reboot")
        else:
            run.emit("command", node=node, command=command_words[0])
            words = rpc.abort_icu()
            run.emit("recover-step", step="abort", node=node, reply=words)
            _abort_took_effect(task, run, node, view)
            run.emit("recover-sending", step="rollback", node=node)
            run.emit("command", node=node, command=command_words[1])
            try:
                result = rpc.rollback(node_id(node))
            except SessionLost as exc:
                # No answer is not a refusal, and never a reason to send it again: the device
                # shows below whether it took effect (an install pending, or none left).
                drop(task, node)
                rpc = node_rpc(task, node, timeout=run.timing.rpc_timeout, recorder=run.transcript)
                run.emit("recover-step", step="rollback", node=node, reply=f"({exc.message})")
                run.emit("note", message=f"rollback: {exc.message}; checking {node} itself")
            else:
                if not result.ok:
                    raise DeviceRefused(
                        result.output or "rollback refused", step="rollback", node=node
                    )
                match = _ROLLBACK_RELEASE.search(result.output)
                if view.versions[node] != want and (match is None or match.group(1) != want):
                    raise DeviceRefused(
                        f"rollback answered {result.output!r}; expected {want} to become active",
                        step="rollback",
                        node=node,
                    )
                run.emit("recover-step", step="rollback", node=node, reply=result.output)
        current = look(task, run)
        me = current.nodes[node]
        if current.versions[node] == want:
            if me.pending:  # rolling back a leftover install must leave nothing pending
                raise DeviceRefused(
                    f"an install is still pending on {node} after the "
                    "rollback; not rebooting into it",
                    step="rollback",
                    node=node,
                )
            run.emit("note", message=f"{node} runs {want} with nothing pending; no reboot needed")
            return _verify(task, run, node, want, prefix, "rollback")
        if not me.pending:
            raise DeviceRefused(
                f"after rollback {node} shows no pending install; the reboot "
                f"would not bring {want}",
                step="rollback",
                node=node,
            )
        boot_before = int(me.booted_at or 0)
        run.emit("recover-step", step="reboot", node=node, boot_before=boot_before)
        run.emit("command", node=node, command=command_words[2])
        # A lost reply is expected: the box starts shutting down before it finishes the reply.
        with contextlib.suppress(SessionLost, NodeUnreachable):
            rpc.reboot(node_id(node), timeout=min(run.timing.rpc_timeout, 30))
        drop(task, node)
        return _after_reboot(task, run, node, primary, boot_before, prefix)
    except RunbookError as exc:
        step = exc.step or "recover"
        left = look(task, run)
        return outcome_from(
            left,
            "failed",
            prefix + f"recover stopped at {step} on {node}: {exc.message}",
            phase=step,
        )


def _abort_took_effect(task: Task, run: ClusterRun, node: str, before: ClusterView) -> None:
    """The abort is verified when no ICU runs any more and the cluster is as it was: the
    device finishes its current operation first, so wait for that (abort_deadline)."""

    def settled(v: ClusterView) -> bool:
        reachable = all(v.nodes[n].reachable for n in NODES)
        return reachable and not icu_running(v)

    try:
        _, after = poll_until(
            task,
            run,
            settled,
            deadline=run.timing.abort_deadline,
            what="no ICU running after the abort",
            describe=lambda v: classify(v).detail,
        )
    except DeadlineExceeded as exc:
        raise DeviceRefused(exc.message, step="abort", node=node) from None
    if after.versions != before.versions:
        raise DeviceRefused(
            "the cluster changed while the abort landed (releases "
            f"{before.versions} -> {after.versions}); not rolling back",
            step="abort",
            node=node,
        )


def _after_reboot(
    task: Task, run: ClusterRun, node: str, primary: str, boot_before: int, prefix: str
) -> Outcome:
    def gone_or_rebooted(v: ClusterView) -> bool:
        me = v.nodes[node]
        return not me.reachable or (me.booted_at or 0) > boot_before

    t = run.timing
    try:
        poll_until(
            task,
            run,
            gone_or_rebooted,
            deadline=t.reboot_deadline,
            what=f"{node} rebooting (boot time change)",
        )
        want_holder: dict[str, str] = {}

        def rejoined(v: ClusterView) -> bool:
            me, other = v.nodes[node], v.nodes[primary]
            if not (me.reachable and other.reachable and (me.booted_at or 0) > boot_before):
                return False
            want_holder["want"] = str(v.versions[primary])
            rg0 = v.status.group(0) if v.status else None
            member = rg0.member(node) if rg0 else None
            return v.versions[node] == v.versions[primary] and bool(
                member and member.status == "secondary"
            )

        _, view = poll_until(
            task,
            run,
            rejoined,
            deadline=t.reboot_deadline,
            what=f"{node} back as RG0 secondary on the primary's release",
            describe=lambda v: classify(v).detail,
        )
    except DeadlineExceeded as exc:
        return failed_now(
            task,
            run,
            prefix + f"recover stopped at reboot on {node}: {exc.message}",
            phase="reboot",
        )
    return _verify(task, run, node, str(view.versions[primary]), prefix, "reboot")


def _verify(
    task: Task, run: ClusterRun, node: str, release: str, prefix: str, last_step: str
) -> Outcome:
    started = time.monotonic()
    try:
        _, view = poll_until(
            task,
            run,
            lambda v: classify(v).state is ClusterState.HEALTHY,
            deadline=run.timing.settle_deadline,
            what="cluster healthy after recovery",
            describe=lambda v: classify(v).detail,
        )
    except DeadlineExceeded as exc:
        return failed_now(task, run, prefix + f"recover: {exc.message}", phase="verify")
    del started
    run.emit("recover-done", node=node, release=release)
    return outcome_from(
        view,
        "ok",
        prefix + f"recovered {node} (last step {last_step}): both "
        f"nodes on {release}, cluster healthy (verified)",
        recovered_node=node,
    )
