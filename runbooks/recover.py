"""recover: bring inconsistent clusters back to one release (abort, rollback, reboot)."""

from __future__ import annotations

import argparse

from nornir.core.task import Task

from runbooks.engine import Runner
from runbooks.fleet import Fleet
from runbooks.report import Report
from runbooks.upgrade import add_schedule, fleet_policy, schedule
from tasks.recover import recover_cluster
from tasks.runctx import ClusterRun, Outcome


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_schedule(parser)


def run(args: argparse.Namespace, fleet: Fleet, report: Report) -> int:
    opts = fleet_policy(args, "recover")
    schedule(args, opts, fleet)
    runner = Runner(fleet, report, opts)
    runner.report_path = args.report

    def plan(task: Task, run: ClusterRun) -> Outcome:
        return recover_cluster(task, run, target=task.host.get("target_release"))

    return runner.run(plan)
