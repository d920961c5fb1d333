"""Fleet policy and maintenance-window options shared by the jobs that change devices."""

from __future__ import annotations

import argparse
from collections.abc import Callable

from nornir.core.task import Result

from runbooks.fleet.approval import DEFAULT_TIMEOUT
from runbooks.fleet.inventory import Fleet
from runbooks.fleet.runner import JobOptions
from runbooks.fleet.waves import WavePlan, parse_marks, wave_ends
from runbooks.fleet.windows import parse_window
from runbooks.output.notify import settings_from
from tasks.errors import BadInput


def add_fleet_policy(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("fleet policy")
    g.add_argument("--max-in-flight", type=int, metavar="N", help="clusters mid-ICU at once")
    g.add_argument(
        "--canary",
        type=int,
        default=0,
        metavar="N",
        help="run the first N clusters (by name) alone; stop everything if any fails",
    )
    g.add_argument(
        "--max-failures",
        metavar="N|P%",
        help="stop starting clusters once more than N (or P%%) have failed",
    )
    g.add_argument(
        "--waves",
        metavar="MARKS",
        help="work the fleet in waves ending at these counts or percentages of it, in name "
        "order, e.g. 1,10%%,50%%,100%%; the next wave starts only if the ones before are ok "
        "(or within --max-failures)",
    )
    g.add_argument(
        "--pause-after-canary",
        action="store_true",
        help="once the canary (or the first wave) is ok, wait for `python -m runbooks approve "
        "RUN_ID` (or reject) before the rest",
    )
    g.add_argument(
        "--pause-between-waves",
        action="store_true",
        help="with --waves: wait for approve (or reject) before every wave after the first",
    )
    g.add_argument(
        "--approval-timeout",
        type=float,
        default=DEFAULT_TIMEOUT,
        metavar="SECONDS",
        help="no answer this long: taken as rejected (default 4 h)",
    )


def add_schedule(parser: argparse.ArgumentParser, *, at_window_end: bool) -> None:
    g = parser.add_argument_group("maintenance windows")
    g.add_argument(
        "--window",
        metavar="SPEC",
        help="'START/END' (ISO 8601) or 'sat,sun 01:00-05:00 [Zone]'; default: each "
        "cluster's inventory window",
    )
    g.add_argument(
        "--wait-for-window",
        action="store_true",
        help="sleep until the cluster's window opens instead of not starting it",
    )
    if at_window_end:
        g.add_argument(
            "--at-window-end",
            choices=("finish", "abort"),
            default="finish",
            help="in-flight clusters at window end: complete, or abort and recover",
        )


def fleet_policy(args: argparse.Namespace, opts: JobOptions) -> None:
    if getattr(args, "max_in_flight", None) is not None:
        if args.max_in_flight < 1:
            raise BadInput("--max-in-flight must be at least 1")
        opts.max_in_flight = args.max_in_flight
    opts.waves = wave_plan(args)
    if opts.waves.pause:
        if not args.approval_timeout > 0:
            raise BadInput("--approval-timeout must be a positive number of seconds")
        opts.approval_timeout = float(args.approval_timeout)
    raw = getattr(args, "max_failures", None)
    if raw is None:
        return
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


def wave_plan(args: argparse.Namespace) -> WavePlan:
    """--canary, --waves and their pauses (runbooks.fleet.waves), checked."""
    canary = getattr(args, "canary", 0) or 0
    if canary < 0:
        raise BadInput("--canary must not be negative")
    spec = getattr(args, "waves", None)
    marks = parse_marks(spec) if spec is not None else ()
    if canary and marks:
        raise BadInput("give --canary N or --waves, not both (--waves N,... starts with N)")
    pause = ""
    if getattr(args, "pause_between_waves", False):
        if not marks:
            raise BadInput("--pause-between-waves needs --waves")
        pause = "between-waves"
    elif getattr(args, "pause_after_canary", False):
        if not canary and not marks:
            raise BadInput("--pause-after-canary needs --canary N (or --waves)")
        pause = "after-canary"
    return WavePlan(marks=marks, canary=canary, pause=pause)


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
    opts.policy["at_window_end"] = getattr(args, "at_window_end", "finish")


def common_options(
    args: argparse.Namespace, job: str, task: Callable[..., Result], fleet: Fleet
) -> JobOptions:
    opts = JobOptions(job=job, task=task, events_path=args.events, report_path=args.report)
    fleet_policy(args, opts)
    wave_ends(opts.waves.marks, len(fleet.names))  # marks that do not grow on this fleet
    opts.notify = settings_from(fleet.user_defined)  # the team's channels (exit 2 if bad)
    return opts
