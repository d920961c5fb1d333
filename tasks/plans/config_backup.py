"""Each node's configuration saved before the first command that changes the cluster and
after its verified end, and what changed between the two.

Read by RPC on each node's own session, in text and set form (`get-configuration format="text"`
and `format="set"`), and written whole, secrets included, to
`<state_dir>/runs/<run id>/config/<cluster>/<node>.<before|after>.<conf|set>` (0600, in 0700
directories): the one place the secrets are kept. Everything shown elsewhere (the report's
diff, logs, transcripts, notifications) goes through tasks.state.redact.

In a run of several hops (a dual reboot, then an ICU), `before` is what the cluster had before
the run's first change and `after` what it has after the last verified hop.

A backup that cannot be read stops the upgrade before it changes anything: the operator was
promised the configuration saved first. The one after the verified end is best effort: the
upgrade is done, a failed read is a note in the report.
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any

from nornir.core.task import Result, Task

from tasks.errors import RunbookError
from tasks.events import EventKind
from tasks.plans import sessions
from tasks.plans.outcomes import failed_now
from tasks.plans.steps import done, step
from tasks.state.paths import private_dir, under, write_text_atomic
from tasks.state.redact import redact
from tasks.state.run_context import ClusterRun, Outcome
from tasks.vocabulary import NODES

FORMS = {"text": "conf", "set": "set"}
DIFF_LINES = 200  # of the report's diff per node; the files hold everything


def backup_dir(run: ClusterRun) -> Path:
    return under(private_dir(run.context.state_dir / "runs" / run.run_id / "config"), run.cluster)


def save_configuration(task: Task, *, run: ClusterRun, stage: str) -> Result:
    """Step: both nodes' configuration, text and set form, saved for `stage` (before, after)."""
    where = private_dir(backup_dir(run))
    files: dict[str, list[str]] = {}
    if stage == "before" and all((where / f"{n}.before.set").exists() for n in NODES):
        # a later hop of the same run: `before` stays what the cluster had before the first
        return done(task, files, summary="configuration before: kept from this run's first hop")
    for node in NODES:
        rpc = sessions.rpc(task, run, node)
        for form, suffix in FORMS.items():
            path = where / f"{node}.{stage}.{suffix}"
            write_text_atomic(path, rpc.configuration(form), redacted=False)
            files.setdefault(node, []).append(str(path))
    return done(task, files, summary=f"configuration {stage}: both nodes saved in {where}")


def config_diff(run: ClusterRun) -> dict[str, Any]:
    """The set-form diff of each node, before -> after, secrets redacted (for the report)."""
    where = backup_dir(run)
    diff: dict[str, Any] = {}
    for node in NODES:
        before, after = where / f"{node}.before.set", where / f"{node}.after.set"
        if not (before.exists() and after.exists()):
            continue
        lines = list(
            difflib.unified_diff(
                before.read_text().splitlines(),
                after.read_text().splitlines(),
                f"{node} before",
                f"{node} after",
                lineterm="",
                n=0,
            )
        )
        diff[node] = [redact(line) for line in lines[:DIFF_LINES]]
    return {"dir": str(where), "diff": diff}


def backup_before(task: Task, run: ClusterRun) -> Outcome | None:
    """The backup before the first change; a failed Outcome (nothing sent) when it fails."""
    try:
        step(task, save_configuration, "configuration before", run=run, stage="before")
    except (RunbookError, OSError) as exc:
        why = exc.message if isinstance(exc, RunbookError) else str(exc)
        detail = f"configuration backup before any change failed ({why}): nothing sent"
        return failed_now(task, run, detail, phase="configuration backup")
    return None


def backup_after(task: Task, run: ClusterRun, outcome: Outcome) -> Outcome:
    """After a verified end: the backup again and the diff in the report (best effort)."""
    if outcome.outcome not in ("ok", "services-lost"):
        outcome.extra.setdefault("config", {"dir": str(backup_dir(run)), "diff": {}})
        return outcome
    try:
        step(task, save_configuration, "configuration after", run=run, stage="after")
    except (RunbookError, OSError) as exc:
        why = exc.message if isinstance(exc, RunbookError) else str(exc)
        run.emit(EventKind.NOTE, message=f"configuration after the upgrade not saved: {why}")
        outcome.extra["config"] = {"dir": str(backup_dir(run)), "after": f"not saved: {why}"}
        return outcome
    outcome.extra["config"] = config_diff(run)
    return outcome
