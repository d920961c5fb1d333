"""The per-cluster journal: every event of every run, the memory that makes resume safe.

`Journal` is the interface the executor and the plans use; `LocalJournal` keeps one JSONL file
per cluster (`<state_dir>/journal/<cluster>.jsonl`), flushed per line, so a crash or SIGKILL
loses at most the line being written (a torn last line is ignored on read). Durable events
(tasks.events) are also fsynced, so they survive a crash of the host; fsyncing every line
would serialize a fleet's hundreds of clusters on the disk at the busiest moment of a run.
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import Any, Protocol, TextIO

from tasks.events import DURABLE, Event
from tasks.state.paths import open_private, private_dir, under
from tasks.state.redact import redact


class Journal(Protocol):
    def history(self, cluster: str) -> list[dict[str, Any]]:
        """This cluster's records, oldest first."""
        ...

    def write(self, event: Event) -> None:
        """Append one record; durable kinds are on stable storage when this returns."""
        ...

    def close(self) -> None: ...


class LocalJournal:
    def __init__(self, state_dir: Path) -> None:
        self.dir = private_dir(state_dir / "journal")
        self._files: dict[str, tuple[TextIO, threading.Lock]] = {}
        self._lock = threading.Lock()  # guards _files only; each file has its own lock

    def path(self, cluster: str) -> Path:
        return under(self.dir, cluster, ".jsonl")

    def history(self, cluster: str) -> list[dict[str, Any]]:
        return read_records(self.path(cluster))

    def write(self, event: Event) -> None:
        line = redact(json.dumps(event.to_json(), default=str)) + "\n"
        with self._lock:
            entry = self._files.get(event.cluster)
            if entry is None:
                entry = (self._open(self.path(event.cluster)), threading.Lock())
                self._files[event.cluster] = entry
        fh, lock = entry
        with lock:
            if fh.closed:
                return
            fh.write(line)
            fh.flush()
            if event.kind in DURABLE:
                os.fsync(fh.fileno())

    @staticmethod
    def _open(path: Path) -> TextIO:
        """Append, first ending a line a crash tore, so the next record stands on its own."""
        fh = os.fdopen(open_private(path, "a+"), "a+")
        if fh.tell() > 0:
            fh.seek(fh.tell() - 1)
            if fh.read(1) != "\n":
                fh.write("\n")
        return fh

    def close(self) -> None:
        with self._lock:
            for fh, lock in self._files.values():
                with lock:
                    fh.close()
            self._files.clear()


def read_records(path: Path) -> list[dict[str, Any]]:
    """The records of one JSONL journal (or --events) file; a line torn by a crash is
    skipped, a missing file has none."""
    if not path.is_file():
        return []
    records = []
    with path.open() as fh:
        for line in fh:
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:
                continue
    return records
