"""The JSON report (docs/operators/outcomes.md), written atomically so a crash never leaves
half a file."""

from __future__ import annotations

import logging
import sys
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tasks.state.paths import write_json_atomic

log = logging.getLogger(__name__)


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


@dataclass
class ClusterReport:
    outcome: str  # ok | skipped | failed | not-started (+ job-specific words)
    state: str
    versions: dict[str, str | None]
    detail: str
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "outcome": self.outcome,
            "state": self.state,
            "versions": self.versions,
            "detail": self.detail,
            **self.extra,
        }


@dataclass
class Report:
    job: str
    run_id: str
    started: str = field(default_factory=now_iso)
    finished: str | None = None
    clusters: dict[str, ClusterReport] = field(default_factory=dict)
    notifications: dict[str, Any] | None = None  # delivered / undelivered (runbooks.output.notify)
    html: Path | None = None  # --html: the change report as HTML, written at the run's end

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "job": self.job,
            "run_id": self.run_id,
            "started": self.started,
            "finished": self.finished,
            "clusters": {name: c.to_json() for name, c in sorted(self.clusters.items())},
        }
        if self.notifications is not None:
            data["notifications"] = self.notifications
        return data

    def write(self, path: Path | None) -> None:
        if path is not None:
            write_json_atomic(path, self.to_json())

    def write_html(self) -> None:
        """--html FILE: the change report as HTML (runbooks.output.html_report), from the
        report as it stands: once, at the run's end. A failure to write it is said on
        stderr; the run's exit code stays the run's."""
        if self.html is None:
            return
        from runbooks.output.html_report import write_html  # Jinja2 only when asked for

        try:
            write_html(self.html, self.to_json())
        except Exception as exc:  # the run is over: its report must not hide its outcome
            log.exception("run %s: --html %s not written", self.run_id, self.html)
            why = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
            sys.stderr.write(f"error: --html {self.html}: not written ({why})\n")
