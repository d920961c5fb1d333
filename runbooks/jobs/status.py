"""status: read-only fleet view; classifies every selected cluster."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from runbooks.fleet.inventory import Fleet
from runbooks.output.report import ClusterReport, Report, now_iso
from runbooks.output.tables import print_status_table
from tasks import ClusterSummary
from tasks.jobs import srx_status
from tasks.state.backends import LocalBackend, build_context
from tasks.state.run_context import RunContext
from tasks.transports import devices_for

EXIT_BAD_INPUT = 2  # runbooks.cli.main's: a cluster refused for its input was not read

SUMMARY = "read-only fleet view: classify every selected cluster"
DETAILS = """\
Per cluster: each node's release, the RG0/RG1 primary, pending installs, health findings
and the classification (healthy, inconsistent, icu-in-progress, pending-install, degraded,
unreachable, auth-failed, not-clustered). Sends nothing that changes a device, takes no
lock, writes no journal. The report calls healthy clusters `ok` and every other `failed`."""
EXAMPLES = """\
  python -m runbooks status --filter site=nyc
  python -m runbooks status --report status.json && echo "all healthy\""""


class _Quiet:
    """status publishes no events: the table at the end is its output."""

    def event(self, event: object, *, quiet: bool = False) -> None:
        del event, quiet

    def finished(self, cluster: str, outcome: object, event: object, *, published: bool) -> None:
        del cluster, outcome, event, published


def add_arguments(parser: argparse.ArgumentParser) -> None:
    del parser  # status has only the selection and output options


def prepare(args: argparse.Namespace, fleet: Fleet) -> Callable[[Report], int]:
    def run(report: Report) -> int:
        return _run(args, fleet, report)

    return run


def read_only_context(fleet: Fleet, run_id: str) -> RunContext:
    """The context of a job that reads only (status, snapshot): no events, no window."""
    return build_context(
        LocalBackend(fleet.state_dir),
        run_id=run_id,
        state_dir=fleet.state_dir,
        sink=_Quiet(),
        timing_defaults=fleet.user_defined.get("timing"),
        transcripts=False,
        devices=devices_for(fleet.user_defined.get("transport")),
    )


def _run(args: argparse.Namespace, fleet: Fleet, report: Report) -> int:
    context = read_only_context(fleet, report.run_id)
    results = fleet.nr.run(task=srx_status, name="status", context=context, on_failed=True)
    summaries: list[ClusterSummary] = []
    for name in fleet.names:
        multi = results.get(name)
        found = multi[0].result if multi else None
        if not isinstance(found, ClusterSummary):
            err = str(multi[0].exception or multi[0].result) if multi else "no result"
            found = ClusterSummary.unreachable(name, f"status failed: {err.splitlines()[0]}")
        summaries.append(found)
    for s in summaries:
        detail = "; ".join(s.findings or ("healthy",)) + (f"; {s.between}" if s.between else "")
        outcome = "ok" if s.healthy else "failed"
        report.clusters[s.name] = ClusterReport(outcome, s.state, s.versions, detail, s.extra())
    report.finished = now_iso()
    report.write(args.report)
    print_status_table(summaries)
    refused = [s for s in summaries if s.refused]
    if refused:  # an input refusal is no state of a cluster: exit code 2, in one line
        why = refused[0].findings[0].removeprefix("bad input: ")
        more = f" (and {len(refused) - 1} more)" if len(refused) > 1 else ""
        sys.stderr.write(f"error: {refused[0].name}: {why}{more}\n")
        return EXIT_BAD_INPUT
    return 0 if all(s.healthy for s in summaries) else 1
