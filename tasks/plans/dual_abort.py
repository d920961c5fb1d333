"""`abort` of a cluster in a dual reboot (`upgrade --allow-outage`): there is no ICU, so
there is no `request system software abort in-service-upgrade` to send. What can be stopped
depends on how far the dual reboot got (the journal: tasks.plans.dual_reboot.progress):

- installs sent, no reboot journaled: nothing is running that a reboot would make real, so
  the abort cancels the pending installs exactly as `recover` does (tasks.plans.
  dual_recover: `request system software rollback node <id>` on each node's own session,
  journaled first, never sent twice) and verifies the cluster on its old release: `ok`.
  With `--no-recover` nothing is sent: `refused`, naming `recover`;
- the reboots journaled: both nodes are (or were) rebooting into the new release and
  nothing can stop that: `refused`, nothing sent; the upgrade (or `recover`) finishes it.

A dual reboot an upgrade run still holds gets the abort handed over like an ICU (docs/
operators/abort.md); that run stops before its next install or its reboots (tasks.plans.hops
.abort_asked).
"""

from __future__ import annotations

from nornir.core.task import Task

from tasks.device.readings import ClusterView
from tasks.plans.dual_reboot import progress
from tasks.plans.dual_recover import recover_dual
from tasks.plans.outcomes import outcome_from
from tasks.state.run_context import ClusterRun, Outcome


def abort_dual(task: Task, run: ClusterRun, view: ClusterView) -> Outcome:
    """The abort of the dual reboot the journal shows under way (no ICU of ours is)."""
    prog = progress(run.history)
    if prog.reboot is not None:
        detail = (
            f"too late to abort: the dual reboot to {prog.release} sent its reboots (run "
            f"{prog.reboot.get('run_id')}) and there is no ICU to abort; nothing sent. Both "
            f"nodes boot {prog.release}: the same `upgrade --allow-outage` verifies the hop "
            "and goes on, `python -m runbooks recover` finishes it if that run is gone"
        )
        return outcome_from(view, "refused", detail, phase="abort")
    runs = ", ".join(sorted(set(prog.sent.values())))
    head = (
        f"no ICU to abort: the dual reboot to {prog.release} has installs sent to "
        f"{' and '.join(sorted(prog.sent))} (run {runs}), nothing rebooted"
    )
    if run.options.get("no_recover"):
        detail = (
            f"{head}; --no-recover: nothing sent. `python -m runbooks recover` cancels the "
            "pending installs (or `upgrade --allow-outage` goes on)"
        )
        return outcome_from(view, "refused", detail, phase="abort")
    outcome = recover_dual(task, run, view, prefix=f"{head}: ")
    if outcome.outcome == "would-recover":
        outcome.outcome = "would-abort"
    return outcome
