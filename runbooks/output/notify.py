"""Notifications to the team's channels, through Apprise (Slack, Microsoft Teams, e-mail,
generic webhooks and the rest it speaks: https://github.com/caronc/apprise/wiki).

Where the URLs come from (they carry tokens): the environment variable named by config.yaml's
`user_defined.notify.urls_env` (default RUNBOOKS_NOTIFY_URLS), or the file
`user_defined.notify.urls_file` (mode 0600, else the run is refused: exit 2). One URL per line
or separated by spaces or commas. They are never logged, reported or put in an event: a
channel is named by its scheme and host only.

What is sent, for the acting jobs: the run started (job, run id, clusters); the clusters that
need a person (an outcome that does not reach the job's goal), batched: at most one message
per `batch_seconds` (default 30) listing up to 20 clusters and how many more, so 500 failing
clusters are a few messages; the run finished (counts per outcome, the report's path).

A channel that fails never fails or slows the run: messages go out from a thread of their
own; at the end the run waits for them at most `drain_seconds` (default 10). The report's
`notifications` counts what was delivered and what was not, per channel.
"""

from __future__ import annotations

import logging
import os
import queue
import stat
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from tasks.errors import BadInput

log = logging.getLogger(__name__)

DEFAULT_ENV = "RUNBOOKS_NOTIFY_URLS"
LISTED = 20  # clusters named in one message; the rest are counted


@dataclass(frozen=True)
class NotifySettings:
    urls: tuple[str, ...] = ()
    batch_seconds: float = 30.0
    drain_seconds: float = 10.0


def settings_from(user_defined: Mapping[str, Any]) -> NotifySettings:
    """config.yaml's `user_defined.notify`, its URLs read and checked now (BadInput: exit 2,
    before any device)."""
    conf = user_defined.get("notify") or {}
    if not isinstance(conf, Mapping):
        raise BadInput("config user_defined.notify must be a mapping")
    text = os.environ.get(str(conf.get("urls_env") or DEFAULT_ENV), "")
    if conf.get("urls_file"):
        text += "\n" + _private_file(Path(str(conf["urls_file"])))
    urls = tuple(u for u in text.replace(",", " ").split() if u)
    for url in urls:
        if not _apprise().add(url):
            raise BadInput(f"notify: a URL Apprise does not know ({label(url)})")
    try:
        batch = float(conf.get("batch_seconds", 30.0))
        drain = float(conf.get("drain_seconds", 10.0))
    except (TypeError, ValueError):
        raise BadInput("notify: batch_seconds and drain_seconds must be numbers") from None
    return NotifySettings(urls, max(0.0, batch), max(0.0, drain))


def _private_file(path: Path) -> str:
    try:
        mode = path.stat().st_mode
        text = path.read_text()
    except OSError as exc:
        raise BadInput(f"notify urls_file {path}: {exc.strerror or exc}") from None
    if stat.S_IMODE(mode) & 0o077:
        raise BadInput(f"notify urls_file {path}: readable by others; chmod 600 it")
    return text


def label(url: str) -> str:
    """What may be shown of a channel: its scheme and host, never a token."""
    parts = urlsplit(url)
    host = (parts.hostname or "").split("@")[-1]
    return f"{parts.scheme}://{host}" if host else f"{parts.scheme}://"


def _apprise() -> Any:
    import apprise  # here: a run without notifications never imports it

    return apprise.Apprise()


@dataclass
class Delivery:
    sent: int = 0
    undelivered: int = 0
    failed: dict[str, int] = field(default_factory=dict)  # channel label -> messages lost

    def to_json(self) -> dict[str, Any]:
        return {"sent": self.sent, "undelivered": self.undelivered, "failed": self.failed}


class Notifier:
    """The run's messages, sent from a thread of their own."""

    def __init__(self, settings: NotifySettings, job: str, run_id: str) -> None:
        self.settings, self.job, self.run_id = settings, job, run_id
        self.channels: list[tuple[str, Any]] = []
        for url in settings.urls:
            channel = _apprise()
            channel.add(url)
            self.channels.append((label(url), channel))
        self.delivery = Delivery()
        self._problems: list[str] = []
        self._last_batch = 0.0
        self._lock = threading.Lock()
        self._queue: queue.Queue[tuple[str, str] | None] = queue.Queue()
        self._thread = threading.Thread(target=self._send_all, name="notify", daemon=True)
        self._thread.start()

    # what the run tells ---------------------------------------------------------------
    def started(self, clusters: int) -> None:
        self._say(f"{self.job} run {self.run_id} started", f"{clusters} clusters")

    def problem(self, cluster: str, outcome: str, detail: str) -> None:
        """A cluster that needs a person: batched."""
        with self._lock:
            self._problems.append(f"{cluster}: {outcome}: {' '.join(detail.split())[:300]}")
            due = time.monotonic() - self._last_batch >= self.settings.batch_seconds
        if due:
            self._flush()

    def paused(self, reason: str, answer: str) -> None:
        self._flush()
        title = f"{self.job} run {self.run_id} paused for approval"
        self._say(title, f"{reason}; {answer}")

    def wave_ended(self, data: Mapping[str, Any]) -> None:
        """The canary's (or a wave's) verdict: its counts, and whether the next starts."""
        self._flush()
        wave, waves = data.get("wave"), data.get("waves")
        what = "the canary" if data.get("canary") else f"wave {wave} of {waves}"
        counts = ", ".join(f"{w} {n}" for w, n in sorted(dict(data.get("outcomes") or {}).items()))
        self._say(f"{self.job} run {self.run_id}: {what} ended", f"{counts}; {data.get('next')}")

    def finished(self, counts: Mapping[str, int], report: Path | None) -> None:
        self._flush()
        summary = ", ".join(f"{word} {n}" for word, n in sorted(counts.items()))
        where = f"; report {report}" if report else ""
        self._say(f"{self.job} run {self.run_id} finished", summary + where)

    def close(self) -> Delivery:
        """Wait for what is queued, at most drain_seconds; the rest counts as undelivered."""
        self._flush()  # problems still waiting for their batch go out with the rest
        self._queue.put(None)
        self._thread.join(self.settings.drain_seconds)
        with self._lock:
            while True:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is not None:
                    self.delivery.undelivered += len(self.channels)
        return self.delivery

    # --------------------------------------------------------------------------------------
    def _flush(self) -> None:
        with self._lock:
            problems, self._problems = self._problems, []
            self._last_batch = time.monotonic()
        if not problems:
            return
        body = "\n".join(problems[:LISTED])
        if len(problems) > LISTED:
            body += f"\n... and {len(problems) - LISTED} more (see the report)"
        who = "1 cluster needs" if len(problems) == 1 else f"{len(problems)} clusters need"
        self._say(f"{self.job} run {self.run_id}: {who} a person", body)

    def _say(self, title: str, body: str) -> None:
        if self.channels:
            self._queue.put((title, body))

    def _send_all(self) -> None:
        while True:
            try:  # quiet for a batch period: what waits goes out now, not at the end
                item = self._queue.get(timeout=max(1.0, self.settings.batch_seconds))
            except queue.Empty:
                self._flush()
                continue
            if item is None:
                return
            title, body = item
            for name, channel in self.channels:
                try:
                    ok = bool(channel.notify(title=title, body=body))
                except Exception as exc:  # a channel's failure is never the run's
                    log.warning("notify %s: %s", name, type(exc).__name__)
                    ok = False
                with self._lock:
                    if ok:
                        self.delivery.sent += 1
                    else:
                        self.delivery.undelivered += 1
                        self.delivery.failed[name] = self.delivery.failed.get(name, 0) + 1
