"""Terminal output: tables and one-line summaries (rich when a TTY, plain otherwise)."""

from __future__ import annotations

import sys
from collections import Counter

from rich.console import Console
from rich.table import Table

from tasks import ClusterSummary

STATE_STYLE = {
    "healthy": "green",
    "inconsistent": "bold red",
    "icu-in-progress": "yellow",
    "pending-install": "yellow",
    "degraded": "red",
    "unreachable": "bold red",
    "auth-failed": "bold red",  # a node refused the credentials: not a network problem
    "not-clustered": "magenta",
    "unknown": "bold red",  # refused for its input (ClusterSummary.bad_input): nothing asked
}


def console() -> Console:
    # Piped output (logs, cron mail) is read by grep: never wrap a cluster name.
    return Console(highlight=False, width=None if sys.stdout.isatty() else 240)


def print_status_table(summaries: list[ClusterSummary]) -> None:
    out = console()
    table = Table(title="SRX chassis clusters", show_lines=False)
    for col in (
        "cluster",
        "state",
        "node0",
        "node1",
        "RG0 primary",
        "RG1 primary",
        "pending",
        "findings",
    ):
        table.add_column(col, overflow="fold")
    for s in summaries:
        pending = ",".join(n for n, p in sorted(s.pending.items()) if p) or "-"
        table.add_row(
            s.name,
            f"[{STATE_STYLE.get(s.state, '')}]{s.state}[/]",
            s.versions.get("node0") or "?",
            s.versions.get("node1") or "?",
            s.rg_primaries.get(0) or "-",
            s.rg_primaries.get(1) or "-",
            pending,
            s.words or "-",
        )
    out.print(table)
    counts = Counter(s.state for s in summaries)
    out.print("clusters: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
