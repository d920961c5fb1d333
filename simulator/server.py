"""Transport and runtime: asyncssh SSH server per node (its fxp0), the `netconf` subsystem
with NETCONF 1.0 `]]>]]>` framing, and the clock that drives every cluster's model."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import time
import warnings
from dataclasses import dataclass, field
from typing import Any, TextIO
from xml.sax.saxutils import escape

with warnings.catch_warnings():
    # asyncssh's DSA key support warns on import with this cryptography release (a warning
    # about a key type no lab or node here uses), on every run's stderr: not for operators
    warnings.simplefilter("ignore")
    import asyncssh
from lxml import etree

from simulator import transfers
from simulator.model import Cluster
from simulator.replies import Ctx, dispatch

transfers.register()  # file copy, storage cleanup, checksums of copies

EOM = "]]>]]>"
ICU_RPC = "request-package-in-service-upgrade"
ADD_RPC = "request-package-add"
GARBLED_RPC = "get-system-storage"  # reply-garbled: the first reply to it is cut in half
HELLO = """<!-- No zombies were killed during the creation of this user interface -->
<!-- user {user}, class j-super-user -->
<nc:hello xmlns:nc="urn:ietf:params:xml:ns:netconf:base:1.0">
  <nc:capabilities>
    <nc:capability>urn:ietf:params:netconf:base:1.0</nc:capability>
    <nc:capability>urn:ietf:params:netconf:capability:candidate:1.0</nc:capability>
    <nc:capability>urn:ietf:params:netconf:capability:confirmed-commit:1.0</nc:capability>
    <nc:capability>urn:ietf:params:netconf:capability:validate:1.0</nc:capability>
    <nc:capability>http://xml.juniper.net/netconf/junos/1.0</nc:capability>
    <nc:capability>http://xml.juniper.net/dmi/system/1.0</nc:capability>
  </nc:capabilities>
  <nc:session-id>{sid}</nc:session-id>
</nc:hello>
]]>]]>"""


def envelope(release: str, mid: str, body: str) -> str:
    """A reply as the lab frames it (before the end-of-message mark)."""
    return (
        '<nc:rpc-reply xmlns:nc="urn:ietf:params:xml:ns:netconf:base:1.0" '
        f'xmlns:junos="http://xml.juniper.net/junos/{release}/junos" message-id="{mid}">\n'
        f"{body}\n</nc:rpc-reply>\n"
    )


def late_body(ok: bool, text: str) -> str:
    """The ICU RPC's answer when the ICU ended without the primary's reboot."""
    return f"<output>{escape(text)}</output>\n<package-result>{0 if ok else 1}</package-result>"


def install_body(ok: bool, text: str) -> str:
    """A package add's answer when its install ended (`request system software add`)."""
    return f"<output>{escape(text)}</output>\n<package-result>{0 if ok else 1}</package-result>"


def audit_line(
    cluster: str, node: str, sid: int, rpc: str, args: dict[str, Any], result: str, ts: float
) -> dict[str, Any]:
    """One audit record (docs/development/lab-contract.md, "Audit log")."""
    clean = {k: v for k, v in args.items() if not k.startswith("_")}
    if "_text" in args:
        clean["command"] = args["_text"]
    return {
        "ts": round(ts, 3),
        "cluster": cluster,
        "node": node,
        "session": sid,
        "rpc": rpc,
        "args": clean,
        "result": result,
    }


@dataclass(eq=False)
class SimCluster:
    model: Cluster
    target: str
    servers: list[NodeServer] = field(default_factory=list)
    icu_waiter: tuple[NetconfSession, str] | None = None  # the ICU RPC awaiting its reply
    garbled: bool = False  # reply-garbled: the one malformed reply has been sent
    data: dict[str, Any] = field(default_factory=dict)  # the lab file's `data:` (inventory)
    # node -> the package add awaiting its reply (a NetconfSession, or an in-process wire)
    install_waiters: dict[str, tuple[Any, str]] = field(default_factory=dict)
    packages: tuple[str, ...] = ()  # releases whose package the lab put on both nodes

    def framed(self, rpc: str, body: str) -> str:
        """`body` as sent: reply-garbled cuts the first get-system-storage reply in half."""
        if rpc == GARBLED_RPC and "reply-garbled" in self.faults and not self.garbled:
            self.garbled = True  # framed, but half its elements are missing
            return body[: len(body) // 2]
        return body

    @property
    def faults(self) -> frozenset[str]:
        return self.model.faults


@dataclass(eq=False)
class NodeServer:
    lab: Lab
    cluster: SimCluster
    node: str
    port: int = 0
    key: asyncssh.SSHKey | None = None
    listener: Any = None
    sessions: set[NetconfSession] = field(default_factory=set)
    held: socket.socket | None = None  # the port kept while the node is down (hold_port)

    def hold_port(self) -> None:
        """While the node is down its port stays bound, not listening: a connection is
        refused there (as by a rebooting box), and no other process (another lab, a
        client's ephemeral port) can take the port and answer in its place."""
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", self.port))
        except OSError:  # taken in the moment between: as before, nothing held
            sock.close()
            return
        self.held = sock

    def release_port(self) -> None:
        if self.held is not None:
            self.held.close()
            self.held = None


class Lab:
    """Every cluster of the lab in one process; one asyncio loop, one clock task.

    The clock only visits clusters that an RPC touched or whose next event is due, so an
    idle lab of hundreds of clusters costs nothing between events."""

    def __init__(
        self,
        clusters: list[SimCluster],
        *,
        speed: float,
        icu_reply: str,
        audit: TextIO | None,
        t0_sim: float | None = None,
        username: str = "lab",
        password: str = "lab",
    ) -> None:
        self.clusters, self.speed, self.icu_reply = clusters, speed, icu_reply
        self.audit, self.username, self.password = audit, username, password
        self.t0_real = time.monotonic()
        self.t0_sim = time.time() if t0_sim is None else t0_sim
        self.nodes: list[NodeServer] = []
        for c in clusters:
            c.servers = [NodeServer(self, c, n) for n in ("node0", "node1")]
            self.nodes += c.servers
        self.wake = asyncio.Event()
        self.dirty: set[SimCluster] = set(clusters)
        self._sid = 0
        self.clients: dict[int, str] = {}  # NETCONF session id -> the SSH client's version

    def now(self) -> float:
        return self.t0_sim + (time.monotonic() - self.t0_real) * self.speed

    def next_session_id(self) -> int:
        self._sid += 1
        return self._sid

    def client_of(self, sid: int, version: str) -> None:
        """The SSH client's version string of NETCONF session `sid` (its audit records'
        `client`: which client stack spoke, paramiko's or asyncssh's)."""
        self.clients[sid] = version

    def touch(self, cluster: SimCluster) -> None:
        self.dirty.add(cluster)
        self.wake.set()

    async def start(self) -> None:
        for ns in self.nodes:
            ns.key = asyncssh.generate_private_key("ssh-ed25519")
            await self._listen(ns)
        asyncio.get_running_loop().create_task(self._clock())

    async def _listen(self, ns: NodeServer) -> None:
        for _ in range(50):  # a port of a rebooted node may linger for a moment
            try:
                ns.listener = await asyncssh.listen(
                    "127.0.0.1",
                    ns.port,
                    server_factory=lambda ns=ns: SshServer(ns),
                    server_host_keys=[ns.key],
                    reuse_address=True,
                    keepalive_interval=0,
                )
                break
            except OSError:
                await asyncio.sleep(0.1)
        ns.port = ns.listener.sockets[0].getsockname()[1]

    async def _clock(self) -> None:
        due: dict[SimCluster, float] = {}
        while True:
            self.wake.clear()
            now = self.now()
            todo = self.dirty | {c for c, t in due.items() if t <= now}
            self.dirty = set()
            for c in todo:
                c.model.tick(now)
                await self.reconcile(c)
                nxt = c.model.next_event()
                if nxt is None:
                    due.pop(c, None)
                else:
                    due[c] = nxt
            soonest = min(due.values(), default=None)
            timeout = None if soonest is None else max(0.0, (soonest - self.now()) / self.speed)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wake.wait(), timeout)

    async def reconcile(self, c: SimCluster) -> None:
        """Make the transport match the model: down nodes drop their sessions and stop
        listening, booted ones listen again, fault drops happen, a finished ICU replies."""
        for ns in c.servers:
            up = c.model.nodes[ns.node].up
            if not up and ns.listener is not None:
                ns.listener.close()
                ns.listener = None
                ns.hold_port()
                for sess in list(ns.sessions):
                    sess.drop("rpc-silent" in c.faults)
            elif up and ns.listener is None:
                ns.release_port()
                await self._listen(ns)
        while c.model.drops:
            node = c.model.drops.pop()
            for ns in c.servers:
                if ns.node == node:
                    for sess in list(ns.sessions):
                        sess.drop(False)
        while c.model.installed:  # a package add ended: its RPC is answered if still there
            node, ok, text = c.model.installed.pop(0)
            waiter = c.install_waiters.pop(node, None)
            if waiter is not None and not waiter[0].closed:
                sess, mid = waiter
                self.record(sess.ns, sess.sid, "late-reply", {"to": ADD_RPC, "ok": ok}, "ok")
                sess.write(mid, install_body(ok, text))
        if c.icu_waiter is not None and c.model.icu_result is not None:
            sess, mid = c.icu_waiter
            c.icu_waiter = None
            ok, text = c.model.icu_result
            if not sess.closed:  # the ICU ended without the primary's reboot: answer it now
                self.record(sess.ns, sess.sid, "late-reply", {"to": ICU_RPC, "ok": ok}, "ok")
                sess.write(mid, late_body(ok, text))

    def record(self, ns: NodeServer, sid: int, rpc: str, args: dict[str, Any], result: str) -> None:
        if self.audit is None:
            return
        line = audit_line(ns.cluster.model.name, ns.node, sid, rpc, args, result, time.time())
        line["client"] = self.clients.get(sid, "")
        self.audit.write(json.dumps(line) + "\n")
        self.audit.flush()


class SshServer(asyncssh.SSHServer):
    def __init__(self, ns: NodeServer) -> None:
        self.ns = ns

    def begin_auth(self, username: str) -> bool:
        return True

    def password_auth_supported(self) -> bool:
        return True

    def validate_password(self, username: str, password: str) -> bool:
        lab = self.ns.lab
        if "auth-fails" in self.ns.cluster.faults:
            return False
        return username == lab.username and password == lab.password

    def session_requested(self) -> Any:
        ns = self.ns  # NETCONF, or SFTP for pushes (simulator.transfers)
        return transfers.session(
            ns.cluster.model,
            ns.node,
            lambda: NetconfSession(ns),
            lambda rpc, args, result: ns.lab.record(ns, 0, rpc, args, result),
        )


class NetconfSession(asyncssh.SSHServerSession):
    def __init__(self, ns: NodeServer) -> None:
        self.ns, self.buf, self.chan = ns, "", None
        self.sid = ns.lab.next_session_id()
        self.silent = False
        self.closed = False

    def connection_made(self, chan: Any) -> None:
        self.chan = chan
        version = chan.get_extra_info("connection").get_extra_info("client_version")
        self.ns.lab.client_of(self.sid, str(version or ""))

    def subsystem_requested(self, subsystem: str) -> bool:
        if subsystem != "netconf":
            return False
        self.ns.sessions.add(self)
        assert self.chan is not None
        self.chan.write(HELLO.format(user=self.ns.lab.username, sid=self.sid))
        return True

    def data_received(self, data: str, datatype: Any) -> None:
        self.buf += data
        while EOM in self.buf:
            msg, self.buf = self.buf.split(EOM, 1)
            if msg.strip():
                self.handle(msg)

    def handle(self, msg: str) -> None:
        if self.silent:
            return
        try:
            root = etree.fromstring(msg.strip().encode())
        except etree.XMLSyntaxError:
            return
        if etree.QName(root).localname == "hello":
            return
        mid = root.get("message-id", "")
        ops = [c for c in root if isinstance(c.tag, str)]
        if not ops:
            return
        if etree.QName(ops[0]).localname == "close-session":
            self.write(mid, "<ok/>")
            self.drop(False)
            return
        lab, c = self.ns.lab, self.ns.cluster
        c.model.tick(lab.now())
        ctx = Ctx(c.model, self.ns.node, lab.icu_reply, c.target)
        name, args, reply = dispatch(ctx, ops[0])
        lab.record(self.ns, self.sid, name, args, reply.result)
        if reply.body is not None:
            self.write(mid, c.framed(name, reply.body))
        if reply.icu_pending:
            c.icu_waiter = (self, mid)
        if reply.install_pending:
            c.install_waiters[self.ns.node] = (self, mid)
        if reply.later is not None:
            reply.later(self, mid)
        if reply.close_after:
            asyncio.get_running_loop().call_later(0.05, self.drop, False)
        lab.touch(c)

    def write(self, mid: str, body: str) -> None:
        release = self.ns.cluster.model.nodes[self.ns.node].release
        if self.chan is None or self.closed:
            return
        self.chan.write(envelope(release, mid, body) + EOM)

    def drop(self, black_hole: bool) -> None:
        """Close the session (a reboot), or keep TCP open and answer nothing (rpc-silent)."""
        self.ns.sessions.discard(self)
        if black_hole:
            self.silent = True
            return
        self.closed = True
        if self.chan is not None:
            self.chan.get_extra_info("connection").abort()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.ns.sessions.discard(self)
