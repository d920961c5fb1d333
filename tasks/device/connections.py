"""Node connections: napalm's junos driver, one named Nornir connection per cluster node.

A Nornir host is a cluster; its two nodes are the connections `node0` and `node1`, each with
its own hostname/port in `connection_options`. The plugin below is napalm's junos driver
with two things nornir-napalm cannot do: verify host keys against a known_hosts file
(napalm never asks PyEZ to) and bound the SSH connect time.
"""

from __future__ import annotations

import contextlib
import copy
import logging
import threading
from typing import Any

from napalm import get_network_driver
from nornir.core.configuration import Config
from nornir.core.plugins.connections import ConnectionPluginRegister
from nornir.core.task import Task
from nornir_napalm.plugins.connections import Napalm

from tasks.device import session_tuning
from tasks.device.hosts import PREPARED
from tasks.device.junos import PyezRpc
from tasks.device.rpc import Devices
from tasks.errors import AuthFailed, BadInput, NodeUnreachable
from tasks.state.transcripts import Recorder
from tasks.vocabulary import NODES

log = logging.getLogger(__name__)

# SSH session set-ups in progress at once, process-wide. A fleet run starts hundreds of
# clusters together; thousands of simultaneous key exchanges on a GIL-bound client make
# each one slow enough to hit its connect timeout. Queued, they all succeed.
OPENING = threading.BoundedSemaphore(24)

session_tuning.apply()


class JunosNode(Napalm):
    """Nornir connection plugin: one NETCONF session to one cluster node. nornir-napalm's
    plugin, with open() replaced: napalm cannot be told to verify host keys or bound the SSH
    connect time before it connects, and nornir-napalm shares one optional_args dict
    between hosts (docs/design/netconf.md, "Connecting safely").

    `extras` keys: optional_args (napalm's, own dict per node), timeout (per-RPC seconds),
    connect_timeout (SSH connect seconds), hostkey_verify (bool).
    """

    connection: Any

    def open(
        self,
        hostname: str | None,
        username: str | None,
        password: str | None,
        port: int | None,
        platform: str | None,
        extras: dict[str, Any] | None = None,
        configuration: Config | None = None,
    ) -> None:
        extras = copy.deepcopy(extras or {})
        if not extras.pop(PREPARED, False):  # never with the user's ssh_config or no key policy
            raise BadInput(
                f"connection to {hostname} not prepared: use the srx_* tasks "
                "(or tasks.device.hosts.prepare_host) before opening node sessions"
            )
        optional = dict(extras.pop("optional_args", None) or {})
        if port:
            optional["port"] = port
        connect_timeout = extras.pop("connect_timeout", None)
        verify = bool(extras.pop("hostkey_verify", False))
        driver = get_network_driver("junos")(
            hostname=hostname,
            username=username,
            password=password,
            timeout=int(extras.pop("timeout", 60)),
            optional_args=optional,
        )
        if connect_timeout:
            driver.device._conn_open_timeout = max(1, int(connect_timeout))
        driver.device._hostkey_verify = verify
        try:
            with OPENING:
                driver.open()
        except Exception as exc:  # PyEZ and napalm raise several unrelated types here
            raise _unreachable(exc, str(username), f"{hostname}:{optional.get('port')}") from exc
        self.connection = driver

    def close(self) -> None:
        close_quietly(self.connection)


def _unreachable(exc: Exception, user: str, address: str) -> NodeUnreachable:
    """Why a session did not open: refused credentials (AuthFailed: PyEZ's ConnectAuthError,
    whatever wraps it) are told apart from a node that cannot be reached."""
    from jnpr.junos.exception import ConnectAuthError

    chain = [exc, exc.__cause__, exc.__context__]
    if any(isinstance(e, ConnectAuthError) for e in chain):
        return AuthFailed(user, address)
    cause = exc.__cause__ or exc.__context__
    reason = type(exc).__name__ + (f" ({type(cause).__name__})" if cause else "")
    return NodeUnreachable(f"cannot connect to {address}: {reason}")


def close_quietly(driver: Any) -> None:
    """Close a session that may be dead: a closed one is a no-op, a silent one must not hang."""
    with contextlib.suppress(Exception):
        driver.device.timeout = 2
        driver.close()


def register() -> None:
    for name in NODES:
        ConnectionPluginRegister.register(name, JunosNode)


def node_rpc(task: Task, node: str, *, timeout: float, recorder: Recorder | None = None) -> PyezRpc:
    """The RPC client on `node`'s managed session (opened on first use)."""
    driver = task.host.get_connection(node, task.nornir.config)
    return PyezRpc(
        driver.device, cluster=task.host.name, node=node, timeout=timeout, recorder=recorder
    )


def drop(task: Task, node: str) -> None:
    """Forget `node`'s managed session (after a reboot or a lost reply) without waiting on it."""
    conn = task.host.connections.pop(node, None)
    if conn is not None:
        close_quietly(conn.connection)


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
    plugin: Any = task.host.connections.pop(node, None)
    alive = False
    if plugin is not None:
        with contextlib.suppress(Exception):
            alive = bool(plugin.connection.is_alive().get("is_alive"))
    if plugin is None or not alive:
        if plugin is not None:
            close_quietly(plugin.connection)
        return open_side_session(task, node, recorder)
    params = task.host.get_connection_parameters(node)
    rpc = PyezRpc(
        plugin.connection.device,
        cluster=task.host.name,
        node=node,
        timeout=float((params.extras or {}).get("timeout", 60)),
        recorder=recorder,
    )
    return plugin, rpc


def open_side_session(
    task: Task, node: str, recorder: Recorder | None = None
) -> tuple[JunosNode, PyezRpc]:
    """A session of its own on `node`, for an RPC whose reply may never come (ICU start)."""
    params = task.host.get_connection_parameters(node)
    plugin = JunosNode()
    plugin.open(
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
        plugin.connection.device,
        cluster=task.host.name,
        node=node,
        timeout=timeout,
        recorder=recorder,
    )
    return plugin, rpc


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


register()  # node0 / node1 exist as soon as the tasks that use them are imported
