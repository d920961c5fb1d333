"""upgrade: ICU on every selected cluster, each followed to a verified end."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from runbooks.cli.fleet_options import add_fleet_policy, add_schedule, common_options, schedule
from runbooks.engines import registry
from runbooks.engines.base import Launch
from runbooks.fleet import approved_plans
from runbooks.fleet.inventory import Fleet
from runbooks.jobs import stage
from runbooks.jobs.plan import add_method
from runbooks.output.report import Report
from tasks.errors import BadInput
from tasks.jobs import srx_upgrade
from tasks.state.settings import Target
from tasks.vocabulary import ICU_OPTION_WORDS, IcuOptions

SUMMARY = "ICU on every selected cluster, each followed to a verified end"
DETAILS = """\
Per cluster: pre-checks (each with evidence), the ICU on the RG0 primary, every phase
followed (installs, failover, secondary reboot, primary reboot), then verified: both nodes
on the target, nothing pending, cluster healthy. A cluster whose way needs a dual reboot
first (SRX300-family before 24.4R1) goes hop by hop with --allow-outage, else is refused.
--method forces icu, issu or a dual reboot for every hop (a cluster the table does not
allow it for is refused, nothing sent); minimal-downtime is refused (by hand, KB17947).
Re-running resumes: an ICU (or dual reboot) an earlier run sent is followed, never sent
again. Targets come from the inventory (target_release and
package per model group) unless --target-release and --package are both given."""
EXAMPLES = """\
  python -m runbooks upgrade --filter site=nyc --dry-run
  python -m runbooks upgrade --filter site=nyc --dry-run --save-plan nyc.plan.json
  python -m runbooks upgrade --plan nyc.plan.json --waves 1,10%,100% --pause-between-waves
  python -m runbooks upgrade --canary 2 --max-in-flight 20 --max-failures 5% --report up.json
  python -m runbooks upgrade --yes --wait-for-window --at-window-end abort --report night.json"""


def icu_options(args: argparse.Namespace) -> IcuOptions:
    """The ICU options asked for on the command line, as one value."""
    fields = (w.replace("-", "_") for w in ICU_OPTION_WORDS)
    return IcuOptions(**{f: bool(getattr(args, f)) for f in fields})


def _check_options(parser: argparse.ArgumentParser) -> None:
    """What the pre-checks and the service checks accept."""
    g = parser.add_argument_group("checks")
    g.add_argument(
        "--allow-alarm",
        action="append",
        default=[],
        metavar="REGEX",
        help="a major alarm whose description matches is known and accepted (repeatable)",
    )
    g.add_argument(
        "--align-rgs",
        action="store_true",
        help="fail RG1+ over to the RG0 primary's node (and reset) before the ICU, verified",
    )
    g.add_argument(
        "--skip-service-checks",
        action="store_true",
        help="no interface/tunnel/route/alarm snapshot before and comparison after",
    )
    g.add_argument(
        "--allow-undocumented-path",
        action="store_true",
        help="go ahead where the path table (docs/design/upgrade-paths.md) has no answer for "
        "the model or hop; the report records it. A documented refusal is never overridden",
    )
    g.add_argument(
        "--allow-outage",
        action="store_true",
        help="carry out a cluster's way to its target hop by hop where a hop is a dual reboot "
        "(KB17947: install on both nodes, reboot both together; the whole cluster is down "
        "15-25 min): without it such a cluster is refused, nothing sent",
    )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("upgrade")
    g.add_argument("--target-release", help="override the inventory's target release")
    g.add_argument("--package", help="override the inventory's package path on the primary")
    add_method(g)
    for word in ICU_OPTION_WORDS:  # dest no_sync, ...: IcuOptions' fields
        g.add_argument(f"--{word}", action="store_true", help=f"add '{word}' to the ICU command")
    g.add_argument(
        "--restore-primary",
        choices=("node0", "node1"),
        help="after the upgrade, fail every RG back to this node and reset",
    )
    _check_options(parser)
    g.add_argument(
        "--resume",
        action="store_true",
        help="re-attach to ICUs an earlier run started (always done; explicit form)",
    )
    g.add_argument(
        "--retry-failed", action="store_true", help="work clusters an earlier run left as failed"
    )
    g.add_argument(
        "--on-interrupt",
        choices=("ask", "abort", "finish"),
        default="ask",
        help="what Ctrl-C/SIGTERM does to in-flight clusters (default: ask on a terminal, "
        "else finish)",
    )
    g.add_argument(
        "--yes", "-y", action="store_true", help="never ask: --on-interrupt ask becomes finish"
    )
    approved = parser.add_argument_group("approved plans")
    approved.add_argument(
        "--save-plan",
        type=Path,
        metavar="FILE",
        help="with --dry-run: write what would be done per cluster, with the state seen, to "
        "FILE (0600) for review",
    )
    approved.add_argument(
        "--plan",
        type=Path,
        metavar="FILE",
        help="carry out an approved plan exactly: its clusters, target and options; a "
        "cluster whose state changed since is not started",
    )
    staging = parser.add_argument_group("staging (--stage)")
    staging.add_argument(
        "--stage",
        action="store_true",
        help="stage the package on the RG0 primary first (as the stage job), then upgrade",
    )
    stage.add_source_options(staging)
    add_fleet_policy(parser)
    add_schedule(parser, at_window_end=True)


def selected(args: argparse.Namespace) -> list[str] | None:
    """`--plan FILE` selects the plan's clusters (read and checked here, before the
    inventory); None without it."""
    if getattr(args, "plan", None) is None:
        return None
    if args.cluster or args.filter or args.from_report is not None:
        raise BadInput("--plan selects its own clusters: drop --cluster, --filter, --from-report")
    if args.save_plan is not None:
        raise BadInput("--save-plan is for a dry run without --plan")
    given = [f for f, v in planned_flags(args).items() if v]
    if given:
        raise BadInput(f"--plan fixes the target and options: drop {', '.join(given)}")
    args.approved = approved_plans.load(args.plan)
    return sorted(args.approved[0].clusters)


def planned_flags(args: argparse.Namespace) -> dict[str, bool]:
    """The flags an approved plan fixes, and whether each was given."""
    flags = {f"--{w}": bool(getattr(args, w.replace("-", "_"))) for w in ICU_OPTION_WORDS}
    return {
        "--target-release": args.target_release is not None,
        "--package": args.package is not None,
        **flags,
        "--restore-primary": args.restore_primary is not None,
        "--allow-alarm": bool(args.allow_alarm),
        "--align-rgs": args.align_rgs,
        "--skip-service-checks": args.skip_service_checks,
        "--allow-undocumented-path": args.allow_undocumented_path,
        "--allow-outage": args.allow_outage,
        "--method": args.method != "auto",
        "--stage": args.stage,
    }


def prepare(args: argparse.Namespace, fleet: Fleet) -> Launch:
    opts = common_options(args, "upgrade", srx_upgrade, fleet)
    schedule(args, opts, fleet)
    if args.save_plan is not None and not args.dry_run:
        raise BadInput("--save-plan needs --dry-run (the plan is what a dry run would do)")
    if (args.plan or args.save_plan) and registry.engine_of(args, fleet)[0] != "local":
        raise BadInput("--plan and --save-plan run on the local engine only (not yet on celery)")
    approved = getattr(args, "approved", None)
    kwargs: dict[str, Any] = {
        "target_release": args.target_release,
        "package": args.package,
        "restore_primary": args.restore_primary,
        "retry_failed": args.retry_failed,
        "allow_alarms": tuple(args.allow_alarm),
        "align_rgs": args.align_rgs,
        "service_checks": not args.skip_service_checks,
        "allow_undocumented_path": args.allow_undocumented_path,
        "allow_outage": args.allow_outage,
        "method": args.method,
        **icu_options(args).__dict__,  # no_sync=..., the srx_upgrade keywords
    }
    if approved is not None:  # the plan's target and options, and the plan itself
        kwargs.update(approved[1], approved=approved[0])
    for name in fleet.names:  # every cluster's target, checked before any device
        Target.resolve(
            fleet.nr.inventory.hosts[name],
            release=kwargs["target_release"],
            package=kwargs["package"],
        )
    opts.kwargs = kwargs
    if args.stage:
        opts.kwargs["stage"] = stage.stage_spec(args, fleet)
    # "ask" prompts at the signal when a terminal is attached, else (or with --yes) "finish".
    on_interrupt = "finish" if args.yes and args.on_interrupt == "ask" else args.on_interrupt
    opts.policy["on_interrupt"] = on_interrupt
    launch = Launch(fleet, opts)
    if args.save_plan is not None:
        launch.after = lambda report: _save_plan(args.save_plan, report, kwargs)
    return launch


def _save_plan(path: Path, report: Report, options: dict[str, Any]) -> None:
    digest = approved_plans.save(path, report, options)
    planned = sum(1 for c in report.clusters.values() if c.outcome == "would-upgrade")
    sys.stderr.write(
        f"plan saved: {path} (sha256 {digest}), {planned} of {len(report.clusters)} clusters "
        f"to upgrade; once approved: python -m runbooks upgrade --plan {path}\n"
    )
