"""Package transfers in the lab: the device-side `file copy` pull, an SFTP server on every
node for pushes, `request system storage cleanup`, and the transfer faults.

The pull source is not a real HTTP/FTP server: a `file copy` RPC whose source URL names a
package the lab knows (its basename, any http/https/ftp/scp host) is simulated on the
device's side at the lab's link rate (`--link-mbps`, real seconds = simulated / speed);
the bytes grow in `/var/tmp` as they arrive and the RPC answers when the copy ends, as
Junos does. Pushes are real bytes over SFTP (asyncssh's server) on the node's own SSH port;
they are hashed as they arrive and then dropped, so the lab holds no file in memory.

Faults: transfer-fails (the copy stops half way, the partial file stays), transfer-corrupt
(the copy completes with other bytes), slow-link (a twentieth of the link rate, for pulls
and pushes), url-unreachable (the pull's server cannot be reached). Replies follow the
shapes of tests/fidelity/captures/window/{file-copy,request-system-storage-cleanup}.
"""

from __future__ import annotations

import asyncio
import hashlib
import posixpath
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit
from xml.sax.saxutils import escape

with warnings.catch_warnings():
    # asyncssh's DSA key support warns on import with this cryptography release (a warning
    # about a key type no lab or node here uses), on every run's stderr: not for operators
    warnings.simplefilter("ignore")
    import asyncssh

from simulator import replies
from simulator.model import Cluster, Node
from simulator.replies import Ctx, Reply, _rpc_error, error, package_digest

FAULTS = {"transfer-fails", "transfer-corrupt", "slow-link", "url-unreachable"}
SLOW_FACTOR = 20.0  # slow-link: a twentieth of the link rate
TICK = 0.25  # real seconds between updates of a pull's bytes
HOME = "/var/home/lab"
Record = Callable[[str, dict[str, Any], str], None]  # (rpc, args, result) into the audit log


@dataclass
class Settings:
    link_mbps: float = 100.0
    speed: float = 1.0
    sources: dict[str, int] = field(default_factory=dict)  # package basename -> bytes


SETTINGS = Settings()


def configure(*, link_mbps: float, speed: float, sources: dict[str, int]) -> None:
    SETTINGS.link_mbps, SETTINGS.speed, SETTINGS.sources = link_mbps, speed, dict(sources)


@dataclass
class Content:
    """What a file in /var/tmp holds, for its checksum: a lab package (by its key, the path
    the lab's digests are computed on), or pushed bytes (their real digests)."""

    key: str = ""
    sums: dict[str, str] = field(default_factory=dict)
    corrupt: bool = False
    partial: bool = False

    def digest(self, path: str, algorithm: str) -> str:
        if self.partial or self.corrupt:
            mark = f"{self.key}{path}{self.partial}{self.corrupt}{sorted(self.sums.items())}"
            return hashlib.new(algorithm, mark.encode()).hexdigest()
        if self.sums:
            return self.sums[algorithm]
        return package_digest(self.key, algorithm)


_CONTENT: dict[tuple[int, str], dict[str, Content]] = {}  # (id(cluster), node) -> path -> it


def contents(cluster: Cluster, node: str) -> dict[str, Content]:
    return _CONTENT.setdefault((id(cluster), node), {})


def link_bytes_per_s(cluster: Cluster) -> float:
    """Bytes per real second of this cluster's link (the lab's speed included)."""
    rate = SETTINGS.link_mbps * 1e6 / 8 * SETTINGS.speed
    return rate / SLOW_FACTOR if "slow-link" in cluster.faults else rate


def _grow(node: Node, path: str, size: int) -> None:
    """Set a file's size, charging or refunding the free space."""
    before = node.files.get(path, 0)
    node.files[path] = size
    node.free_bytes -= size - before


def _remove(cluster: Cluster, node: Node, path: str) -> None:
    node.free_bytes += node.files.pop(path, 0)
    node.links.pop(path, None)
    contents(cluster, node.name).pop(path, None)


# ---------------------------------------------------------------------------- pull


def _fetch_error(url: str, cluster: Cluster) -> str | None:
    parts = urlsplit(url)
    host = parts.hostname or ""
    name = posixpath.basename(parts.path)
    if parts.scheme not in ("http", "https", "ftp", "scp"):
        return f"invalid URL: {url}"
    if "url-unreachable" in cluster.faults or host.endswith(".invalid"):
        if parts.scheme == "scp":
            return f"ssh: connect to host {host} port 22: Connection refused\nlost connection"
        return f"fetch: {url}: No route to host"
    if name not in SETTINGS.sources:
        return f"fetch: {url}: Not Found"
    return None


def _errors(*messages: str) -> str:
    return "".join(_rpc_error(m) for m in messages)


def rpc_file_copy(ctx: Ctx, args: dict[str, Any]) -> Reply:
    source, dest = str(args.get("source", "")), str(args.get("destination", ""))
    if "://" not in source:
        return error(f"file copy {source}: not supported by the lab (give a URL)", bad=source)
    if dest.endswith("/"):
        dest += posixpath.basename(urlsplit(source).path)
    why = _fetch_error(source, ctx.cluster)
    if why is not None:
        return Reply(_errors(why, "error: file-fetch failed"), result="error")
    size = SETTINGS.sources[posixpath.basename(urlsplit(source).path)]
    key = "/var/tmp/" + posixpath.basename(urlsplit(source).path)
    cluster, node = ctx.cluster, ctx.cluster.nodes[ctx.node]
    _remove(cluster, node, dest)
    content = Content(key=key, partial=True)
    contents(cluster, node.name)[dest] = content
    _grow(node, dest, 0)

    def later(session: Any, mid: str) -> None:
        task = _pull(session, mid, cluster, node, dest, size, content)
        asyncio.get_running_loop().create_task(task)

    return Reply(None, result="copying", later=later)


async def _pull(
    session: Any, mid: str, cluster: Cluster, node: Node, dest: str, size: int, content: Content
) -> None:
    """The device fetching: bytes grow every TICK; the reply goes out at the end (or never,
    when the session closed first: the fetch dies with the CLI that ran it)."""
    rate, started = link_bytes_per_s(cluster), time.monotonic()
    stop_at = size // 2 if "transfer-fails" in cluster.faults else size
    while True:
        await asyncio.sleep(min(TICK, max(0.0, (stop_at - node.files.get(dest, 0)) / rate)))
        if contents(cluster, node.name).get(dest) is not content:
            return  # deleted or copied over meanwhile
        got = min(stop_at, int((time.monotonic() - started) * rate))
        if node.free_bytes < got - node.files.get(dest, 0):
            _grow(node, dest, node.files[dest] + max(0, node.free_bytes))
            full = f"{HOME}/...transferring.file........: write failed, filesystem is full"
            return session.write(mid, _errors(f"{full}\nerror: file-fetch failed"))
        _grow(node, dest, got)
        if session.closed:
            return
        if got >= stop_at:
            break
    if stop_at < size:
        reset = "fetch: transfer interrupted: Connection reset by peer"
        session.write(mid, _errors(f"{reset}\nerror: file-fetch failed"))
        return
    content.partial = False
    content.corrupt = "transfer-corrupt" in cluster.faults
    session.write(mid, "")  # success is an empty reply (PyEZ: True)


# ---------------------------------------------------------------------------- file RPCs


def rpc_file_delete(ctx: Ctx, args: dict[str, Any]) -> Reply:
    path = str(args.get("path", ""))
    node = ctx.cluster.nodes[ctx.node]
    if path not in node.files:
        return error(f"error: could not delete {path}: No such file or directory")
    _remove(ctx.cluster, node, path)
    return Reply("")


def checksum(ctx: Ctx, args: dict[str, Any], algorithm: str) -> Reply | None:
    """The checksum of a transferred file, None for a file this module did not write."""
    path = str(args.get("path", ""))
    content = contents(ctx.cluster, ctx.node).get(path)
    if content is None or path not in ctx.cluster.nodes[ctx.node].files:
        return None
    return Reply(
        f"<checksum-information>\n<file-checksum>\n<computation-method>{algorithm.upper()}"
        f"</computation-method>\n<input-file>{escape(path)}</input-file>\n"
        f"<checksum>{content.digest(path, algorithm)}</checksum>\n</file-checksum>\n"
        "</checksum-information>"
    )


# ---------------------------------------------------------------------------- cleanup


def cleanable(ctx: Ctx) -> list[tuple[str, int]]:
    """What `request system storage cleanup` removes: rotated logs, a core file on a node
    whose disk is full (disk-full faults), and what sits in /var/tmp (staged images too, as
    on a real box: cleanup runs before a copy, never after it)."""
    node = ctx.cluster.nodes[ctx.node]
    done = contents(ctx.cluster, ctx.node).get("_cleaned") is not None
    logs = [("/var/log/messages.0.gz", 114_688), ("/var/log/chassisd.0.gz", 24_576)]
    files = [] if done else logs
    if not done and node.free_bytes < 1_000_000_000:
        files.append(("/var/crash/flowd_octeon_hm.core.0.gz", 3_500_000_000))
    files += [(p, s) for p, s in sorted(node.files.items()) if p.startswith("/var/tmp/")]
    return files


def rpc_request_system_storage_cleanup(ctx: Ctx, args: dict[str, Any]) -> Reply:
    files = cleanable(ctx)
    if args.get("dry-run"):
        rows = "".join(
            f"<file>\n<file-name>{escape(p)}</file-name>\n"
            f'<size junos:format="{s // 1024}K">{s}</size>\n<date>May 26 03:00</date>\n</file>\n'
            for p, s in files
        )
        return Reply(
            "<system-storage-cleanup-information>\n"
            f'<file-list junos:style="normal">\n{rows}</file-list>\n'
            "</system-storage-cleanup-information>"
        )
    node = ctx.cluster.nodes[ctx.node]
    for path, size in files:
        if path in node.files:
            _remove(ctx.cluster, node, path)
        else:
            node.free_bytes += size
    contents(ctx.cluster, ctx.node)["_cleaned"] = Content()
    return Reply(
        "<system-storage-cleanup-information>\n<success/>\n</system-storage-cleanup-information>"
    )


# ---------------------------------------------------------------------------- SFTP


@dataclass
class _Upload:
    path: str
    content: Content
    size: int = 0
    md5: Any = field(default_factory=hashlib.md5)
    sha256: Any = field(default_factory=hashlib.sha256)
    ordered: bool = True
    failed: bool = False


class NodeSftp(asyncssh.SFTPServer):
    """Writes into the node's /var/tmp: sizes and digests kept, bytes dropped."""

    def __init__(self, chan: Any, cluster: Cluster, node: str, record: Record) -> None:
        super().__init__(chan)
        self.cluster, self.node, self.record = cluster, cluster.nodes[node], record

    def _attrs(self, path: str) -> asyncssh.SFTPAttrs:
        if path in ("/var/tmp", "/var/tmp/", HOME):
            return asyncssh.SFTPAttrs(permissions=0o040755, size=512)
        if path not in self.node.files:
            raise asyncssh.SFTPNoSuchFile(f"{path}: No such file or directory")
        return asyncssh.SFTPAttrs(permissions=0o100644, size=self.node.files[path])

    def realpath(self, path: bytes) -> bytes:
        text = path.decode()
        return posixpath.normpath(posixpath.join(HOME, text)).encode()

    def stat(self, path: bytes) -> asyncssh.SFTPAttrs:
        return self._attrs(self.realpath(path).decode())

    lstat = stat

    def fstat(self, file_obj: object) -> asyncssh.SFTPAttrs:
        assert isinstance(file_obj, _Upload)
        return asyncssh.SFTPAttrs(permissions=0o100644, size=file_obj.size)

    def open(self, path: bytes, pflags: int, attrs: asyncssh.SFTPAttrs) -> object:
        name = self.realpath(path).decode()
        if not pflags & asyncssh.FXF_WRITE:
            raise asyncssh.SFTPPermissionDenied("the lab's nodes accept uploads only")
        if not name.startswith("/var/tmp/"):
            raise asyncssh.SFTPPermissionDenied(f"{name}: Permission denied")
        _remove(self.cluster, self.node, name)
        content = Content(partial=True)
        contents(self.cluster, self.node.name)[name] = content
        _grow(self.node, name, 0)
        return _Upload(name, content)

    async def write(self, file_obj: object, offset: int, data: bytes) -> int:
        assert isinstance(file_obj, _Upload)
        up = file_obj
        if "transfer-fails" in self.cluster.faults and up.size >= _half():
            up.failed = True  # the partial file stays
            self.record("sftp-upload", {"path": up.path, "bytes": up.size}, "error")
            raise asyncssh.SFTPFailure("write failed: Connection reset by peer")
        if self.node.free_bytes < len(data):
            raise asyncssh.SFTPFailure(f"{up.path}: write failed, filesystem is full")
        if offset != up.size:
            up.ordered = False
        up.md5.update(data)
        up.sha256.update(data)
        up.size += len(data)
        _grow(self.node, up.path, up.size)
        if "slow-link" in self.cluster.faults:
            await asyncio.sleep(len(data) / link_bytes_per_s(self.cluster))
        return len(data)

    def close(self, file_obj: object) -> None:
        if not isinstance(file_obj, _Upload) or file_obj.failed or not file_obj.content.partial:
            return
        up = file_obj
        up.content.sums = {"md5": up.md5.hexdigest(), "sha256": up.sha256.hexdigest()}
        up.content.corrupt = not up.ordered or "transfer-corrupt" in self.cluster.faults
        up.content.partial = False
        self.record("sftp-upload", {"path": up.path, "bytes": up.size}, "ok")

    def remove(self, path: bytes) -> None:
        name = self.realpath(path).decode()
        if name not in self.node.files:
            raise asyncssh.SFTPNoSuchFile(f"{name}: No such file or directory")
        _remove(self.cluster, self.node, name)


def _half() -> int:
    """transfer-fails on a push: the link drops after this many bytes."""
    return min(1 << 20, max(SETTINGS.sources.values(), default=2 << 20) // 2)


class _Switch(asyncssh.SSHServerSession):  # type: ignore[type-arg,misc,unused-ignore]
    """One SSH session of a node: NETCONF, or SFTP when the client asks for that subsystem."""

    def __init__(self, netconf: Any, sftp: Any) -> None:
        self._netconf, self._sftp = netconf, sftp
        self._inner: Any = None
        self._chan: Any = None

    def connection_made(self, chan: Any) -> None:
        self._chan = chan

    def subsystem_requested(self, subsystem: str) -> bool:
        if subsystem == "sftp":
            self._inner = asyncssh.stream.SSHServerStreamSession(None, self._sftp, 3)
        else:
            self._inner = self._netconf()
        self._inner.connection_made(self._chan)
        return bool(self._inner.subsystem_requested(subsystem))

    def __getattr__(self, name: str) -> Any:
        inner = self.__dict__.get("_inner")
        if inner is None:
            raise AttributeError(name)
        return getattr(inner, name)

    def session_started(self) -> None:
        self._inner.session_started()

    def data_received(self, data: Any, datatype: Any) -> None:
        self._inner.data_received(data, datatype)

    def eof_received(self) -> bool:
        return bool(self._inner.eof_received()) if self._inner else False

    def connection_lost(self, exc: Exception | None) -> None:
        if self._inner is not None:
            self._inner.connection_lost(exc)

    def pause_writing(self) -> None:
        if self._inner is not None:
            self._inner.pause_writing()

    def resume_writing(self) -> None:
        if self._inner is not None:
            self._inner.resume_writing()


def session(cluster: Cluster, node: str, netconf: Any, record: Record) -> _Switch:
    """The session object a node's SSH server hands asyncssh (server.SshServer); `record`
    writes an upload to the audit log as `sftp-upload`."""
    return _Switch(netconf, lambda chan: NodeSftp(chan, cluster, node, record))


def _md5(ctx: Ctx, args: dict[str, Any]) -> Reply:
    return checksum(ctx, args, "md5") or replies.rpc_get_checksum_information(ctx, args)


def _sha256(ctx: Ctx, args: dict[str, Any]) -> Reply:
    return checksum(ctx, args, "sha256") or replies.rpc_get_sha256_checksum_information(ctx, args)


HANDLERS = {
    "get-checksum-information": _md5,
    "get-sha256-checksum-information": _sha256,
    "file-copy": rpc_file_copy,
    "file-delete": rpc_file_delete,
    "request-system-storage-cleanup": rpc_request_system_storage_cleanup,
}


def register() -> None:
    """Add these RPCs to the lab's dispatch (simulator.replies)."""
    replies.EXTRA.update(HANDLERS)
