"""upgrade: ICU on every selected cluster, each followed to a verified end."""

from __future__ import annotations

import argparse

from nornir.core.task import Task

from runbooks.engine import JobOptions, Runner
from runbooks.fleet import Fleet
from runbooks.report import Report
from runbooks.windows import parse_window
from tasks.errors import BadInput
from tasks.runctx import ClusterRun, Outcome
from tasks.settings import Target
from tasks.upgrade import upgrade_cluster


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--target-release", help="override the inventory's target release")
    parser.add_argument("--package", help="override the inventory's package path on the primary")
    for flag in ("no-sync", "no-tcp-syn-check", "no-validate", "unlink"):
        parser.add_argument(
            f"--{flag}", action="store_true", help=f"add '{flag}' to the ICU command"
        )
    add_fleet_policy(parser)
    add_schedule(parser)
    parser.add_argument(
        "--resume",
        action="store_true",
        help="re-attach to ICUs an earlier run started (always done; explicit form)",
    )
    parser.add_argument(
        "--retry-failed", action="store_true", help="work clusters an earlier run left as failed"
    )
    parser.add_argument(
        "--restore-primary",
        choices=("node0", "node1"),
        help="after the upgrade, fail every RG back to this node and reset",
    )
    parser.add_argument(
        "--on-interrupt",
        choices=("ask", "abort", "finish"),
        default="ask",
        help="what Ctrl-C/SIGTERM does to in-flight clusters",
    )


def add_schedule(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--window",
        metavar="SPEC",
        help="maintenance window: 'START/END' (ISO 8601) or "
        "'sat,sun 01:00-05:00 [Zone]'; default: each cluster's inventory window",
    )
    parser.add_argument(
        "--at-window-end",
        choices=("finish", "abort"),
        default="finish",
        help="in-flight clusters at window end: complete, or abort and recover",
    )
    parser.add_argument(
        "--wait-for-window",
        action="store_true",
        help="sleep until the cluster's window opens instead of not starting it",
    )


def schedule(args: argparse.Namespace, opts: JobOptions, fleet: Fleet) -> None:
    """Parse --window and every inventory window now: bad input must stop us before devices."""
    if getattr(args, "window", None):
        opts.window = parse_window(args.window)
    for name in fleet.names:
        host = fleet.nr.inventory.hosts[name]
        if host.get("window") is not None:
            try:
                parse_window(host.get("window"), host.get("timezone"))
            except BadInput as exc:
                raise BadInput(exc.message, cluster=name) from None
    opts.wait_for_window = bool(getattr(args, "wait_for_window", False))
    opts.options["at_window_end"] = getattr(args, "at_window_end", "finish")


def add_fleet_policy(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--max-in-flight", type=int, metavar="N", help="clusters mid-ICU at once")
    parser.add_argument(
        "--canary",
        type=int,
        default=0,
        metavar="N",
        help="run the first N clusters alone; stop everything if any fails",
    )
    parser.add_argument(
        "--max-failures",
        metavar="N|P%",
        help="stop starting clusters once more than N (or P%%) have failed",
    )


def fleet_policy(args: argparse.Namespace, job: str) -> JobOptions:
    opts = JobOptions(job=job, dry_run=args.dry_run, events_path=args.events)
    if getattr(args, "max_in_flight", None) is not None:
        if args.max_in_flight < 1:
            raise BadInput("--max-in-flight must be at least 1")
        opts.max_in_flight = args.max_in_flight
    canary = getattr(args, "canary", 0) or 0
    if canary < 0:
        raise BadInput("--canary must not be negative")
    opts.canary = canary
    raw = getattr(args, "max_failures", None)
    if raw is not None:
        try:
            if raw.endswith("%"):
                opts.max_failures_pct = float(raw[:-1])
                if not 0 <= opts.max_failures_pct <= 100:
                    raise ValueError
            else:
                opts.max_failures = int(raw)
                if opts.max_failures < 0:
                    raise ValueError
        except ValueError:
            raise BadInput(f"--max-failures must be N or P% (got {raw!r})") from None
    return opts


def run(args: argparse.Namespace, fleet: Fleet, report: Report) -> int:
    opts = fleet_policy(args, "upgrade")
    schedule(args, opts, fleet)
    toggles = {
        f: bool(getattr(args, f.replace("-", "_")))
        for f in ("no-sync", "no-tcp-syn-check", "no-validate", "unlink")
    }
    targets = {
        name: Target.resolve(
            fleet.nr.inventory.hosts[name], release=args.target_release, package=args.package
        )
        for name in fleet.names
    }
    # "ask" prompts at the signal when a terminal is attached, else (or with --yes) "finish".
    on_interrupt = "finish" if args.yes and args.on_interrupt == "ask" else args.on_interrupt
    opts.options.update(
        retry_failed=args.retry_failed,
        restore_primary=args.restore_primary,
        on_interrupt=on_interrupt,
    )
    runner = Runner(fleet, report, opts)
    runner.report_path = args.report

    def plan(task: Task, run: ClusterRun) -> Outcome:
        return upgrade_cluster(task, run, targets[task.host.name], toggles)

    return runner.run(plan)
