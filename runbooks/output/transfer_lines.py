"""Live transfer progress: one row per copy in flight and one for the fleet, with rich's
transfer columns (bytes, rate, ETA). Fed by the `transfer` events of tasks.plans.transfer."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from rich.console import RenderableType
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

if TYPE_CHECKING:
    from tasks.events import Event

FLEET = "fleet"


class TransferView:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            TimeRemainingColumn(),
        )
        self._rows: dict[str, TaskID] = {}
        self._sent: dict[str, int] = {}
        self._fleet: TaskID | None = None
        self.seen = False

    def on_event(self, event: Event) -> None:
        phase = event.data.get("phase")
        key = f"{event.cluster} {event.data.get('node')}"
        total = int(event.data.get("total") or 0)
        with self._lock:
            self.seen = True
            if self._fleet is None:
                self._fleet = self.progress.add_task(FLEET, total=0)
            if phase == "started":
                self._end(key)
                self._rows[key] = self.progress.add_task(key, total=total)
                self._sent[key] = 0
                fleet_total = self.progress.tasks[self._fleet].total or 0
                self.progress.update(self._fleet, total=fleet_total + total)
            elif phase == "progress" and key in self._rows:
                self._advance(key, int(event.data.get("bytes") or 0))
            elif phase in ("done", "failed"):
                if phase == "done":
                    self._advance(key, total or int(event.data.get("bytes") or 0))
                self._end(key)

    def _advance(self, key: str, sent: int) -> None:
        delta = max(0, sent - self._sent.get(key, 0))
        self._sent[key] = max(sent, self._sent.get(key, 0))
        self.progress.update(self._rows[key], completed=self._sent[key])
        if self._fleet is not None:
            self.progress.advance(self._fleet, delta)

    def _end(self, key: str) -> None:
        row = self._rows.pop(key, None)
        self._sent.pop(key, None)
        if row is not None:
            self.progress.remove_task(row)

    def renderable(self) -> RenderableType:
        with self._lock:
            return self.progress.make_tasks_table(self.progress.tasks)
