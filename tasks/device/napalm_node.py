"""The Nornir connection plugin of a cluster node: napalm's junos driver (PyEZ, ncclient,
paramiko) with two things nornir-napalm cannot do: verify host keys against a known_hosts
file (napalm never asks PyEZ to) and bound the SSH connect time. Importing it registers the
plugin as the connections `node0` and `node1` and applies tasks.device.session_tuning;
tasks.device.connections imports it on first use (docs/design/netconf.md)."""

from __future__ import annotations

import contextlib
import copy
import threading
from typing import Any

from napalm import get_network_driver
from nornir.core.configuration import Config
from nornir.core.plugins.connections import ConnectionPluginRegister
from nornir_napalm.plugins.connections import Napalm

from tasks.device import session_tuning
from tasks.device.hosts import PREPARED
from tasks.errors import AuthFailed, BadInput, NodeUnreachable
from tasks.vocabulary import NODES

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


def register() -> None:
    for name in NODES:
        ConnectionPluginRegister.register(name, JunosNode)


def close_quietly(driver: Any) -> None:
    """Close a session that may be dead: a closed one is a no-op, a silent one must not hang."""
    with contextlib.suppress(Exception):
        driver.device.timeout = 2
        driver.close()


register()  # node0 / node1 exist as soon as this module is imported
