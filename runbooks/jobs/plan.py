"""plan: read-only, the way each cluster takes from the release it runs to its target."""

from __future__ import annotations

import argparse
from collections.abc import Callable

from rich.console import Console
from rich.table import Table

from runbooks.fleet.inventory import Fleet
from runbooks.jobs.status import read_only_context
from runbooks.output.report import ClusterReport, Report, now_iso
from tasks import ClusterPlan
from tasks.jobs import srx_plan
from tasks.upgrade_paths import METHODS

SUMMARY = "read-only: each cluster's hops to its target, by the method Juniper documents"
DETAILS = """\
Per cluster, from the release it runs (read from the device) to its target (the inventory's
target_release, or --target-release): the hops, each with its method (ICU, ISSU, dual
reboot), package (the inventory's `packages: {release: package}`), commands and outage, or why
there is none, with what to do by hand (docs/design/upgrade-paths.md). --method forces a
method: the plan by it, or why it does not apply. A plan whose every hop
`upgrade` carries out is `ok` (a dual-reboot hop needs `upgrade --allow-outage`); no plan is
`refused`; a cluster already on its target is `skipped`. Sends nothing that changes a
device."""
EXAMPLES = """\
  python -m runbooks plan --filter site=nyc
  python -m runbooks plan --target-release 25.2R1.9 --report plan.json"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("plan")
    g.add_argument("--target-release", help="plan to this release instead of the inventory's")
    add_method(g)


def add_method(g: argparse._ArgumentGroup) -> None:
    """`--method` (plan and upgrade): which way to upgrade, tasks.upgrade_paths.METHODS."""
    g.add_argument(
        "--method",
        choices=METHODS,
        default="auto",
        help="auto: the path table's choice (default); icu, issu: that method, the cluster "
        "refused where the table does not allow it; dual-reboot: every hop by a dual reboot "
        "(an outage: upgrade needs --allow-outage); minimal-downtime: refused, KB17947's "
        "detailed steps are not public (follow it by hand)",
    )


def prepare(args: argparse.Namespace, fleet: Fleet) -> Callable[[Report], int]:
    return lambda report: _run(args, fleet, report)


def _run(args: argparse.Namespace, fleet: Fleet, report: Report) -> int:
    context = read_only_context(fleet, report.run_id)
    results = fleet.nr.run(
        task=srx_plan,
        name="plan",
        context=context,
        target_release=args.target_release,
        method=args.method,
        on_failed=True,
    )
    for name in fleet.names:
        multi = results.get(name)
        found = multi[0].result if multi else None
        if isinstance(found, ClusterPlan):
            report.clusters[name] = entry(found)
        else:
            why = str(multi[0].exception or found) if multi else "no result"
            report.clusters[name] = ClusterReport("failed", "unknown", {}, why.splitlines()[0])
    report.finished = now_iso()
    report.write(args.report)
    _table(report)
    return 0 if all(c.outcome in ("ok", "skipped") for c in report.clusters.values()) else 1


def entry(plan: ClusterPlan) -> ClusterReport:
    versions: dict[str, str | None] = {}  # the plan's `running` and `target` say it
    extra = {"plan": plan.to_json()}
    if plan.refused:
        return ClusterReport("refused", plan.state, versions, plan.refused, extra)
    if not plan.hops:
        return ClusterReport("skipped", plan.state, versions, "already on the target", extra)
    steps = "; then ".join(
        f"{h.to} by {h.method}" + (" (upgrade --allow-outage)" if h.method == "dual-reboot" else "")
        for h in plan.hops
    )
    outcome = "ok" if plan.automated else "refused"
    took = extra["plan"].get("estimate") or {}
    if took.get("seconds"):  # the window fit's figure: every hop by its method
        steps += f" (estimate {took['seconds'] / 60:.0f} min)"
    return ClusterReport(outcome, plan.state, versions, f"{plan.running} -> {steps}", extra)


def _table(report: Report) -> None:
    table = Table("cluster", "outcome", "running", "plan", title=f"plan {report.run_id}")
    for name, c in sorted(report.clusters.items()):
        running = (c.extra.get("plan") or {}).get("running")
        table.add_row(name, c.outcome, str(running or "?"), c.detail)
    Console().print(table)
