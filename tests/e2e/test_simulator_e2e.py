"""The lab as a device: raw PyEZ and napalm against the simulator over real SSH/NETCONF.

No runbook code here: these tests hold the simulator to the device facts of
docs/design/device-facts.md and docs/design/netconf.md (sessions, facts, replies, ICU phases,
abort, reboot, recovery, failover) the way any client sees it.
"""

from __future__ import annotations

import re
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import yaml
from jnpr.junos import Device
from jnpr.junos.exception import ConnectClosedError, ConnectRefusedError, RpcError
from napalm import get_network_driver

from simulator.server import NodeServer
from tests.e2e.conftest import wait_until

OLD, NEW = "23.4R2-S3.9", "24.2R2-S1.3"
PACKAGE = f"/var/tmp/junos-srxsme-{NEW}.tgz"


def port_of(lab: Any, cluster: str, node: str) -> int:
    hosts = yaml.safe_load((lab.inventory_dir / "hosts.yaml").read_text())
    return int(hosts[cluster]["connection_options"][node]["port"])


def device(lab: Any, cluster: str, node: str, *, verify: bool = False) -> Device:
    ssh_config = "/dev/null"
    if verify:  # verify the node's host key against the lab's known_hosts
        cfg = Path(lab.workdir) / "ssh_config"
        cfg.write_text(
            f"Host *\n  UserKnownHostsFile {lab.known_hosts}\n  StrictHostKeyChecking yes\n"
        )
        ssh_config = str(cfg)
    dev = Device(
        host="127.0.0.1",
        port=port_of(lab, cluster, node),
        user="lab",
        passwd="lab",
        ssh_config=ssh_config,
        gather_facts=False,
        hostkey_verify=verify,
        conn_open_timeout=5,
    )
    return dev


@contextmanager
def session(lab: Any, cluster: str, node: str, **kw: Any) -> Iterator[Device]:
    dev = device(lab, cluster, node, **kw)
    dev.open()
    try:
        yield dev
    finally:
        try:
            dev.timeout = 2
            dev.close()
        except Exception:
            pass


def ask(lab: Any, cluster: str, node: str, what: Any) -> Any:
    """One short-lived session to a node that may be rebooting; None when it cannot answer."""
    try:
        with session(lab, cluster, node) as dev:
            return what(dev)
    except Exception:
        return None


def whole(reply: Any) -> Any:
    """PyEZ hands back the first element of a reply; its parent is the whole reply."""
    parent = reply.getparent()
    return reply if parent is None else parent


def versions(dev: Device) -> dict[str, str]:
    reply = dev.rpc.get_software_information()
    return {
        item.findtext("re-name"): item.findtext("software-information/junos-version")
        for item in reply.getparent().iter("multi-routing-engine-item")
    }


def rg_status(dev: Device, rg: int = 0) -> dict[str, str]:
    reply = dev.rpc.get_chassis_cluster_status()
    group = next(
        g for g in reply.iter("redundancy-group") if g.findtext("redundancy-group-id") == str(rg)
    )
    names = [e.text for e in group.iter("device-name")]
    states = [e.text for e in group.iter("redundancy-group-status")]
    return dict(zip(names, states, strict=True))


def pending(dev: Device) -> bool:
    return (
        whole(dev.rpc.request_package_checks_pending_install()).findtext(".//package-result") == "1"
    )


def booted_at(dev: Device, node: str) -> int:
    reply = dev.rpc.get_system_uptime_information()
    for item in reply.getparent().iter("multi-routing-engine-item"):
        if item.findtext("re-name") == node:
            return int(item.find(".//system-booted-time/date-time").get("seconds"))
    raise AssertionError(f"no boot time for {node}")


def healthy(lab: Any, cluster: str, release: str) -> bool:
    def check(dev: Device) -> bool:
        if set(versions(dev).values()) != {release}:
            return False
        return all(sorted(rg_status(dev, rg).values()) == ["primary", "secondary"] for rg in (0, 1))

    return bool(ask(lab, cluster, "node0", check) and ask(lab, cluster, "node1", check))


class IcuCall(threading.Thread):
    """The ICU RPC on a session of its own: its reply may never come."""

    def __init__(self, dev: Device, **options: Any) -> None:
        super().__init__(daemon=True)
        self.dev, self.options = dev, options
        self.reply: Any = None
        self.error: Exception | None = None

    def run(self) -> None:
        try:
            self.reply = self.dev.rpc.request_package_in_service_upgrade(
                package_name=PACKAGE, dev_timeout=120, **self.options
            )
        except Exception as exc:
            self.error = exc


def test_napalm_open_get_facts_and_cli(make_lab) -> None:  # type: ignore[no-untyped-def]
    lab = make_lab(count=2)
    driver = get_network_driver("junos")(
        hostname="127.0.0.1",
        username="lab",
        password="lab",
        optional_args={"port": port_of(lab, "br-0002", "node1"), "ssh_config_file": "/dev/null"},
    )
    driver.open()
    try:
        facts = driver.get_facts()
        assert facts["vendor"] == "Juniper"
        assert facts["model"] == "SRX345"
        assert facts["os_version"] == OLD
        assert facts["hostname"] == "br-0002-node1"
        assert facts["uptime"] > 0
        assert "reth0" in facts["interface_list"]
        out = driver.cli(["show chassis cluster status", "show version"])
        assert "Redundancy group: 0 , Failover count: 1" in out["show chassis cluster status"]
        assert f"Junos: {OLD}" in out["show version"]
        assert driver.is_alive()["is_alive"]
    finally:
        driver.close()


def test_pyez_facts_and_the_observation_rpcs(make_lab) -> None:  # type: ignore[no-untyped-def]
    lab = make_lab(count=1)
    with session(lab, "br-0001", "node1", verify=True) as dev:
        facts = dev.facts
        assert facts["model"] == "SRX345"
        assert facts["version"] == OLD
        assert facts["hostname"] == "br-0001-node1"
        assert facts["srx_cluster"] is True
        assert facts["srx_cluster_id"] == "1"
        assert "node1" in facts["current_re"]
        assert versions(dev) == {"node0": OLD, "node1": OLD}
        assert rg_status(dev, 0) == {"node0": "primary", "node1": "secondary"}
        assert not pending(dev)
        storage = dev.rpc.get_system_storage()
        assert storage.getparent().findall(".//multi-routing-engine-item/re-name")
        assert storage.getparent().find(".//filesystem/available-blocks") is not None
        info = dev.rpc.get_chassis_cluster_information()
        assert info.getparent().find(".//redundancy-group-list/redundancy-group-status") is not None
        assert dev.rpc.get_route_engine_information().getparent().find(".//up-time") is not None
    with session(lab, "br-0001", "node0") as dev:
        files = dev.rpc.file_list(path="/var/tmp/", detail=True)
        names = [e.text for e in files.iter("file-name")]
        assert PACKAGE.rsplit("/", 1)[1] in names and "gres-tp" in names  # a directory too
        md5 = dev.rpc.get_checksum_information(path=PACKAGE).findtext(".//checksum")
        assert md5 and len(md5) == 32
        text = dev.cli("show chassis cluster information issu", warning=False)
        # cold-sync progress, as the command shows on real devices; never an ICU phase
        assert "CS RTO sync             1 of 1 SPUs completed" in text and "ICU" not in text
        with pytest.raises(RpcError, match="syntax error"):
            dev.rpc.get_no_such_thing_information()


def test_icu_on_one_session_while_another_polls_and_aborts(make_lab) -> None:  # type: ignore[no-untyped-def]
    # GIVEN a healthy cluster and the ICU RPC pending on a session of its own
    lab = make_lab([{"name": "c1"}], speed=300)
    with session(lab, "c1", "node0") as icu_dev, session(lab, "c1", "node0") as poll:
        call = IcuCall(icu_dev, no_sync=True)
        call.start()
        # WHEN a second session polls until the secondary holds the install, then aborts
        wait_until(lambda: ask(lab, "c1", "node1", pending), 30, message="node1 install pending")
        words = whole(poll.rpc.abort_in_service_upgrade()).findtext(".//output")
        assert "after current operation" in words
        # THEN the abort lands after the current operation: rolled back, nothing pending
        wait_until(
            lambda: ask(lab, "c1", "node1", pending) is False,
            30,
            message="the abort landed: node1's install rolled back",
        )
        assert versions(poll) == {"node0": OLD, "node1": OLD}
        assert not pending(poll)
        assert not ask(lab, "c1", "node1", pending)
        # AND the ICU RPC, still waiting on its own session, is answered with the failure
        call.join(10)
        assert call.error is None and call.reply is not None
        assert whole(call.reply).findtext(".//package-result") == "1"
        assert "aborted" in whole(call.reply).findtext(".//output")
    audit = [r["rpc"] for r in lab.audit() if r["rpc"].endswith("in-service-upgrade")]
    assert audit == ["request-package-in-service-upgrade", "abort-in-service-upgrade"]


def test_reboot_drops_the_session_refuses_connections_and_comes_back(make_lab) -> None:  # type: ignore[no-untyped-def]
    lab = make_lab(count=1, speed=300)
    with session(lab, "br-0001", "node0") as primary:
        before = booted_at(primary, "node1")
    dev = device(lab, "br-0001", "node1", verify=True)
    dev.open()
    # WHEN node1 reboots
    dev.rpc.request_reboot()
    # THEN its session is closed, and new connections are refused while it boots
    with pytest.raises(ConnectClosedError):
        wait_until(lambda: dev.rpc.get_software_information() is None, 5, message="closed")
    with pytest.raises(ConnectRefusedError):
        device(lab, "br-0001", "node1").open()
    with session(lab, "br-0001", "node0") as primary:
        assert rg_status(primary)["node1"] == "lost"
    # AND it comes back, with the same host key, a new boot time, rejoining through hold
    seen: set[str] = set()

    def rejoined() -> bool:
        status = ask(lab, "br-0001", "node0", rg_status) or {}
        seen.add(status.get("node1", "?"))
        return status.get("node1") == "secondary"

    wait_until(rejoined, 30, interval=0.02, message="node1 secondary again")
    assert "hold" in seen or "lost" in seen
    with session(lab, "br-0001", "node1", verify=True) as back:
        assert booted_at(back, "node1") > before


def test_full_icu_to_completion_through_every_phase(make_lab) -> None:  # type: ignore[no-untyped-def]
    lab = make_lab([{"name": "c1"}], speed=300)
    icu_dev = device(lab, "c1", "node0")
    icu_dev.open()
    call = IcuCall(icu_dev, no_sync=True)
    call.start()
    boot0 = {n: ask(lab, "c1", "node0", lambda d, n=n: booted_at(d, n)) for n in ("node0", "node1")}
    seen: list[str] = []

    def note(phase: str) -> None:
        if not seen or seen[-1] != phase:
            seen.append(phase)

    def observe() -> bool:
        # only what a second session can read: pending installs, reachability, boot times
        p0 = ask(lab, "c1", "node0", pending)
        p1 = ask(lab, "c1", "node1", pending)
        if p1 is None:
            note("secondary-reboot" if p0 else "primary-reboot")
        elif p0 is None:
            note("primary-reboot")
        elif p1 and not p0:
            note("install-secondary")
        elif p1 and p0:
            note("install-primary")
        done = p0 is not None and ask(lab, "c1", "node0", lambda d: booted_at(d, "node0"))
        return bool(done and done > boot0["node0"] and len(seen) > 2)

    wait_until(observe, 60, interval=0.05, message="ICU to end")
    wait_until(lambda: healthy(lab, "c1", NEW), 60, message="both nodes on the target, healthy")
    # THEN the phases came in the documented order and the upgraded secondary took over
    order = [p for p in seen if p in ("install-secondary", "install-primary", "secondary-reboot")]
    assert order == sorted(
        order, key=["install-secondary", "install-primary", "secondary-reboot"].index
    )
    assert "primary-reboot" in seen
    assert ask(lab, "c1", "node1", rg_status)["node1"] == "primary"
    for node in ("node0", "node1"):
        assert ask(lab, "c1", "node1", lambda d, n=node: booted_at(d, n)) > boot0[node]
    # AND the ICU RPC never got a reply: its session died with the primary's reboot
    call.join(10)
    assert isinstance(call.error, ConnectClosedError)


def test_recovery_in_order_and_out_of_order(make_lab) -> None:  # type: ignore[no-untyped-def]
    lab = make_lab(
        [{"name": "good", "state": "inconsistent"}, {"name": "bad", "state": "inconsistent"}],
        speed=300,
    )
    # GIVEN two inconsistent clusters (node1, the secondary, on the new release)
    for name in ("good", "bad"):
        assert ask(lab, name, "node0", versions) == {"node0": OLD, "node1": NEW}
    # WHEN one is recovered in the documented order on the secondary
    with session(lab, "good", "node1") as dev:
        assert "cleared" in whole(dev.rpc.abort_in_service_upgrade()).findtext(".//output")
        rb = whole(dev.rpc.request_package_rollback(node="1"))
        assert rb.findtext(".//package-result") == "0"
        assert f'"{OLD}" will become active' in rb.findtext(".//output")
        dev.rpc.request_reboot()
    # AND the other out of order (rollback before abort, then reboot)
    with session(lab, "bad", "node1") as dev:
        rb = whole(dev.rpc.request_package_rollback(node="1"))
        assert rb.findtext(".//package-result") == "1"
        assert "rollback aborted" in rb.findtext(".//output")
        dev.rpc.request_reboot()
    # THEN only the first comes back consistent and healthy
    wait_until(lambda: healthy(lab, "good", OLD), 30, message="good recovered")
    wait_until(
        lambda: ask(lab, "bad", "node0", rg_status) == {"node0": "primary", "node1": "secondary"},
        30,
        message="bad back",
    )
    assert ask(lab, "bad", "node0", versions) == {"node0": OLD, "node1": NEW}


def test_failover_and_reset(make_lab) -> None:  # type: ignore[no-untyped-def]
    lab = make_lab(count=1, speed=300)
    with session(lab, "br-0001", "node0") as dev:
        out = whole(dev.rpc.request_chassis_cluster_failover(redundancy_group="1", node="1"))
        assert "Initiated manual failover for redundancy group 1" in out.findtext(".//output")
        status = dev.rpc.get_chassis_cluster_status()
        rg1 = next(
            g for g in status.iter("redundancy-group") if g.findtext("redundancy-group-id") == "1"
        )
        stats = dict(
            zip([e.text for e in rg1.iter("device-name")], rg1.iter("device-priority"), strict=True)
        )
        assert stats["node1"].text == "255"  # manual failover shows as priority 255
        assert "yes" in [e.text for e in rg1.iter("failover-mode")]
        assert rg_status(dev, 1)["node1"] == "primary"
        with pytest.raises(RpcError, match="reset"):  # a second failover needs a reset first
            dev.rpc.request_chassis_cluster_failover(redundancy_group="1", node="0")
        dev.rpc.request_chassis_cluster_failover_reset(redundancy_group="1")
        status = dev.rpc.get_chassis_cluster_status()
        assert "yes" not in [e.text for e in status.iter("failover-mode")]


@pytest.mark.parametrize(
    ("spec", "node", "options", "words"),
    [
        ({}, "node1", {"no_sync": True}, "primary node"),
        ({"faults": ["package-missing"]}, "node0", {"no_sync": True}, "not found"),
        ({"faults": ["disk-full"]}, "node0", {"no_sync": True}, "not enough space on node1"),
        ({"faults": ["version-mismatch"]}, "node0", {"no_sync": True}, "different software"),
        ({"faults": ["validation-fails"]}, "node0", {"no_sync": True}, "check-out failed"),
        ({"state": "pending-install"}, "node0", {"no_sync": True}, "already an install pending"),
    ],
)
def test_icu_refusals(make_lab, spec, node, options, words) -> None:  # type: ignore[no-untyped-def]
    lab = make_lab([{"name": "c1", **spec}], icu_reply="immediate")
    with session(lab, "c1", node) as dev:
        reply = whole(dev.rpc.request_package_in_service_upgrade(package_name=PACKAGE, **options))
        assert reply.findtext(".//package-result") == "1"
        assert words in reply.findtext(".//output")


def test_issu_without_reboot_is_a_time_stamped_rpc_error(make_lab) -> None:  # type: ignore[no-untyped-def]
    lab = make_lab([{"name": "c1", "model": "SRX4200"}], icu_reply="immediate")
    with session(lab, "c1", "node0") as dev, pytest.raises(RpcError) as err:
        dev.rpc.request_package_in_service_upgrade(package_name=PACKAGE)
    assert re.search(
        r"^\[\w{3} [ \d]\d \d\d:\d\d:\d\d\]: 'reboot' keyword must be specified",
        str(err.value.message),
    ), err.value


def test_path_rule_refuses_icu_to_24_4r1_on_srx300_family(make_lab) -> None:  # type: ignore[no-untyped-def]
    lab = make_lab([{"name": "c1", "model": "SRX340", "target": "24.4R1.9"}], icu_reply="immediate")
    with session(lab, "c1", "node0") as dev:
        reply = whole(
            dev.rpc.request_package_in_service_upgrade(
                package_name="/var/tmp/junos-srxsme-24.4R1.9.tgz", no_sync=True
            )
        )
        assert reply.findtext(".//package-result") == "1"
        assert "SRX340 cannot use ICU to go to 24.4R1" in reply.findtext(".//output")


def test_a_down_node_keeps_its_port_bound_and_refusing() -> None:
    # GIVEN a node's port (free again, as once its listener closed for a reboot)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    ns = NodeServer(lab=None, cluster=None, node="node1", port=port)  # type: ignore[arg-type]
    # WHEN the node is down: its port held
    ns.hold_port()
    try:
        # THEN no other process can bind it (a lab's or a client's port would answer in its
        # place), and a connection there is refused, as by a rebooting box
        with socket.socket() as other, pytest.raises(OSError):
            other.bind(("127.0.0.1", port))
        with socket.socket() as client, pytest.raises(ConnectionRefusedError):
            client.connect(("127.0.0.1", port))
    finally:
        ns.release_port()
    # AND once it boots the port is the listener's to take again
    with socket.socket() as again:
        again.bind(("127.0.0.1", port))
