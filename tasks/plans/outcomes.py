"""A cluster's Outcome from what the device shows (shared by every plan)."""

from __future__ import annotations

from typing import Any

from nornir.core.task import Task

from tasks.device.readings import ClusterView
from tasks.plans.classify import classify
from tasks.plans.waits import look
from tasks.state.run_context import ClusterRun, Outcome
from tasks.vocabulary import NODES


def outcome_from(view: ClusterView, outcome: str, detail: str, **extra: Any) -> Outcome:
    verdict = classify(view)
    return Outcome(
        outcome, verdict.state.value, {n: view.versions.get(n) for n in NODES}, detail, extra
    )


def failed_now(task: Task, run: ClusterRun, detail: str, **extra: Any) -> Outcome:
    """`failed`, with the cluster's state taken from a fresh full observation."""
    return outcome_from(look(task, run), "failed", detail, **extra)
