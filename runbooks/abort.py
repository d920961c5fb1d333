"""abort: stop running ICUs safely; recover what the abort leaves inconsistent."""

from __future__ import annotations

import argparse

from nornir.core.task import Task

from runbooks.engine import Runner
from runbooks.fleet import Fleet
from runbooks.report import Report
from runbooks.upgrade import fleet_policy
from tasks.abort import abort_cluster
from tasks.runctx import ClusterRun, Outcome


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--no-recover",
        action="store_true",
        help="report an inconsistent result with the recover command instead of recovering it",
    )


def run(args: argparse.Namespace, fleet: Fleet, report: Report) -> int:
    opts = fleet_policy(args, "abort")
    opts.windowed = False  # an abort is never held back by a maintenance window
    opts.options = {"no_recover": args.no_recover}
    runner = Runner(fleet, report, opts)
    runner.report_path = args.report

    def plan(task: Task, run: ClusterRun) -> Outcome:
        return abort_cluster(task, run, target=task.host.get("target_release"))

    return runner.run(plan)
