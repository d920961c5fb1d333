"""Per-cluster journal (crash-safe JSONL) and per-cluster locks across processes.

`state/journal/<cluster>.jsonl` holds every event of every run for that cluster, one JSON
object per line, flushed as it is written, so a crash or SIGKILL of the run loses at most
the line being written (a torn last line is ignored on read). The records written just
before a destructive command goes out (DURABLE) are also fsynced, so they survive even a
crash of the host; fsyncing every line would serialize a fleet's hundreds of clusters on
the disk at the busiest moment of a run. `state/locks/<cluster>.lock`
is held with flock for as long as a run works on the cluster: one writer per cluster, and
a lock whose holder died is released by the kernel, so it is taken over safely.
"""

from __future__ import annotations

import fcntl
import json
import os
import threading
from pathlib import Path
from typing import Any, TextIO

from runbooks.redact import redact
from tasks.runctx import Event

# Records that precede a destructive command: on disk before the command leaves.
DURABLE = frozenset({"icu-sending", "recover-sending", "recover-step", "command", "icu-ended"})


class Journal:
    def __init__(self, state_dir: Path) -> None:
        self.dir = state_dir / "journal"
        self.dir.mkdir(parents=True, exist_ok=True)
        self._files: dict[str, tuple[TextIO, threading.Lock]] = {}
        self._lock = threading.Lock()  # guards _files only; each file has its own lock

    def path(self, cluster: str) -> Path:
        return self.dir / f"{cluster}.jsonl"

    def history(self, cluster: str) -> list[dict[str, Any]]:
        path = self.path(cluster)
        if not path.is_file():
            return []
        records = []
        with path.open() as fh:
            for line in fh:
                try:
                    records.append(json.loads(line))
                except json.JSONDecodeError:
                    continue  # a line torn by a crash
        return records

    def write(self, event: Event) -> None:
        line = redact(json.dumps(event.to_json(), sort_keys=False, default=str)) + "\n"
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
        fh = path.open("a+")
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


class ClusterLocks:
    """flock-based locks, one file per cluster; the holder's run id and PID are in the file."""

    def __init__(self, state_dir: Path, run_id: str) -> None:
        self.dir = state_dir / "locks"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.run_id = run_id
        self._held: dict[str, int] = {}

    def acquire(self, cluster: str) -> str | None:
        """Take the lock; return None on success, else a description of the holder."""
        path = self.dir / f"{cluster}.lock"
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 256, 0).decode(errors="replace").strip()
            os.close(fd)
            return holder or "another run"
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"run {self.run_id} pid {os.getpid()}\n".encode(), 0)
        self._held[cluster] = fd
        return None

    def release(self, cluster: str) -> None:
        fd = self._held.pop(cluster, None)
        if fd is not None:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    def release_all(self) -> None:
        for cluster in list(self._held):
            self.release(cluster)
