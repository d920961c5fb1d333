"""Node sessions on asyncssh (tasks.device.rpc.Devices): what a run uses with
`--transport asyncssh` (config `transport: asyncssh`). The sessions are
tasks.device.asyncssh_node's, the RPCs and their replies tasks.device.junos.WireRpc's: the
same request XML, parsers and errors as every other transport.

Sessions are pooled per cluster and node as Nornir pools napalm's: a pooled session that
died stays in the pool until dropped (its next RPC says so at once, without waiting).
The host must be prepared first (tasks.device.hosts.prepare_host: credentials, timeouts,
host-key policy), as for napalm.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

from nornir.core.task import Task

from tasks.device import asyncssh_node
from tasks.device.asyncssh_node import Endpoint, NetconfSession, Progress
from tasks.device.hosts import PREPARED
from tasks.device.junos import WireRpc
from tasks.device.sftp_push import Endpoint as PushEndpoint
from tasks.errors import BadInput
from tasks.state.transcripts import Recorder
from tasks.vocabulary import NODES


def endpoint(task: Task, node: str) -> Endpoint:
    """`node`'s address, credentials, connect timeout and known_hosts (None: not checked)."""
    params = task.host.get_connection_parameters(node)
    extras = params.extras or {}
    if not extras.get(PREPARED):  # never with no key policy
        raise BadInput(
            f"connection to {params.hostname} not prepared: use the srx_* tasks "
            "(or tasks.device.hosts.prepare_host) before opening node sessions"
        )
    known = None
    if extras.get("hostkey_verify"):
        given = task.host.get("known_hosts") or "~/.ssh/known_hosts"
        known = Path(os.path.expanduser(str(given))).resolve()
    return Endpoint(
        hostname=str(params.hostname),
        port=int(params.port or 830),
        username=str(params.username),
        password=str(params.password),
        known_hosts=known,
        connect_timeout=float(extras.get("connect_timeout") or 30),
    )


def _rpc_timeout(task: Task, node: str) -> float:
    params = task.host.get_connection_parameters(node)
    return float((params.extras or {}).get("timeout", 60))


class AsyncsshDevices:
    """tasks.device.rpc.Devices over asyncssh NETCONF sessions."""

    sequential = False  # the two nodes of a cluster are observed in parallel

    def __init__(self) -> None:
        self._pool: dict[tuple[str, str], NetconfSession] = {}
        self._lock = threading.Lock()

    def _rpc(
        self, task: Task, node: str, session: NetconfSession, timeout: float, rec: Recorder | None
    ) -> WireRpc:
        return WireRpc(session, cluster=task.host.name, node=node, timeout=timeout, recorder=rec)

    def node_rpc(
        self, task: Task, node: str, *, timeout: float, recorder: Recorder | None = None
    ) -> WireRpc:
        key = (task.host.name, node)
        with self._lock:
            session = self._pool.get(key)
        if session is None:
            session = asyncssh_node.open_session(endpoint(task, node))
            with self._lock:
                self._pool[key] = session
        return self._rpc(task, node, session, timeout, recorder)

    def take_session(
        self, task: Task, node: str, recorder: Recorder | None = None
    ) -> tuple[NetconfSession, WireRpc]:
        with self._lock:
            session = self._pool.pop((task.host.name, node), None)
        if session is None or not session.alive():
            if session is not None:
                session.close()
            return self.open_side_session(task, node, recorder)
        return session, self._rpc(task, node, session, _rpc_timeout(task, node), recorder)

    def open_side_session(
        self, task: Task, node: str, recorder: Recorder | None = None
    ) -> tuple[NetconfSession, WireRpc]:
        session = asyncssh_node.open_session(endpoint(task, node))
        return session, self._rpc(task, node, session, _rpc_timeout(task, node), recorder)

    def drop(self, task: Task, node: str) -> None:
        with self._lock:
            session = self._pool.pop((task.host.name, node), None)
        if session is not None:
            session.close()

    def drop_all(self, task: Task) -> None:
        for node in NODES:
            self.drop(task, node)

    def push_file(
        self, end: PushEndpoint, local: Path, remote: str, *, deadline: float, progress: Progress
    ) -> str:
        """tasks.device.sftp_push.push_file's contract, over asyncssh's SFTP client."""
        return asyncssh_node.push_file(
            Endpoint(end.hostname, end.port, end.username, end.password, end.known_hosts, 30.0),
            local,
            remote,
            deadline=deadline,
            progress=progress,
        )
