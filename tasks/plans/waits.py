"""Polling the device with a deadline: the only way the plans wait."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from nornir.core.task import Task

from tasks.device.observe import observe
from tasks.device.readings import ClusterView
from tasks.errors import DeadlineExceeded
from tasks.plans import sessions
from tasks.plans.classify import ClusterState, classify
from tasks.state.run_context import ClusterRun

T = TypeVar("T")


def look(task: Task, run: ClusterRun) -> ClusterView:
    return observe(
        task, timeout=run.timing.rpc_timeout, recorder=run.transcript, devices=sessions.devices(run)
    )


def track(
    task: Task, run: ClusterRun, booted_before: dict[str, int], *, installs: bool
) -> ClusterView:
    """The light observation that follows an ICU (see tasks.device.observe)."""
    return observe(
        task,
        timeout=run.timing.rpc_timeout,
        recorder=run.transcript,
        booted_before=booted_before,
        installs=installs,
        devices=sessions.devices(run),
    )


def poll_until(
    task: Task,
    run: ClusterRun,
    until: Callable[[ClusterView], T | None],
    *,
    deadline: float,
    what: str,
    describe: Callable[[ClusterView], str] | None = None,
) -> tuple[T, ClusterView]:
    """Observe every poll_interval until `until(view)` returns a value or `deadline` passes
    (on the run's clock)."""
    clock = run.clock
    end = clock.monotonic() + deadline
    while True:
        view = look(task, run)
        found = until(view)
        if found is not None and found is not False:
            return found, view
        remaining = end - clock.monotonic()
        if remaining <= 0:
            seen = describe(view) if describe else ""
            raise DeadlineExceeded(
                f"{what} not reached within {deadline:g}s" + (f" ({seen})" if seen else ""),
                cluster=run.cluster,
            )
        run.tell_busy(what)
        clock.sleep(min(run.timing.poll_interval, remaining))


def await_healthy(task: Task, run: ClusterRun, *, what: str = "cluster healthy") -> ClusterView:
    """Poll until the cluster is healthy (settle_deadline); DeadlineExceeded says what it was."""
    _, view = poll_until(
        task,
        run,
        lambda v: classify(v).state is ClusterState.HEALTHY,
        deadline=run.timing.settle_deadline,
        what=what,
        describe=lambda v: classify(v).detail,
    )
    return view


def healthy_for(task: Task, run: ClusterRun, seconds: float) -> ClusterView:
    """Healthy on every observation for `seconds` (an abort sent with no ICU visible: an ICU
    that was still validating may show an install before the abort stops it). A change
    restarts the watch; the whole wait is bounded by settle_deadline + seconds."""
    clock = run.clock
    end = clock.monotonic() + run.timing.settle_deadline + seconds
    view = await_healthy(task, run)
    calm_until = clock.monotonic() + seconds
    while (now := clock.monotonic()) < calm_until:
        if now > end:
            raise DeadlineExceeded(
                f"cluster not steadily healthy within {run.timing.settle_deadline + seconds:g}s "
                f"({classify(view).detail})",
                cluster=run.cluster,
            )
        clock.sleep(min(run.timing.poll_interval, calm_until - now))
        view = look(task, run)
        if classify(view).state is not ClusterState.HEALTHY:
            view = await_healthy(task, run)
            calm_until = clock.monotonic() + seconds
    return view
