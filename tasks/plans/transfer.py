"""One package copy to one node, and what a complete copy is (tasks.plans.stage uses them).

The copy is pulled by the device (`file copy` RPC on a session of its own, with a deadline
from the size and the minimum rate, while the file's growth is read on the managed session
for live progress) or pushed over SFTP (tasks.device.sftp_push). The copy is verified on the device
by
size and checksum; a partial or corrupt file is removed and the copy tried once more.
"""

from __future__ import annotations

import concurrent.futures
import hashlib
import multiprocessing
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nornir.core.task import Result, Task

from tasks.device.rpc import NodeRpc
from tasks.device.sftp_push import Endpoint, push_file
from tasks.errors import DeviceRefused, SessionLost
from tasks.events import EventKind
from tasks.plans import sessions
from tasks.plans.steps import done
from tasks.state.redact import redact
from tasks.state.run_context import ClusterRun
from tasks.state.settings import Target

CHUNK = 1 << 20


@dataclass(frozen=True)
class Expected:
    """What a complete copy is: its size and at least one checksum."""

    size: int
    md5: str | None = None
    sha256: str | None = None

    @property
    def algorithm(self) -> str:
        return "sha256" if self.sha256 else "md5"

    @property
    def digest(self) -> str:
        return str(self.sha256 or self.md5).lower()

    @classmethod
    def of_file(cls, path: Path) -> Expected:
        """Size and checksums of a local file, read in pieces."""
        md5, sha = hashlib.md5(), hashlib.sha256()
        size = 0
        with path.open("rb") as fh:
            while piece := fh.read(CHUNK):
                md5.update(piece)
                sha.update(piece)
                size += len(piece)
        return cls(size, md5.hexdigest(), sha.hexdigest())

    @classmethod
    def of_target(cls, target: Target) -> Expected | None:
        if target.size is None or not (target.md5 or target.sha256):
            return None
        return cls(target.size, target.md5, target.sha256)


class TransferSlots:
    """Copies at once across the fleet, worker processes included (a fork-shared semaphore):
    a waiter starts the moment a copy ends. A worker process killed mid-copy takes its slot
    with it; the rest of that run copies with one slot fewer."""

    def __init__(self, limit: int | None = None) -> None:
        ctx = multiprocessing.get_context("fork")
        self._sem = ctx.BoundedSemaphore(limit) if limit else None

    @contextmanager
    def slot(self, check: Callable[[], None]) -> Iterator[None]:
        """Hold one slot; `check` (the run's halt) is asked every second while waiting."""
        if self._sem is None:
            yield
            return
        while not self._sem.acquire(timeout=1.0):
            check()
        try:
            yield
        finally:
            self._sem.release()


@dataclass(frozen=True)
class StageSpec:
    """How to stage (the stage job's options, and upgrade --stage's)."""

    url: str | None = None  # pull source: a file URL, or a directory URL ending in '/'
    push: Path | None = None  # push source: a local file
    pushed: Expected | None = None  # its size and checksums, read once per run
    published: dict[str, Expected] = field(default_factory=dict)  # URL -> its checksum file
    nodes: str = "primary"  # primary | both
    cleanup: bool = False
    min_rate_mbps: float = 1.0  # deadline per transfer: size / this rate (+ the RPC timeout)
    link: TransferSlots = field(default_factory=TransferSlots)  # --max-transfers: copies
    ready: TransferSlots = field(default_factory=TransferSlots)  # clusters checked ahead
    progress_every: float = 1.0


@dataclass(frozen=True)
class OnNode:
    """The package as one node holds it."""

    node: str
    size: int | None  # None: absent
    kind: str = "file"
    digest: str | None = None
    ok: bool = False
    words: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"size": self.size, "checksum": self.digest, "present": self.ok, "note": self.words}


def package_on(rpc: NodeRpc, node: str, path: str, expected: Expected) -> OnNode:
    info = rpc.file_info(path)
    if info is None:
        return OnNode(node, None, words="absent")
    if info.kind != "file":
        return OnNode(node, info.size, info.kind, words=info.kind)
    if info.size != expected.size:
        return OnNode(node, info.size, words=f"{info.size} of {expected.size} bytes")
    try:
        digest = rpc.checksum(path, expected.algorithm)
    except DeviceRefused as exc:
        return OnNode(node, info.size, words=f"no checksum: {exc.message}")
    ok = digest == expected.digest
    words = "size and checksum match" if ok else f"{expected.algorithm} {digest} differs"
    return OnNode(node, info.size, digest=digest, ok=ok, words=words)


def copy_package(
    task: Task,
    *,
    run: ClusterRun,
    node: str,
    source: str,
    path: str,
    expected: Expected,
    spec: StageSpec,
) -> Result:
    """Step: copy, verify, and once more after removing a partial or corrupt result."""
    rpc = sessions.rpc(task, run, node)
    removed: list[dict[str, Any]] = []
    words = ""
    for attempt in (1, 2):
        removed += _clear(run, rpc, node, path, expected)
        words, seconds = _transfer(task, run, rpc, node, source, path, expected, spec, attempt)
        after = package_on(rpc, node, path, expected)
        if not words and after.ok:
            evidence = _evidence(attempt, seconds, expected, after, removed)
            run.emit(EventKind.TRANSFER, node=node, phase="done", **evidence)
            said = f"{evidence['bytes']} bytes in {evidence['duration_s']:.1f}s, verified"
            return done(task, evidence, changed=True, summary=said)
        words = words or f"copy incomplete or corrupt: {after.words}"
        run.emit(
            EventKind.TRANSFER,
            node=node,
            phase="failed",
            attempt=attempt,
            words=words,
            bytes=after.size or 0,
        )
    removed += _clear(run, rpc, node, path, expected)  # no half package left for an ICU
    return done(
        task,
        {"ok": False, "words": words, "attempts": 2, "removed": removed},
        failed=True,
        changed=True,
        summary=words,
    )


def _evidence(
    attempt: int, seconds: float, expected: Expected, after: OnNode, removed: list[dict[str, Any]]
) -> dict[str, Any]:
    return {
        "ok": True,
        "attempts": attempt,
        "bytes": expected.size,
        "duration_s": round(seconds, 3),
        "rate_mbps": round(expected.size * 8 / max(seconds, 1e-6) / 1e6, 2),
        "checksum": {
            "algorithm": expected.algorithm,
            "expected": expected.digest,
            "device": after.digest,
        },
        "removed": removed,
    }


def _clear(
    run: ClusterRun, rpc: NodeRpc, node: str, path: str, expected: Expected
) -> list[dict[str, Any]]:
    """Remove what a failed or cut copy left at `path` (never a link or a directory)."""
    info = rpc.file_info(path)
    if info is None or info.kind != "file":
        return []
    run.emit(
        EventKind.NOTE,
        node=node,
        message=f"removing {path} ({info.size} of {expected.size} bytes, not the package)",
    )
    rpc.file_delete(path)
    return [{"path": path, "bytes": info.size}]


def deadline(expected: Expected, spec: StageSpec, run: ClusterRun) -> float:
    """Seconds a copy may take: its size at the minimum rate, plus the RPC timeout."""
    return expected.size * 8 / (spec.min_rate_mbps * 1e6) + run.timing.rpc_timeout


def _transfer(
    task: Task,
    run: ClusterRun,
    rpc: NodeRpc,
    node: str,
    source: str,
    path: str,
    expected: Expected,
    spec: StageSpec,
    attempt: int,
) -> tuple[str, float]:
    """One copy inside a link slot (--max-transfers): (what went wrong or '', seconds). The
    session a pull runs on is opened before the slot is taken, so a slot is link time."""
    side = None if spec.push is not None else sessions.side(task, run, node)
    try:
        with spec.link.slot(run.gate.check):
            run.emit(
                EventKind.TRANSFER,
                node=node,
                phase="started",
                attempt=attempt,
                source=redact(source),
                path=path,
                total=expected.size,
            )
            started = run.clock.monotonic()
            if spec.push is not None:
                words = _push(task, run, node, spec.push, path, expected, spec)
            else:
                assert side is not None
                words = _pull(run, rpc, side[1], node, source, path, expected, spec)
            return words, run.clock.monotonic() - started
    finally:
        if side is not None:
            side[0].close()  # a copy still running dies with its session


def _pull(
    run: ClusterRun,
    rpc: NodeRpc,
    side: NodeRpc,
    node: str,
    source: str,
    path: str,
    expected: Expected,
    spec: StageSpec,
) -> str:
    """The device fetches on a session of its own (`side`); `rpc` reads the file's growth."""
    limit = deadline(expected, spec, run)
    pool = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="file-copy")
    try:
        future = pool.submit(side.file_copy, source, path, timeout=limit)
        while True:
            try:
                return future.result(timeout=spec.progress_every)
            except concurrent.futures.TimeoutError:
                info = rpc.file_info(path)
                _progress(run, node, info.size if info else 0, expected.size)
            except SessionLost:
                return (
                    f"no end of the copy within {limit:.0f}s (slower than "
                    f"{spec.min_rate_mbps:g} Mbit/s): stopped"
                )
    finally:
        pool.shutdown(wait=False)


def _push(
    task: Task,
    run: ClusterRun,
    node: str,
    local: Path,
    path: str,
    expected: Expected,
    spec: StageSpec,
) -> str:
    params = task.host.get_connection_parameters(node)
    verify = bool((params.extras or {}).get("hostkey_verify", False))
    known = task.host.get("known_hosts") or "~/.ssh/known_hosts"
    end = Endpoint(
        hostname=str(params.hostname),
        port=int(params.port or 22),
        username=str(params.username),
        password=str(params.password),
        known_hosts=Path(str(known)).expanduser() if verify else None,
    )
    last = [0.0]

    def progress(sent: int, total: int) -> None:
        now = run.clock.monotonic()
        if now - last[0] >= spec.progress_every or sent == total:
            last[0] = now
            _progress(run, node, sent, total)

    # over the run's transport when it has a push of its own (asyncssh's SFTP), else paramiko
    push = getattr(sessions.devices(run), "push_file", push_file)
    return str(push(end, local, path, deadline=deadline(expected, spec, run), progress=progress))


def _progress(run: ClusterRun, node: str, sent: int, total: int) -> None:
    """Live progress only: not journaled, not in --events."""
    event = run.event(EventKind.TRANSFER, node=node, phase="progress", bytes=sent, total=total)
    run.context.sink.event(event, quiet=True)
