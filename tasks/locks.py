"""One run per cluster at a time: `ClusterLocks` is the interface, `FlockLocks` the local
implementation (`<state_dir>/locks/<cluster>.lock`, held with flock while a run works on the
cluster). The kernel drops the lock of a dead process, so a killed run leaves nothing stale:
the next run takes the cluster over."""

from __future__ import annotations

import fcntl
import os
import threading
from pathlib import Path
from typing import Protocol

from tasks.paths import FILE_MODE, private_dir, under


class ClusterLocks(Protocol):
    def acquire(self, cluster: str) -> str | None:
        """Take the cluster's lock: None on success, else who holds it."""
        ...

    def release(self, cluster: str) -> None: ...

    def release_all(self) -> None: ...


class FlockLocks:
    """flock-based locks, one file per cluster; the holder's run id and PID are in the file."""

    def __init__(self, state_dir: Path, run_id: str) -> None:
        self.dir = private_dir(state_dir / "locks")
        self.run_id = run_id
        self._held: dict[str, int] = {}
        self._lock = threading.Lock()

    def acquire(self, cluster: str) -> str | None:
        fd = os.open(under(self.dir, cluster, ".lock"), os.O_RDWR | os.O_CREAT, FILE_MODE)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 256, 0).decode(errors="replace").strip()
            os.close(fd)
            return holder or "another run"
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"run {self.run_id} pid {os.getpid()}\n".encode(), 0)
        with self._lock:
            self._held[cluster] = fd
        return None

    def release(self, cluster: str) -> None:
        with self._lock:
            fd = self._held.pop(cluster, None)
        if fd is not None:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    def release_all(self) -> None:
        for cluster in list(self._held):
            self.release(cluster)
