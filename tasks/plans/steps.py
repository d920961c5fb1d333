"""Plan steps as Nornir subtasks, so `print_result` and processors see every step of a
cluster (pre-checks, ICU start, each phase, verify; recovery's abort, rollback, reboot).

A step's Result is short: its `result` is a one-line summary (what print_result and a
processor show), its `value` the typed value the plan goes on with (step() returns it).
`changed` says that a destructive command left during the step (tasks.state.run_context counts
them),
never that an earlier step sent one; `failed` that the step did not get what it was for."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from nornir.core.exceptions import NornirSubTaskError
from nornir.core.inventory import Host
from nornir.core.task import Result, Task

from tasks.errors import RunbookError
from tasks.state.run_context import ClusterRun

BRIEF = 160  # characters of a step's one-line summary


class StepResult(Result):
    """A step's Result: `result` its one-line summary, `value` its typed value."""

    def __init__(
        self, host: Host | None, value: Any, summary: str, *, changed: bool, failed: bool
    ) -> None:
        super().__init__(host=host, result=summary, changed=changed, failed=failed)
        self.value = value


def step(task: Task, fn: Callable[..., Result], name: str, **kwargs: Any) -> Any:
    """Run `fn` as the subtask `name` and return its value, failed or not: the plan decides
    what a failed step means. An exception a step raised is raised again here, so the
    plan's own error handling sees it as if the step were a plain call. A step given the
    cluster's run (run=) is timed in its timeline (ClusterRun.step_began)."""
    run = kwargs.get("run")
    timed = run if isinstance(run, ClusterRun) else None
    if timed is not None:
        timed.step_began(name)
    try:
        multi = task.run(task=_quiet(fn), name=name, **kwargs)
    except NornirSubTaskError as exc:
        first = exc.result[0]
        if first.exception is not None:
            raise first.exception from None
        return _value(first)
    finally:
        if timed is not None:
            timed.step_ended()
    return _value(multi[0])


def done(
    task: Task,
    value: Any,
    *,
    changed: bool = False,
    failed: bool = False,
    summary: str | None = None,
) -> Result:
    """A step's Result: its typed value, a one-line summary of it (brief(value) unless
    given), whether it changed the device, whether it failed."""
    text = brief(value) if summary is None else one_line(summary)
    return StepResult(task.host, value, text, changed=changed, failed=failed)


def brief(value: Any) -> str:
    """One line about a step's value: its own brief() when it has one; nothing for None."""
    if value is None:
        return ""
    describe = getattr(value, "brief", None)
    if callable(describe):
        return one_line(str(describe()))
    return one_line(value if isinstance(value, str) else repr(value))


def one_line(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= BRIEF else flat[: BRIEF - 3] + "..."


def _value(result: Result) -> Any:
    return result.value if isinstance(result, StepResult) else result.result


def _quiet(fn: Callable[..., Result]) -> Callable[..., Result]:
    """A RunbookError a step raises on purpose becomes its failed Result: Nornir would log a
    traceback for an expected failure. step() raises it again in the plan. A step given the
    cluster's run (run=) is `changed` when a destructive command left while it ran, whatever
    the step itself said."""

    @functools.wraps(fn)
    def run(task: Task, **kwargs: Any) -> Result:
        cluster = kwargs.get("run")
        sent = cluster.sent if isinstance(cluster, ClusterRun) else 0
        try:
            result = fn(task, **kwargs)
        except RunbookError as exc:
            result = Result(host=task.host, result=exc.message, failed=True, exception=exc)
        if isinstance(cluster, ClusterRun) and cluster.sent > sent:
            result.changed = True
        return result

    return run
