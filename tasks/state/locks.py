"""One run per cluster at a time, and the way an abort reaches the run that holds a cluster.

`ClusterLocks` is the interface, `FlockLocks` the local implementation. A cluster is held
with two flocks:

* `<state_dir>/locks/<cluster>.lock`: the cluster of this state directory;
* `<coordination dir>/locks/<device>.lock`: the *device*, keyed by its two nodes' addresses
  (tasks.state.locks.device_key), so two runs that work one cluster under different state
  directories, or under different names in two inventories, still see each other. The
  coordination directory is host-wide for one OS user: `$RUNBOOKS_COORD_DIR`, else
  `<tmp>/srx-runbooks-<uid>` (docs/operators/abort.md).

The kernel drops the flocks of a dead process, so a killed run leaves nothing stale: the
next run takes the cluster over. A run that is alive but does not answer is fenced off:
`take_over` bumps the device's fence counter, and the holder checks its fence before every
durable journal record (the one written before a destructive command), so it can never
send again once an abort took the cluster from it.

The mailbox of a held cluster (abort requests): an `abort` that finds the cluster held
writes `<coord>/aborts/<device>.json`; a watcher thread in every process that holds
clusters acknowledges it within a fraction of a second (`.reply.json`), and the plan acts at
its next step (ClusterRun.abort_reason). The requester renews its request while it waits;
a request whose requester died, or that nobody renewed for REQUEST_TTL, is ignored.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import secrets
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

from tasks.errors import BadInput
from tasks.state.journal import read_records
from tasks.state.paths import FILE_MODE, private_dir, under, write_json_atomic

COORD_ENV = "RUNBOOKS_COORD_DIR"
JOURNALS_KEPT = 4  # state directories remembered per device (whose journals are read)
REQUEST_TTL = 10.0  # seconds an abort request lives unless its requester renews it
WATCH_EVERY = 0.2  # seconds between two looks of a holder's watcher at the mailbox


@dataclass(frozen=True)
class AbortRequest:
    """An abort asked of the run that holds a cluster, by another run."""

    id: str
    by: str  # the asking run's id
    pid: int
    at: float  # epoch seconds
    cluster: str  # the cluster's name in the asking run's inventory

    def who(self) -> str:
        return f"run {self.by} (pid {self.pid})"


@dataclass
class Reply:
    """What the holder says of a request: acknowledged, progress, and at the end its
    outcome (a tasks.state.run_context.Outcome as JSON) with `job` and whether it sent anything."""

    run: str = ""
    pid: int = 0
    job: str = ""
    stage: str = ""  # acknowledged | acting | done
    acked: float = 0.0  # epoch seconds the holder acknowledged the request
    notes: list[str] = field(default_factory=list)  # the holder's words, oldest first
    verdict: dict[str, Any] | None = None
    changed: bool = False  # the holder sent a destructive command to this cluster
    at: float = field(default_factory=time.time)


class ClusterLocks(Protocol):
    def acquire(self, cluster: str, device: str = "", job: str = "") -> str | None:
        """Take the cluster's lock (and its device's, when `device` is given): None on
        success, else who holds it."""
        ...

    def release(self, cluster: str) -> None: ...

    def release_all(self) -> None: ...

    def foreign_history(self, cluster: str) -> list[dict[str, Any]]:
        """Records of this (held) cluster's device in journals this run does not write."""
        ...

    # the holder's side of the mailbox
    def abort_requested(self, cluster: str) -> AbortRequest | None:
        """An abort another run asked of this (held) cluster, once acknowledged."""
        ...

    def answer(self, cluster: str, **fields: Any) -> None:
        """Progress (`note` adds a line) or the verdict for the request of `cluster`
        (no-op without one)."""
        ...

    def fenced_off(self, cluster: str) -> str | None:
        """Who took this held cluster over (its fence moved on), else None."""
        ...

    def wait_for_request(self, cluster: str, seconds: float) -> None:
        """Sleep up to `seconds`, woken early when an abort is asked of `cluster`."""
        ...

    # the requester's side
    def request_abort(self, cluster: str, device: str, by: str) -> AbortRequest: ...

    def renew_request(self, cluster: str, device: str, request: AbortRequest) -> None: ...

    def reply(self, cluster: str, device: str, request: AbortRequest) -> Reply | None: ...

    def withdraw(self, cluster: str, device: str, request: AbortRequest) -> None: ...

    def take_over(self, cluster: str, device: str, by: str) -> None:
        """Fence the live holder off and hold the cluster without its lock."""
        ...


def coordination_dir() -> Path:
    """The host-wide place (for this OS user) where runs of any state directory meet."""
    env = os.environ.get(COORD_ENV)
    base = Path(env) if env else Path(tempfile.gettempdir()) / f"srx-runbooks-{os.getuid()}"
    private_dir(base)
    st = base.lstat()
    if base.is_symlink() or st.st_uid != os.getuid() or st.st_mode & 0o022:
        raise BadInput(f"coordination directory {base} is not this user's own private directory")
    return base


def device_key(addresses: list[tuple[str, int]]) -> str:
    """The device identity of a cluster: its two nodes' management addresses."""
    text = ",".join(f"{h.lower()}:{p}" for h, p in sorted(addresses))
    return "dev-" + hashlib.sha256(text.encode()).hexdigest()[:24]


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@dataclass
class _Held:
    fd: int  # the state directory's lock
    device: str = ""
    device_fd: int | None = None
    fence: int = 0
    others: list[tuple[Path, str]] = field(default_factory=list)  # other journals of it


class FlockLocks:
    """flock-based locks, the holder's run id and PID in each lock file."""

    def __init__(self, state_dir: Path, run_id: str, coord: Path | None = None) -> None:
        self.state_dir = state_dir.resolve()
        self.dir = private_dir(state_dir / "locks")
        self.run_id = run_id
        self._coord = coord
        self._held: dict[str, _Held] = {}
        self._asked: dict[str, AbortRequest] = {}  # acknowledged requests, by cluster
        self._woken: dict[str, threading.Event] = {}  # set when a request is acknowledged
        self._lock = threading.Lock()
        self._replying = threading.Lock()  # the reply file's writers in this process
        self._watcher_pid = 0

    # coordination directory ----------------------------------------------------------------
    @property
    def coord(self) -> Path:
        if self._coord is None:
            self._coord = coordination_dir()
        return self._coord

    def _place(self, what: str, device: str, suffix: str) -> Path:
        return under(private_dir(self.coord / what), device, suffix)

    def _fence(self, device: str) -> int:
        try:
            return int(self._place("locks", device, ".fence").read_text() or 0)
        except (OSError, ValueError):
            return 0

    # the lock ------------------------------------------------------------------------------
    def acquire(self, cluster: str, device: str = "", job: str = "") -> str | None:
        held = _Held(-1)
        if device:  # the device first: its holder may work under another state directory
            busy = self._acquire_device(held, device, cluster, job)
            if busy is not None:
                return busy
        fd = os.open(under(self.dir, cluster, ".lock"), os.O_RDWR | os.O_CREAT, FILE_MODE)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 256, 0).decode(errors="replace").strip()
            os.close(fd)
            self._unlock(held)
            return holder or "another run"
        held.fd = fd
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"run {self.run_id} pid {os.getpid()}\n".encode(), 0)
        with self._lock:
            self._held[cluster] = held
        if device:
            self._ensure_watcher()
        return None

    def _acquire_device(self, held: _Held, device: str, cluster: str, job: str) -> str | None:
        path = self._place("locks", device, ".lock")
        dfd = os.open(path, os.O_RDWR | os.O_CREAT, FILE_MODE)
        try:
            fcntl.flock(dfd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            info = _read_json(path) or {}
            os.close(dfd)
            return self.describe(info)
        before = _read_json(path) or {}
        mine = [str(self.state_dir), cluster]
        seen = [j for j in before.get("journals", []) if isinstance(j, list) and j != mine]
        info = {"run": self.run_id, "pid": os.getpid(), "state_dir": str(self.state_dir)}
        info.update(cluster=cluster, job=job, journals=[mine, *seen[: JOURNALS_KEPT - 1]])
        os.ftruncate(dfd, 0)
        os.pwrite(dfd, json.dumps(info).encode(), 0)
        held.device, held.device_fd, held.fence = device, dfd, self._fence(device)
        held.others = [(Path(sd), str(c)) for sd, c in seen[: JOURNALS_KEPT - 1]]
        return None

    def foreign_history(self, cluster: str) -> list[dict[str, Any]]:
        """The records other state directories journaled for this cluster's device (an ICU
        a run of another state directory sent is followed from here, never sent again)."""
        held = self._held.get(cluster)
        out: list[dict[str, Any]] = []
        for state_dir, name in held.others if held else []:
            with contextlib.suppress(OSError, BadInput):
                out += read_records(under(state_dir / "journal", name, ".jsonl"))
        return out

    def describe(self, info: dict[str, Any]) -> str:
        """'run R pid P', and where it works when that is not this state directory."""
        if not info:
            return "another run"
        text = f"run {info.get('run')} pid {info.get('pid')}"
        if info.get("state_dir") and info.get("state_dir") != str(self.state_dir):
            text += f" (state dir {info['state_dir']}, outside this state directory)"
        return text

    def holder(self, device: str) -> dict[str, Any]:
        """What the device's lock file says of its holder (the last one, if free)."""
        return _read_json(self._place("locks", device, ".lock")) or {}

    def release(self, cluster: str) -> None:
        with self._lock:
            held = self._held.pop(cluster, None)
            self._asked.pop(cluster, None)
            self._woken.pop(cluster, None)
        if held is not None:
            self._unlock(held)

    @staticmethod
    def _unlock(held: _Held) -> None:
        for fd in (held.device_fd, held.fd):
            if fd is not None and fd >= 0:
                fcntl.flock(fd, fcntl.LOCK_UN)
                os.close(fd)

    def release_all(self) -> None:
        for cluster in list(self._held):
            self.release(cluster)

    def fenced_off(self, cluster: str) -> str | None:
        held = self._held.get(cluster)
        if held is None or not held.device or self._fence(held.device) == held.fence:
            return None
        note = _read_json(self._place("locks", held.device, ".fence-by")) or {}
        return f"run {note.get('run', '?')} (pid {note.get('pid', '?')}) took the cluster over"

    def take_over(self, cluster: str, device: str, by: str) -> None:
        """The holder answered nothing in time: bump the fence (the holder can no longer
        journal an intent, so never sends again) and hold the cluster without its flock."""
        path = self._place("locks", device, ".fence")
        fd = os.open(path, os.O_RDWR | os.O_CREAT, FILE_MODE)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            value = int(os.pread(fd, 32, 0).decode() or 0) + 1
            os.ftruncate(fd, 0)
            os.pwrite(fd, str(value).encode(), 0)
        finally:
            os.close(fd)
        write_json_atomic(
            self._place("locks", device, ".fence-by"), {"run": by, "pid": os.getpid()}
        )
        with self._lock:
            self._held[cluster] = _Held(-1, device, None, value)

    # the mailbox: holder's side ---------------------------------------------------------
    def abort_requested(self, cluster: str) -> AbortRequest | None:
        return self._asked.get(cluster)

    def wait_for_request(self, cluster: str, seconds: float) -> None:
        with self._lock:
            event = self._woken.setdefault(cluster, threading.Event())
        if cluster not in self._asked:
            event.wait(seconds)

    def answer(self, cluster: str, **fields: Any) -> None:
        with self._lock:
            request, held = self._asked.get(cluster), self._held.get(cluster)
        if request is not None and held is not None:
            self._write_reply(held.device, request, **fields)

    def _write_reply(self, device: str, request: AbortRequest, **fields: Any) -> None:
        """Merge `fields` into the reply (the plan's thread and the watcher both write it:
        one at a time; a later stage is never taken back)."""
        with self._replying:
            path = self._place("aborts", device, ".reply.json")
            old = _read_json(path) or {}
            if old.get("id") != request.id:
                old = {}
            note = fields.pop("note", None)
            if old.get("stage") in ("acting", "done") and fields.get("stage") == "acknowledged":
                fields.pop("stage")
            old.update(fields, id=request.id, run=self.run_id, pid=os.getpid(), at=time.time())
            if note:
                old["notes"] = [*old.get("notes", []), note]
            write_json_atomic(path, old)

    def _ensure_watcher(self) -> None:
        """One watcher thread per process that holds devices (a forked worker starts its own)."""
        with self._lock:
            if self._watcher_pid == os.getpid():
                return
            self._watcher_pid = os.getpid()
        threading.Thread(target=self._watch, name="abort-requests", daemon=True).start()

    def _watch(self) -> None:
        me = os.getpid()
        while self._watcher_pid == me:
            with self._lock:
                held = {h.device: c for c, h in self._held.items() if h.device}
            for device, cluster in held.items():
                if cluster not in self._asked:
                    with contextlib.suppress(OSError, BadInput):
                        self._look(device, cluster)
            time.sleep(WATCH_EVERY)

    def _look(self, device: str, cluster: str) -> None:
        path = self._place("aborts", device, ".json")
        if not path.exists():
            return
        data = _read_json(path)
        if data is None or time.time() - path.stat().st_mtime > REQUEST_TTL:
            return
        try:
            request = AbortRequest(**data)
        except TypeError:
            return
        if not _alive(request.pid):
            return
        if cluster not in self._held:
            return
        job = self.holder(device).get("job", "")  # acknowledged before the plan can act
        self._write_reply(device, request, stage="acknowledged", acked=time.time(), job=job)
        with self._lock:
            if cluster in self._held:
                self._asked[cluster] = request
                self._woken.setdefault(cluster, threading.Event()).set()

    # the mailbox: requester's side ------------------------------------------------------
    def request_abort(self, cluster: str, device: str, by: str) -> AbortRequest:
        path = self._place("aborts", device, ".json")
        current = _read_json(path)
        if current and time.time() - path.stat().st_mtime <= REQUEST_TTL:
            try:
                joined = AbortRequest(**current)
            except TypeError:
                joined = None
            if joined is not None and _alive(joined.pid):
                return joined  # another abort already asked: wait on the same answer
        request = AbortRequest(secrets.token_hex(6), by, os.getpid(), time.time(), cluster)
        write_json_atomic(path, asdict(request))
        return request

    def renew_request(self, cluster: str, device: str, request: AbortRequest) -> None:
        path = self._place("aborts", device, ".json")
        if request.pid == os.getpid():
            with contextlib.suppress(OSError):
                os.utime(path)

    def reply(self, cluster: str, device: str, request: AbortRequest) -> Reply | None:
        data = _read_json(self._place("aborts", device, ".reply.json"))
        if not data or data.get("id") != request.id:
            return None
        known = {k: v for k, v in data.items() if k in Reply.__dataclass_fields__}
        return Reply(**known)

    def withdraw(self, cluster: str, device: str, request: AbortRequest) -> None:
        if request.pid != os.getpid():
            return
        path = self._place("aborts", device, ".json")
        if (_read_json(path) or {}).get("id") == request.id:
            with contextlib.suppress(OSError):
                path.unlink()
