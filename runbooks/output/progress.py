"""Live progress: one line per in-flight cluster with its phase and elapsed time, plus fleet
counts, only on a terminal. At the end a table of every cluster (plain when piped) and a
one-line summary on stderr."""

from __future__ import annotations

import sys
import threading
import time
from collections import Counter
from typing import TYPE_CHECKING

from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from runbooks.output.tables import console
from runbooks.output.transfer_lines import TransferView
from tasks.state.redact import redact

if TYPE_CHECKING:
    from tasks.events import Event
    from tasks.state.run_context import Outcome

MAX_LINES = 40


class Progress:
    def __init__(self, *, job: str, total: int, live: bool | None = None) -> None:
        self.job, self.total = job, total
        self.live_enabled = sys.stdout.isatty() if live is None else live
        self._lock = threading.Lock()
        self._inflight: dict[str, tuple[str, float]] = {}  # cluster -> (phase, started)
        self._done: Counter[str] = Counter()
        self._live: Live | None = None
        self.transfers = TransferView()  # stage: bytes, rate and ETA per copy and fleet

    def on_event(self, event: Event) -> None:
        if event.kind == "transfer":
            self.transfers.on_event(event)
        if event.kind == "note" and event.data.get("say"):  # words for the operator now
            self._say(f"{time.strftime('%H:%M:%S')} {event.cluster}: {event.data['message']}")
        with self._lock:
            if event.kind == "cluster-started":
                self._inflight[event.cluster] = ("starting", time.monotonic())
            elif event.kind in ("phase", "step") and event.cluster in self._inflight:
                label = str(event.data.get("phase") or event.data.get("step"))
                self._inflight[event.cluster] = (label, self._inflight[event.cluster][1])
            elif event.kind == "cluster-finished":
                self._inflight.pop(event.cluster, None)
                self._done[str(event.data.get("outcome"))] += 1

    def _say(self, line: str) -> None:
        live = self._live
        if live is not None:
            live.console.print(line, markup=False, highlight=False)
        else:
            print(line, file=sys.stderr, flush=True)

    def _render(self) -> Group:
        with self._lock:
            rows = sorted(self._inflight.items())
            done = dict(self._done)
        table = Table(box=None, show_header=True, header_style="bold")
        table.add_column("cluster")
        table.add_column("phase")
        table.add_column("elapsed", justify="right")
        now = time.monotonic()
        for name, (phase, started) in rows[:MAX_LINES]:
            table.add_row(name, phase, f"{now - started:5.0f}s")
        if len(rows) > MAX_LINES:
            table.add_row(f"... {len(rows) - MAX_LINES} more", "", "")
        counts = ", ".join(f"{k} {v}" for k, v in sorted(done.items())) or "none finished"
        head = Text(
            f"{self.job}: {len(rows)} in flight, {sum(done.values())}/{self.total} done ({counts})",
            style="bold",
        )
        if self.transfers.seen:
            return Group(head, table, self.transfers.renderable())
        return Group(head, table)

    def start(self) -> None:
        if self.live_enabled:
            self._live = Live(
                get_renderable=self._render, refresh_per_second=2, console=Console(), transient=True
            )
            self._live.start()

    def stop(self) -> None:
        if self._live is not None:
            self._live.stop()
            self._live = None

    def summary(self, outcomes: dict[str, Outcome], job: str) -> None:
        counts = Counter(o.outcome for o in outcomes.values())
        line = f"{job}: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))
        if outcomes and not self.live_enabled:  # cron mail, logs: one plain line per cluster
            width = max(len(name) for name in [*outcomes, "cluster"])
            rows = [("cluster", "outcome", "state", "node0", "node1", "detail")] + [
                (
                    name,
                    o.outcome,
                    o.state,
                    o.versions.get("node0") or "?",
                    o.versions.get("node1") or "?",
                    o.detail,
                )
                for name, o in sorted(outcomes.items())
            ]
            out = [
                f"{r[0]:<{width}}  {r[1]:<13} {r[2]:<16} {r[3]:<14} {r[4]:<14} {r[5]}" for r in rows
            ]
            sys.stdout.write(redact("\n".join(out)) + "\n")
            sys.stdout.flush()
        elif outcomes:
            table = Table(title=f"{job} report")
            for col in ("cluster", "outcome", "state", "node0", "node1", "detail"):
                table.add_column(col, overflow="fold")
            for name, o in sorted(outcomes.items()):
                style = "green" if o.good else "red"
                table.add_row(
                    name,
                    f"[{style}]{o.outcome}[/]",
                    o.state,
                    o.versions.get("node0") or "?",
                    o.versions.get("node1") or "?",
                    redact(o.detail),
                )
            console().print(table)
        sys.stderr.write(line + "\n")
