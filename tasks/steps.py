"""Plan steps as Nornir subtasks, so `print_result` and processors see every step of a
cluster (pre-checks, ICU start, each phase, verify; recovery's abort, rollback, reboot)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from nornir.core.exceptions import NornirSubTaskError
from nornir.core.task import Result, Task

from tasks.errors import RunbookError


def step(task: Task, fn: Callable[..., Result], name: str, **kwargs: Any) -> Any:
    """Run `fn` as the subtask `name` and return its result value, failed or not: the plan
    decides what a failed step means. An exception a step raised is raised again here, so
    the plan's own error handling sees it as if the step were a plain call."""
    try:
        multi = task.run(task=_quiet(fn), name=name, **kwargs)
    except NornirSubTaskError as exc:
        first = exc.result[0]
        if first.exception is not None:
            raise first.exception from None
        return first.result
    return multi[0].result


def done(task: Task, value: Any, *, changed: bool = False, failed: bool = False) -> Result:
    """A step's Result: its typed value, whether it changed the device, whether it failed."""
    return Result(host=task.host, result=value, changed=changed, failed=failed)


def _quiet(fn: Callable[..., Result]) -> Callable[..., Result]:
    """A RunbookError a step raises on purpose becomes its failed Result: Nornir would log a
    traceback for an expected failure. step() raises it again in the plan."""

    @functools.wraps(fn)
    def run(task: Task, **kwargs: Any) -> Result:
        try:
            return fn(task, **kwargs)
        except RunbookError as exc:
            return Result(host=task.host, result=exc.message, failed=True, exception=exc)

    return run
