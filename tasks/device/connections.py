"""Node connections: one named Nornir connection per cluster node, pooled per host.

A Nornir host is a cluster; its two nodes are the connections `node0` and `node1`, each with
its own hostname/port in `connection_options`. Their plugin, napalm's junos driver with host
keys verified and the connect time bounded, is tasks.device.napalm_node: it is loaded (and
registered as node0/node1) on first use, so what only checks input (the CLI before it
touches a device) never loads napalm, PyEZ, ncclient or paramiko.
"""

from __future__ import annotations

import contextlib
import logging
from typing import TYPE_CHECKING, Any

from nornir.core.task import Task

from tasks.device.junos import PyezRpc
from tasks.device.rpc import Devices
from tasks.state.transcripts import Recorder
from tasks.vocabulary import NODES

if TYPE_CHECKING:
    from tasks.device.napalm_node import JunosNode

log = logging.getLogger(__name__)


def plugin() -> Any:
    """tasks.device.napalm_node, imported (its import registers node0/node1) on first use."""
    from tasks.device import napalm_node

    return napalm_node


def node_rpc(task: Task, node: str, *, timeout: float, recorder: Recorder | None = None) -> PyezRpc:
    """The RPC client on `node`'s managed session (opened on first use)."""
    plugin()
    driver = task.host.get_connection(node, task.nornir.config)
    return PyezRpc(
        driver.device, cluster=task.host.name, node=node, timeout=timeout, recorder=recorder
    )


def drop(task: Task, node: str) -> None:
    """Forget `node`'s managed session (after a reboot or a lost reply) without waiting on it."""
    conn = task.host.connections.pop(node, None)
    if conn is not None:
        plugin().close_quietly(conn.connection)


def drop_all(task: Task) -> None:
    for node in NODES:
        drop(task, node)


def take_session(
    task: Task, node: str, recorder: Recorder | None = None
) -> tuple[JunosNode, PyezRpc]:
    """A session for an RPC whose reply may never come (the ICU start): `node`'s managed
    session, taken out of the host's pool so nothing else ever uses it again (the next RPC
    to that node opens a fresh one), or a new session when none is held. Taking the one the
    pre-checks used saves a key exchange per cluster at the busiest moment of a fleet run."""
    held: Any = task.host.connections.pop(node, None)
    alive = False
    if held is not None:
        with contextlib.suppress(Exception):
            alive = bool(held.connection.is_alive().get("is_alive"))
    if held is None or not alive:
        if held is not None:
            plugin().close_quietly(held.connection)
        return open_side_session(task, node, recorder)
    params = task.host.get_connection_parameters(node)
    rpc = PyezRpc(
        held.connection.device,
        cluster=task.host.name,
        node=node,
        timeout=float((params.extras or {}).get("timeout", 60)),
        recorder=recorder,
    )
    return held, rpc


def open_side_session(
    task: Task, node: str, recorder: Recorder | None = None
) -> tuple[JunosNode, PyezRpc]:
    """A session of its own on `node`, for an RPC whose reply may never come (ICU start)."""
    params = task.host.get_connection_parameters(node)
    opened = plugin().JunosNode()
    opened.open(
        hostname=params.hostname,
        username=params.username,
        password=params.password,
        port=params.port,
        platform=params.platform,
        extras=params.extras,
        configuration=task.nornir.config,
    )
    timeout = float((params.extras or {}).get("timeout", 60))
    rpc = PyezRpc(
        opened.connection.device,
        cluster=task.host.name,
        node=node,
        timeout=timeout,
        recorder=recorder,
    )
    return opened, rpc


class NapalmDevices:
    """The sessions of every run unless its context names others (tasks.device.rpc.Devices):
    napalm's junos driver, one pooled Nornir connection per node (the functions above)."""

    sequential = False  # the two nodes of a cluster are observed in parallel

    def node_rpc(
        self, task: Task, node: str, *, timeout: float, recorder: Recorder | None = None
    ) -> PyezRpc:
        return node_rpc(task, node, timeout=timeout, recorder=recorder)

    def take_session(
        self, task: Task, node: str, recorder: Recorder | None = None
    ) -> tuple[JunosNode, PyezRpc]:
        return take_session(task, node, recorder)

    def open_side_session(
        self, task: Task, node: str, recorder: Recorder | None = None
    ) -> tuple[JunosNode, PyezRpc]:
        return open_side_session(task, node, recorder)

    def drop(self, task: Task, node: str) -> None:
        drop(task, node)

    def drop_all(self, task: Task) -> None:
        drop_all(task)


NAPALM: Devices = NapalmDevices()


def devices_of(devices: Any) -> Devices:
    """A run's devices (RunContext.devices): napalm/PyEZ when it names none."""
    return NAPALM if devices is None else devices
