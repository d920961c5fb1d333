"""Plan steps as Nornir subtasks (tasks.plans.steps), without a device: the plan gets each step's
typed value, print_result and processors a one-line `result`; a step is `changed` only when
a destructive command left while it ran; a failed step does not stop the plan. And the
acting tasks' per-call dry_run reaches the plan (tasks.executor)."""

from __future__ import annotations

from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest
from nornir.core.task import MultiResult, Result, Task

from tasks.events import EventKind
from tasks.executor import execute
from tasks.plans.steps import StepResult, brief, done, step
from tasks.state.run_context import ClusterRun, Outcome
from tests.unit.tasks.plans.test_plan_decisions import context, nornir_of


def look(task: Task, *, run: ClusterRun) -> Result:
    return done(task, {"node0": "a", "node1": "b"}, summary="node0 a;\n node1 b")


def send(task: Task, *, run: ClusterRun) -> Result:
    run.emit(EventKind.COMMAND, node="node0", command="request something")
    return done(task, "sent")  # says nothing of `changed`: the command counted


def wait(task: Task, *, run: ClusterRun) -> Result:
    return done(task, Outcome("ok", "healthy", {}, "done", {"big": list(range(500))}))


def refuse(task: Task, *, run: ClusterRun) -> Result:
    return done(task, 42, failed=True, summary="FAIL: no")


def test_steps_give_the_plan_values_and_print_result_one_line(tmp_path: Path) -> None:
    seen: list[Any] = []

    def plan(task: Task, run: ClusterRun) -> Outcome:
        seen.append(step(task, look, "look", run=run))
        seen.append(step(task, send, "send", run=run))
        seen.append(step(task, wait, "wait", run=run))
        seen.append(step(task, refuse, "refuse", run=run))  # failed: the plan goes on
        return Outcome("ok", "healthy", {}, "all done")

    nr = nornir_of()
    multi: MultiResult = nr.run(
        task=lambda task: execute(task, "upgrade", plan, context(tmp_path), {})
    )["c1"]
    assert seen[0] == {"node0": "a", "node1": "b"} and seen[1] == "sent" and seen[3] == 42
    assert isinstance(seen[2], Outcome) and seen[2].extra["big"]
    steps = {str(r.name): r for r in list(multi)[1:]}
    assert all(isinstance(r, StepResult) for r in steps.values())
    assert steps["look"].result == "node0 a; node1 b"
    assert steps["wait"].result == "ok (healthy): done"
    assert {n for n, r in steps.items() if r.changed} == {"send"}
    assert {n for n, r in steps.items() if r.failed} == {"refuse"}
    assert multi[0].result.outcome == "ok" and multi[0].changed


def test_brief_is_one_short_line() -> None:
    assert brief(None) == ""
    assert brief("a\n  b") == "a b"
    assert len(brief("x" * 500)) == 160 and brief("x" * 500).endswith("...")
    assert "big" not in repr(Outcome("ok", "healthy", {}, "d", {"big": 1}))


@pytest.mark.parametrize(
    ("globally", "per_call", "expected"),
    [
        (False, True, True),
        (True, False, False),
        (True, None, True),
        (False, None, False),
    ],
)
def test_a_per_call_dry_run_reaches_the_plan(
    tmp_path: Path, globally: bool, per_call: bool | None, expected: bool
) -> None:
    seen: list[bool] = []

    def plan(task: Task, run: ClusterRun) -> Outcome:
        seen.append(run.dry_run)
        return Outcome("ok", "healthy", {}, "")

    nr = nornir_of()
    nr.data.dry_run = globally
    ctx = context(tmp_path)
    nr.run(task=lambda task: execute(task, "upgrade", plan, ctx, {}, per_call))
    assert seen == [expected]


def test_each_step_is_timed_in_the_cluster_s_timeline(tmp_path: Path) -> None:
    # GIVEN a plan whose second step runs a step of its own (an abort inside an ICU phase)
    def outer(task: Task, *, run: ClusterRun) -> Result:
        step(task, look, "inner", run=run)
        return done(task, None)

    def plan(task: Task, run: ClusterRun) -> Outcome:
        step(task, look, "first", run=run)
        step(task, outer, "outer", run=run)
        step(task, refuse, "unrun-by-run")  # no run=: not timed (a pre-check's verdict)
        return Outcome("ok", "healthy", {}, "done")

    # WHEN the cluster is worked
    multi = nornir_of().run(
        task=lambda task: execute(task, "upgrade", plan, context(tmp_path), {})
    )["c1"]
    # THEN its outcome holds the steps in order, the outer one split around the inner one
    # when it went on after it, each with a start and an end, none overlapping
    timeline = multi[0].result.extra["timeline"]
    phases = [s["phase"] for s in timeline]
    assert phases[:3] == ["first", "outer", "inner"] and set(phases) <= {"first", "outer", "inner"}
    assert all(s["start"] <= s["end"] for s in timeline)
    assert all(a["end"] <= b["start"] for a, b in pairwise(timeline))
    assert all(set(s) == {"phase", "start", "end"} for s in timeline)


def test_a_cluster_no_step_ran_for_has_no_timeline(tmp_path: Path) -> None:
    multi = nornir_of().run(
        task=lambda task: execute(
            task, "upgrade", lambda t, r: Outcome("ok", "healthy", {}, "d"), context(tmp_path), {}
        )
    )["c1"]
    assert "timeline" not in multi[0].result.extra
