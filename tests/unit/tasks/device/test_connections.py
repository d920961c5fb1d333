"""Node connections (tasks.device.connections): why a session did not open, told in the words an
operator acts on. A refused login is an authentication failure naming the user, the node and
its address, never a routing problem (the real stack against the lab's auth-fails fault:
tests/e2e/test_status_e2e.py)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from jnpr.junos.exception import ConnectAuthError, ConnectRefusedError

from tasks.device import napalm_node
from tasks.device.hosts import PREPARED
from tasks.errors import AuthFailed, NodeUnreachable


class Driver:
    """napalm's junos driver as JunosNode.open uses it; open() raises `error`."""

    def __init__(self, error: Exception) -> None:
        self.error = error
        self.device = SimpleNamespace(hostname="10.0.0.1", user="ops", _port=830)

    def open(self) -> None:
        raise self.error


def open_with(monkeypatch: pytest.MonkeyPatch, error: Exception) -> NodeUnreachable:
    def driver(*args: Any, **kwargs: Any) -> Driver:
        return Driver(error)

    monkeypatch.setattr(napalm_node, "get_network_driver", lambda name: driver)
    with pytest.raises(NodeUnreachable) as caught:
        napalm_node.JunosNode().open(
            "10.0.0.1", "ops", "secret", 830, "junos", {PREPARED: True, "timeout": 5}
        )
    return caught.value


def test_a_refused_login_is_an_authentication_failure(monkeypatch: pytest.MonkeyPatch) -> None:
    device = SimpleNamespace(hostname="10.0.0.1", user="ops", _port=830)
    exc = open_with(monkeypatch, ConnectAuthError(device))
    assert isinstance(exc, AuthFailed)
    assert exc.message == "authentication failed for ops (10.0.0.1:830)"
    assert exc.on("node0") == "authentication failed for ops on node0 (10.0.0.1:830)"
    assert "secret" not in str(exc)


def test_a_refused_connection_stays_unreachable(monkeypatch: pytest.MonkeyPatch) -> None:
    device = SimpleNamespace(hostname="10.0.0.1", user="ops", _port=830)
    exc = open_with(monkeypatch, ConnectRefusedError(device))
    assert not isinstance(exc, AuthFailed)
    assert exc.message == "cannot connect to 10.0.0.1:830: ConnectRefusedError"


def test_checking_input_loads_no_device_library() -> None:
    """The CLI refuses bad input before it touches a device: importing it must not load
    napalm, PyEZ, ncclient or paramiko (0.75-1.1 s of every `python -m runbooks` that exits 2)."""
    import subprocess
    import sys

    code = (
        "import sys, runbooks.cli.main; "
        "libs = ('napalm', 'jnpr.junos', 'ncclient', 'paramiko'); "
        "heavy = [m for m in libs if m in sys.modules]; "
        "print(heavy); sys.exit(1 if heavy else 0)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
