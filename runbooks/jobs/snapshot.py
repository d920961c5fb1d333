"""snapshot: the read-only service snapshot the upgrade takes around its ICU, on demand."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from runbooks.fleet.inventory import Fleet
from runbooks.jobs.status import read_only_context
from runbooks.output.report import ClusterReport, Report, now_iso, write_json_atomic
from tasks import ServicePolicy, Snapshot, services_lost, snapshot_diff
from tasks.errors import BadInput
from tasks.jobs import srx_snapshot

SUMMARY = "read-only: interfaces, tunnels, routes, alarms and sessions; save or compare"
DETAILS = """\
Per cluster, on its RG0 primary: every interface's oper status, IPsec tunnels up
(gateway#tunnel-index), active routes per routing table, chassis and system alarms, flow
sessions: what the upgrade compares before and after its ICU. --save FILE keeps it; --compare
FILE reads a saved one and reports, per cluster, what was up then and is not now
(`services-lost`, exit 1) with the diff. Sends nothing that changes a device."""
EXAMPLES = """\
  python -m runbooks snapshot --filter site=nyc --save before.json
  python -m runbooks snapshot --filter site=nyc --compare before.json --report after.json"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("snapshot")
    g.add_argument("--save", metavar="FILE", help="write the snapshots (JSON) for --compare")
    g.add_argument("--compare", metavar="FILE", help="compare with a snapshot saved earlier")


def prepare(args: argparse.Namespace, fleet: Fleet) -> Callable[[Report], int]:
    earlier = _load(args.compare) if args.compare else None
    if args.save:
        where = Path(args.save).resolve()
        if where.is_dir() or not where.parent.is_dir():
            raise BadInput(f"--save {args.save}: not a file in an existing directory")
    return lambda report: _run(args, fleet, report, earlier)


def _load(path: str) -> dict[str, Snapshot]:
    try:
        data = json.loads(Path(path).read_text())
        return {str(name): Snapshot.from_json(s) for name, s in data["clusters"].items()}
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        why = type(exc).__name__
        raise BadInput(f"--compare {path}: not a snapshot saved by --save ({why})") from None


def _run(
    args: argparse.Namespace, fleet: Fleet, report: Report, earlier: dict[str, Snapshot] | None
) -> int:
    context = read_only_context(fleet, report.run_id)
    results = fleet.nr.run(task=srx_snapshot, name="snapshot", context=context, on_failed=True)
    taken: dict[str, Snapshot] = {}
    for name in fleet.names:
        multi = results.get(name)
        found = multi[0].result if multi else None
        if isinstance(found, Snapshot):
            taken[name] = found
            report.clusters[name] = _entry(fleet, name, found, earlier)
        else:
            why = str(multi[0].exception or found) if multi else "no result"
            state = "unknown" if why.startswith("bad input: ") else "unreachable"  # nothing asked
            state = "auth-failed" if why.startswith("no node answers (auth-failed)") else state
            report.clusters[name] = ClusterReport("failed", state, {}, why.splitlines()[0])
    report.finished = now_iso()
    report.write(args.report)
    if args.save:
        write_json_atomic(Path(args.save), {"clusters": {n: s.to_json() for n, s in taken.items()}})
    _table(report)
    return 0 if all(c.outcome == "ok" for c in report.clusters.values()) else 1


def _entry(
    fleet: Fleet, name: str, snap: Snapshot, earlier: dict[str, Snapshot] | None
) -> ClusterReport:
    extra: dict[str, Any] = {"services": snap.to_json()}
    s = snap.services
    detail = (
        f"{sum(v == 'up' for v in s.interfaces.values())}/{len(s.interfaces)} interfaces up, "
        f"{len(s.tunnels)} tunnels, {sum(s.routes.values())} routes, {len(s.alarms)} alarms"
    )
    if snap.notes:
        detail += f" ({'; '.join(snap.notes)})"
    before = (earlier or {}).get(name)
    if earlier is None or before is None:
        outcome = "ok"
        if earlier is not None:
            detail += " (not in the saved snapshot)"
    else:
        policy = ServicePolicy.from_data(fleet.nr.inventory.hosts[name].get("service_checks"))
        missing = services_lost(before, snap, policy)
        extra["diff"] = snapshot_diff(before, snap)
        outcome = "services-lost" if missing else "ok"
        detail = "; ".join(missing) if missing else detail + "; nothing lost since the saved one"
    return ClusterReport(outcome, "", {}, detail, extra)


def _table(report: Report) -> None:
    table = Table("cluster", "outcome", "detail", title=f"snapshot {report.run_id}")
    for name, c in sorted(report.clusters.items()):
        table.add_row(name, c.outcome, c.detail)
    Console().print(table)
