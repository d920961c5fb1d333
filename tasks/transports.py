"""How a run's node sessions travel, chosen per run: `--transport napalm|asyncssh` on the
CLI, `user_defined.transport` in config.yaml, the same key for a user's own Nornir script
(tasks.executor.default_context), or `devices=devices_for(...)` in a RunContext of one's own.

* napalm (the default): napalm's junos driver, PyEZ, ncclient, paramiko
  (tasks.device.connections); also what the node0/node1 Nornir connection plugins give.
* asyncssh: NETCONF on asyncssh, one event loop per process (tasks.device.asyncssh_node).

Both send the same RPCs, read the replies with the same parsers and raise the same errors
(tasks.device.rpc). docs/design/netconf.md, "The asyncssh transport", says why and how.
"""

from __future__ import annotations

from typing import Any

from tasks.errors import BadInput
from tasks.vocabulary import TRANSPORTS

DEFAULT_TRANSPORT = TRANSPORTS[0]


def checked_transport(value: Any) -> str:
    """A transport's name, None meaning the default (BadInput, one line, for any other)."""
    if value is None:
        return DEFAULT_TRANSPORT
    if not isinstance(value, str) or value not in TRANSPORTS:
        shown = repr(value) if isinstance(value, str) else type(value).__name__
        raise BadInput(f"unknown transport {shown[:40]} (one of: {', '.join(TRANSPORTS)})")
    return value


def devices_for(transport: Any) -> Any:
    """A run's devices (RunContext.devices) for `transport`: None for napalm (the default
    sessions, tasks.device.connections), else a new pool of asyncssh sessions."""
    if checked_transport(transport) == "napalm":
        return None
    from tasks.device.asyncssh_devices import AsyncsshDevices  # asyncssh loads on first use

    return AsyncsshDevices()
