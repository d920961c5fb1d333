"""The in-process lab (simulator/inprocess.py) as a client meets it through
tasks.device.wire / tasks.device.junos.WireRpc: the SSH lab's reply bytes, its failures as
the real stack's errors, replies that never come timing out on the virtual clock."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from lxml import etree

from simulator.inprocess import InProcessLab
from simulator.server import envelope
from tasks.device.commands import IcuCommand
from tasks.device.junos import request_xml
from tasks.device.wire import WireDevices
from tasks.errors import AuthFailed, DeviceRefused, NodeUnreachable, SessionLost, UnreadableReply
from tasks.state.clock import VirtualClock
from tasks.vocabulary import IcuOptions


def task_for(name: str) -> Any:
    host = SimpleNamespace(
        name=name,
        username="lab",
        password="lab",
        get_connection_parameters=lambda node: SimpleNamespace(extras={"timeout": 60}),
    )
    return SimpleNamespace(host=host)


def lab_of(*clusters: dict[str, Any]) -> tuple[VirtualClock, InProcessLab, WireDevices]:
    clock = VirtualClock()
    lab = InProcessLab(clock, {"clusters": list(clusters)})
    return clock, lab, WireDevices(lab)


def test_a_reply_is_the_ssh_labs_bytes_and_reads_as_over_ssh() -> None:
    _, lab, devices = lab_of({"name": "c1"})
    wire = lab.open("c1", "node0", "lab", "lab")
    text = wire.rpc(etree.tostring(request_xml("get-software-information", {})).decode(), 60)
    assert text.startswith(envelope("23.4R2-S3.9", "1", "")[:60])
    rpc = devices.node_rpc(task_for("c1"), "node0", timeout=60)
    assert rpc.software()["node1"].version == "23.4R2-S3.9"
    status = rpc.cluster_status()
    assert status is not None and status.rg0_primary == "node0"
    assert [a["rpc"] for a in lab.audit] == [
        "get-software-information",
        "get-software-information",
        "get-chassis-cluster-status",
    ]


def test_a_node_that_is_down_refuses_and_wrong_credentials_are_auth_failed() -> None:
    _, _, devices = lab_of(
        {"name": "c1", "state": "node-down"}, {"name": "c2", "faults": ["auth-fails"]}
    )
    with pytest.raises(NodeUnreachable) as down:
        devices.node_rpc(task_for("c1"), "node1", timeout=60)
    assert not isinstance(down.value, AuthFailed)
    with pytest.raises(AuthFailed):
        devices.node_rpc(task_for("c2"), "node0", timeout=60)


def test_a_garbled_reply_is_unreadable_and_the_devices_words_are_a_refusal() -> None:
    _, _, devices = lab_of({"name": "c1", "faults": ["reply-garbled"]})
    rpc = devices.node_rpc(task_for("c1"), "node0", timeout=60)
    with pytest.raises(UnreadableReply):
        rpc.storage()
    assert rpc.storage()["node0"]  # only the first one is cut
    with pytest.raises(DeviceRefused) as refused:
        devices.node_rpc(task_for("c1"), "node1", timeout=60).routes()
    assert "routing subsystem is not running" in refused.value.message


def test_a_silent_icu_call_waits_on_the_clock_and_its_session_drops_at_the_reboot() -> None:
    clock, lab, devices = lab_of({"name": "c1"})
    rpc = devices.node_rpc(task_for("c1"), "node0", timeout=60)
    command = IcuCommand.for_model("/var/tmp/junos-srxsme-24.2R2-S1.3.tgz", "SRX345", IcuOptions())
    with pytest.raises(SessionLost) as lost:  # the driver's wait: the time moves by itself
        rpc.start_icu(command, timeout=4 * 3600)
    assert "session closed" in lost.value.message
    assert 2000 < clock.monotonic() < 4 * 3600  # closed by the primary's reboot, not the timeout
    assert lab.truth("c1")["nodes"]["node0"]["up"] is False


def test_a_lost_reply_times_out_in_virtual_time() -> None:
    clock, lab, devices = lab_of(
        {"name": "c1", "state": "inconsistent", "faults": ["rollback-reply-lost"]}
    )
    rpc = devices.node_rpc(task_for("c1"), "node1", timeout=60)
    rpc.abort_icu()
    before = clock.monotonic()
    with pytest.raises(SessionLost) as lost:
        rpc.rollback(1)
    assert lost.value.message == "no reply to request-package-rollback within 60s"
    assert clock.monotonic() - before == 60
    assert lab.truth("c1")["nodes"]["node1"]["pending"] == "23.4R2-S3.9"  # it took effect
