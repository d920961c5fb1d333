"""NETCONF sessions on asyncssh: one event loop per process, in a thread of its own, serving
every cluster thread of the run (docs/design/netconf.md, "The asyncssh transport").

A session here is a wire (tasks.device.junos.Wire): the request element goes in, the whole
`<rpc-reply>` comes out as text, and tasks.device.junos.WireRpc reads it exactly as it reads
an in-process lab's: an rpc-error of severity error raises DeviceRefused, warnings stay in
the reply, namespaces are stripped, a reply that is not XML is UnreadableReply. Failures
are a socket's builtin errors, as WireRpc expects: TimeoutError (no reply within the RPC's
timeout: the reply that never comes, such as the ICU's, is dropped if it ever comes) and
ConnectionResetError (the session closed: every RPC waiting on it fails at once, and
every later one without being sent).

Opening a session: TCP, SSH with the password only (no agent, no keys of the user, no
GSSAPI, never ~/.ssh/config), the node's host key verified against the inventory's
known_hosts (parsed once per process), the `netconf` subsystem, both hellos, 1.1 framing
when both sides offer it. At most OPENING set-ups are in progress at once, process-wide;
the connect timeout counts from when a set-up's turn comes. Keepalives every
KEEPALIVE_SECONDS find a peer that vanished while no RPC was waiting.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import hashlib
import os
import threading
import warnings
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

with warnings.catch_warnings():
    # asyncssh's DSA key support warns on import with this cryptography release (a warning
    # about a key type no lab or node here uses), on every run's stderr: not for operators
    warnings.simplefilter("ignore")
    import asyncssh

from tasks.device.netconf_framing import (
    Deframer,
    FramingError,
    client_hello,
    frame,
    parse_hello,
    reply_id,
    rpc_message,
)
from tasks.errors import AuthFailed, NodeUnreachable

OPENING = 64  # SSH set-ups in progress at once, process-wide
KEEPALIVE_SECONDS = 30.0
KEEPALIVE_MISSES = 3
# Ciphers in our order of preference (the peer's list decides among them): AES-GCM first,
# one cipher context per key in `cryptography`; asyncssh's chacha20-poly1305 builds two per
# packet, and so costs more CPU per RPC than everything else in the session together.
CIPHERS = (
    "aes128-gcm@openssh.com",
    "aes256-gcm@openssh.com",
    "aes128-ctr",
    "aes192-ctr",
    "aes256-ctr",
    "chacha20-poly1305@openssh.com",
)
_LOOP_SLACK = 30.0  # a caller waits this much past an RPC's own timeout for the loop

T = TypeVar("T")


class EventLoop:
    """The process's event loop, run by a daemon thread; callers block on its results."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.opening = asyncio.Semaphore(OPENING)
        self.pid = os.getpid()
        thread = threading.Thread(target=self.loop.run_forever, name="netconf-loop", daemon=True)
        thread.start()

    def run(self, coro: Awaitable[T], timeout: float | None = None) -> T:
        """`coro`'s result, from another thread (its exceptions raised here)."""
        future: concurrent.futures.Future[T] = asyncio.run_coroutine_threadsafe(
            coro,  # type: ignore[arg-type]
            self.loop,
        )
        try:
            return future.result(timeout)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise TimeoutError("the event loop did not answer in time") from None

    def soon(self, callback: Callable[[], Any]) -> None:
        self.loop.call_soon_threadsafe(callback)


_LOOP: EventLoop | None = None
_LOOP_LOCK = threading.Lock()


def event_loop() -> EventLoop:
    """This process's loop, started on first use (again in a forked child)."""
    global _LOOP
    with _LOOP_LOCK:
        if _LOOP is None or _LOOP.pid != os.getpid():
            _LOOP = EventLoop()
        return _LOOP


@dataclass(frozen=True)
class Endpoint:
    """Where and how to open one node's session."""

    hostname: str
    port: int
    username: str
    password: str
    known_hosts: Path | None  # None: host keys not checked (host_key_check: false)
    connect_timeout: float

    @property
    def address(self) -> str:
        return f"{self.hostname}:{self.port}"


_KNOWN: dict[tuple[Path, float], asyncssh.SSHKnownHosts] = {}


def _known_hosts(path: Path | None) -> asyncssh.SSHKnownHosts | None:
    """The known_hosts file parsed once per process (and again when it changes)."""
    if path is None:
        return None
    key = (path, path.stat().st_mtime)
    known = _KNOWN.get(key)
    if known is None:
        known = _KNOWN[key] = asyncssh.read_known_hosts(str(path))
    return known


def ssh_options(end: Endpoint) -> dict[str, Any]:
    """asyncssh's connect options: the password only, our known_hosts, no user config."""
    return {
        "username": end.username,
        "password": end.password,
        "known_hosts": _known_hosts(end.known_hosts),
        "config": None,  # never ~/.ssh/config
        "client_keys": None,
        "agent_path": None,
        "gss_host": None,
        "preferred_auth": "password,keyboard-interactive",
        "encryption_algs": CIPHERS,
        "keepalive_interval": KEEPALIVE_SECONDS,
        "keepalive_count_max": KEEPALIVE_MISSES,
    }


async def ssh_connect(end: Endpoint) -> asyncssh.SSHClientConnection:
    """An SSH connection to `end` (our errors: AuthFailed, NodeUnreachable)."""
    try:
        options = ssh_options(end)
    except (OSError, ValueError) as exc:
        raise NodeUnreachable(f"cannot read known_hosts {end.known_hosts}: {exc}") from None
    try:
        return await asyncio.wait_for(
            asyncssh.connect(end.hostname, end.port, **options), end.connect_timeout
        )
    except asyncssh.PermissionDenied:
        raise AuthFailed(end.username, end.address) from None
    except asyncssh.HostKeyNotVerifiable as exc:
        raise NodeUnreachable(
            f"cannot connect to {end.address}: host key not verified against "
            f"{end.known_hosts} ({exc.reason})"
        ) from None
    except (OSError, asyncssh.Error) as exc:  # TimeoutError is an OSError
        reason = type(exc).__name__ + (f" ({exc})" if str(exc) else "")
        raise NodeUnreachable(f"cannot connect to {end.address}: {reason}") from None


class _Channel(asyncssh.SSHClientSession[bytes]):
    """The netconf subsystem's channel: bytes in, whole messages out to their waiters."""

    def __init__(self) -> None:
        self.deframer = Deframer()
        self.hello: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self.pending: dict[str, asyncio.Future[bytes]] = {}
        self.closed = False
        self.chan: asyncssh.SSHClientChannel[bytes] | None = None

    def connection_made(self, chan: asyncssh.SSHClientChannel[bytes]) -> None:
        self.chan = chan

    def data_received(self, data: bytes, datatype: asyncssh.DataType) -> None:
        if datatype is not None:
            return  # stderr of a subsystem: not NETCONF
        try:
            messages = self.deframer.feed(data)
        except FramingError as exc:
            self._lost(ConnectionResetError(f"framing broken: {exc}"))
            if self.chan is not None:
                self.chan.abort()
            return
        for message in messages:
            self._deliver(message)

    def _deliver(self, message: bytes) -> None:
        if not self.hello.done():
            self.hello.set_result(message)
            return
        mid = reply_id(message)
        waiter = self.pending.pop(mid, None) if mid is not None else None
        if waiter is None and mid is None and self.pending:  # no id: the oldest request's
            waiter = self.pending.pop(next(iter(self.pending)))
        if waiter is not None and not waiter.done():
            waiter.set_result(message)
        # else: the late reply of an RPC given up on (its timeout passed): dropped

    def eof_received(self) -> bool:
        self._lost(ConnectionResetError("the node closed the session"))
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self._lost(ConnectionResetError(f"session closed ({exc})" if exc else "session closed"))

    def _lost(self, error: ConnectionResetError) -> None:
        self.closed = True
        waiters = [self.hello, *self.pending.values()]
        self.pending.clear()
        for waiter in waiters:
            if not waiter.done():
                waiter.set_exception(error)
                waiter.exception()  # retrieved: no "never retrieved" warning for the hello


class NetconfSession:
    """One open NETCONF session (tasks.device.junos.Wire), used from any thread."""

    def __init__(
        self,
        loop: EventLoop,
        conn: asyncssh.SSHClientConnection,
        chan: asyncssh.SSHClientChannel[bytes],
        channel: _Channel,
        chunked: bool,
    ) -> None:
        self._loop, self._conn, self._chan, self._channel = loop, conn, chan, channel
        self.chunked = chunked
        self._ids = 0
        key = conn.get_server_host_key()
        self.identity = (
            f"{key.get_algorithm()}:{hashlib.sha256(key.public_data).hexdigest()}" if key else ""
        )

    def rpc(self, request: str, timeout: float) -> str:
        """The reply document to `request` (TimeoutError, ConnectionResetError)."""
        reply = self._loop.run(self._rpc(request, timeout), timeout + _LOOP_SLACK)
        return reply.decode()

    async def _rpc(self, request: str, timeout: float) -> bytes:
        channel = self._channel
        if channel.closed:
            raise ConnectionResetError("session closed")
        self._ids += 1
        mid = str(self._ids)
        waiter = asyncio.get_running_loop().create_future()
        channel.pending[mid] = waiter
        self._chan.write(frame(rpc_message(self._ids, request), chunked=self.chunked))
        try:
            return await asyncio.wait_for(waiter, timeout)
        except TimeoutError:
            channel.pending.pop(mid, None)
            raise TimeoutError(f"no reply within {timeout:g}s") from None

    def alive(self) -> bool:
        return not self._channel.closed

    def close(self) -> None:
        """Close without waiting (a session may be dead or its peer silent)."""
        self._channel.closed = True
        self._loop.soon(self._conn.abort)


async def _start(loop: EventLoop, end: Endpoint) -> NetconfSession:
    conn = await ssh_connect(end)
    try:
        chan, made = await asyncio.wait_for(
            conn.create_session(_Channel, subsystem="netconf", encoding=None),
            end.connect_timeout,
        )
        assert isinstance(made, _Channel)
        channel = made
        chan.write(client_hello())
        hello = parse_hello(await asyncio.wait_for(channel.hello, end.connect_timeout))
    except BaseException as exc:
        conn.abort()
        if isinstance(exc, (OSError, asyncssh.Error, FramingError)):
            reason = type(exc).__name__ + (f" ({exc})" if str(exc) else "")
            raise NodeUnreachable(f"no NETCONF session on {end.address}: {reason}") from None
        raise
    if hello.chunked:
        channel.deframer.chunked()
    return NetconfSession(loop, conn, chan, channel, hello.chunked)


async def _open(loop: EventLoop, end: Endpoint) -> NetconfSession:
    async with loop.opening:  # the connect timeout counts from this set-up's turn
        return await _start(loop, end)


def open_session(end: Endpoint) -> NetconfSession:
    """A new NETCONF session on `end` (AuthFailed, NodeUnreachable)."""
    loop = event_loop()
    return loop.run(_open(loop, end))


Progress = Callable[[int, int], None]  # (bytes sent, total)


def push_file(
    end: Endpoint, local: Path, remote: str, *, deadline: float, progress: Progress
) -> str:
    """Copy `local` to `remote` on the node over SFTP; '' on success, else what went
    wrong (tasks.device.sftp_push's contract). Cut when it outlasts `deadline` seconds."""
    loop = event_loop()
    return loop.run(_push(loop, end, local, remote, deadline, progress))


async def _push(
    loop: EventLoop, end: Endpoint, local: Path, remote: str, deadline: float, progress: Progress
) -> str:
    async with loop.opening:
        conn = await ssh_connect(end)
    try:
        async with conn.start_sftp_client() as sftp:

            def told(_src: bytes, _dst: bytes, sent: int, total: int) -> None:
                progress(sent, total)

            await asyncio.wait_for(sftp.put(str(local), remote, progress_handler=told), deadline)
        return ""
    except TimeoutError:
        return f"the push outlasted its deadline of {deadline:.0f}s"
    except (OSError, asyncssh.Error) as exc:
        return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    finally:
        conn.abort()
