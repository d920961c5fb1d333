"""Node sessions of an in-process lab (tasks.device.rpc.Devices): what a run uses instead of
napalm/PyEZ when a test or a simulation gives it `WireDevices(lab)` in its context.

A lab here is anything that opens in-process sessions by cluster and node name
(simulator/inprocess.py: the simulator's model and replies, in virtual time). Each session
is a wire (tasks.device.junos.Wire): the RPC XML PyEZ would send goes in, the reply document
comes out, and tasks.device.junos.WireRpc reads it with the same parsers as a real one.
Failures are a socket's builtin errors, turned into ours here and in WireRpc exactly as
the real stack's are (tasks.device.connections, tasks.device.junos._mapped):

* open: ConnectionRefusedError (the node is down) -> NodeUnreachable;
  PermissionError (credentials refused) -> AuthFailed;
* RPC: ConnectionResetError (the session closed) and TimeoutError (no reply in time) ->
  SessionLost; a reply that is not XML -> UnreadableReply.

Sessions are pooled per cluster and node as Nornir pools napalm's: a pooled session that
died stays in the pool until dropped (its next RPC says so), as with napalm.
"""

from __future__ import annotations

import threading
from typing import Protocol

from nornir.core.task import Task

from tasks.device.junos import Wire, WireRpc
from tasks.errors import AuthFailed, NodeUnreachable
from tasks.state.transcripts import Recorder


class LabWire(Wire, Protocol):
    def alive(self) -> bool: ...

    def close(self) -> None: ...


class Lab(Protocol):
    def open(self, cluster: str, node: str, username: str, password: str) -> LabWire:
        """A new session on `node` of `cluster` (ConnectionRefusedError, PermissionError)."""
        ...


class WireSession:
    """A session taken out of the pool (tasks.device.rpc.Session)."""

    def __init__(self, wire: LabWire) -> None:
        self.wire = wire

    def close(self) -> None:
        self.wire.close()


class WireDevices:
    """tasks.device.rpc.Devices over `lab`'s in-process sessions."""

    sequential = True  # in virtual time: both nodes in one order, every run the same

    def __init__(self, lab: Lab) -> None:
        self.lab = lab
        self._pool: dict[tuple[str, str], LabWire] = {}
        self._lock = threading.Lock()

    def _open(self, task: Task, node: str) -> LabWire:
        host = task.host
        address = f"in-process {host.name}/{node}"
        try:
            return self.lab.open(host.name, node, str(host.username), str(host.password))
        except PermissionError:
            raise AuthFailed(str(host.username), address) from None
        except ConnectionError as exc:
            raise NodeUnreachable(f"cannot connect to {address}: {type(exc).__name__}") from None

    def _rpc(
        self, task: Task, node: str, wire: LabWire, timeout: float | None, rec: Recorder | None
    ) -> WireRpc:
        if timeout is None:
            params = task.host.get_connection_parameters(node)
            timeout = float((params.extras or {}).get("timeout", 60))
        return WireRpc(wire, cluster=task.host.name, node=node, timeout=timeout, recorder=rec)

    def node_rpc(
        self, task: Task, node: str, *, timeout: float, recorder: Recorder | None = None
    ) -> WireRpc:
        key = (task.host.name, node)
        with self._lock:
            wire = self._pool.get(key)
        if wire is None:
            wire = self._open(task, node)
            with self._lock:
                self._pool[key] = wire
        return self._rpc(task, node, wire, timeout, recorder)

    def take_session(
        self, task: Task, node: str, recorder: Recorder | None = None
    ) -> tuple[WireSession, WireRpc]:
        with self._lock:
            wire = self._pool.pop((task.host.name, node), None)
        if wire is None or not wire.alive():
            if wire is not None:
                wire.close()
            return self.open_side_session(task, node, recorder)
        return WireSession(wire), self._rpc(task, node, wire, None, recorder)

    def open_side_session(
        self, task: Task, node: str, recorder: Recorder | None = None
    ) -> tuple[WireSession, WireRpc]:
        wire = self._open(task, node)
        return WireSession(wire), self._rpc(task, node, wire, None, recorder)

    def drop(self, task: Task, node: str) -> None:
        with self._lock:
            wire = self._pool.pop((task.host.name, node), None)
        if wire is not None:
            wire.close()

    def drop_all(self, task: Task) -> None:
        for node in ("node0", "node1"):
            self.drop(task, node)
