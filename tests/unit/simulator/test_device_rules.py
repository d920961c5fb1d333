"""The lab's own device rules (simulator/device_rules.py, simulator/releases.py), and why they
are its own: a pre-check rule of the runbooks that allows what a device refuses fails a test."""

from __future__ import annotations

import pytest

import tasks.plans.prechecks as pc
import tasks.upgrade_paths
from simulator import device_rules, releases
from simulator.__main__ import SIM_TIMING
from simulator.model import Cluster, Node
from tasks.device.commands import IcuCommand
from tasks.state.settings import Target
from tests.factories import OLD, cluster

TO_244 = "24.4R1.9"
PKG_244 = f"/var/tmp/junos-srxsme-{TO_244}.tgz"


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("23.4R2.5", "23.4R2-S3.9"),
        ("23.4R2-S3.9", "24.2R2-S1.3"),
        ("18.1R1", "18.1R1.9"),
        ("17.4R3.5", "18.1R1"),
        ("12.1X44-D45.2", "12.3X48"),
        ("15.1R1", "15.1X49-D170.4"),  # an X train sorts after the R release of its version
        ("9.6R4", "10.4R4"),
    ],
)
def test_the_lab_orders_releases(a: str, b: str) -> None:
    assert releases.older(a, b) and not releases.older(b, a)


def test_the_lab_reads_trains_and_package_names() -> None:
    assert releases.of_train("24.4R1.9", "24.4R1") and releases.of_train("24.4R1-S2.1", "24.4R1")
    assert releases.of_train("23.4R2-S3.9", "23.4R2-S3")
    assert not releases.of_train("23.4R2.5", "23.4R2-S3")
    assert not releases.of_train("24.4R2.1", "24.4R1")
    assert releases.of_package("/var/tmp/junos-srxsme-24.2R2-S1.3.tgz") == "24.2R2-S1.3"
    pkg = "junos-install-srx5000-x86-64-23.4R2-S3.9-limited.tgz"
    assert releases.of_package(pkg) == "23.4R2-S3.9"
    assert releases.of_package("/var/tmp/junos.tgz") is None


@pytest.mark.parametrize(
    ("model", "running", "target", "reboot", "words"),
    [
        ("SRX345", OLD, "24.2R2-S1.3", False, None),
        ("SRX340", OLD, TO_244, False, "SRX340 cannot use ICU to go to 24.4R1 from " + OLD),
        ("SRX380", "24.2R2-S1.3", "24.4R1-S1.2", False, "cannot use ICU to go to 24.4R1"),
        ("SRX345", TO_244, "25.2R1.5", False, None),  # on 24.4R1: later releases by ICU
        ("SRX345", "25.2R1.5", "24.2R2-S1.3", False, None),  # ... and down to 24.2R2
        ("SRX345", "25.2R1.5", "23.4R2-S3.9", False, None),  # ... or 23.4R2-S3
        ("SRX345", "25.2R1.5", "23.4R1.9", False, "only to 23.4R2-S3 or 24.2R2"),
        ("SRX300", "19.4R3.11", "17.4R3.5", False, "cannot downgrade SRX300 below 18.1R1"),
        ("SRX345-DUAL-AC", "19.4R3.11", "18.1R1.9", False, None),
        ("SRX345", "15.1X49-D170.4", "17.4R3.5", False, None),  # an upgrade: no floor
        ("SRX240", "12.3X48-D50.6", "12.1X46-D65.4", False, None),  # no floor published
        ("SRX4200", OLD, "24.2R2-S1.3", False, device_rules.REBOOT_KEYWORD),
        ("SRX4200", OLD, "24.2R2-S1.3", True, None),
        ("SRX4200", "24.2R2-S1.3", OLD, True, "ISSU does not support software downgrades"),
        ("SRX1500", "19.4R3.11", "17.4R3.5", True, "cannot downgrade SRX1500 below 18.1R1"),
        ("SRX1500", "17.3R3.9", "17.4R3.5", True, "ISSU to 17.4R3.5 from 17.3R3.9"),
        ("SRX4100", "17.4R1.5", "17.4R3.5", True, None),  # 17.4 to a later 17.4
        ("SRX5800", "15.1X49-D170.4", "17.3R3.9", True, "ISSU to 17.3R3.9"),
        ("SRX5800", "17.3R1.10", "18.4R3-S9.2", True, None),
        ("SRX3600", "10.4R3.4", "10.4R4.5", True, "ISSU is not supported from 10.4R3.4"),
        ("VSRX", OLD, "24.2R2-S1.3", False, device_rules.REBOOT_KEYWORD),
        ("SRX345", OLD, "25.2R1.5", False, "across 24.4R1: upgrade to 24.4R1 first"),
        ("SRX1600", "22.4R3.25", "23.4R2-S3.9", True, "not supported on SRX1600 from 22.4R3"),
        ("SRX2300", "23.4R1.10", "24.2R2-S1.3", True, None),
        ("SRX4300", "23.4R2-S3.9", "24.2R2-S1.3", True, "(needs 24.2R1)"),
        ("SRX4300", "24.2R1.17", "24.4R1.9", True, None),
        ("SRX1500", "15.1X49-D60.7", "15.1X49-D70.3", True, "(needs 15.1X49-D70)"),
    ],
)
def test_what_the_device_refuses(
    model: str, running: str, target: str, reboot: bool, words: str | None
) -> None:
    found = device_rules.refusal(model, running, target, reboot=reboot)
    if words is None:
        assert found is None
    else:
        assert found is not None and words in found, found


def sim(model: str, package: str) -> Cluster:
    nodes = {n: Node(n, OLD, "23.2R2.21", booted_at=-1000.0) for n in ("node0", "node1")}
    nodes["node0"].files[package] = 456_000_000
    return Cluster("c1", model, nodes)


def test_a_wrong_precheck_rule_fails_against_the_lab(monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN the runbooks' path table gone wrong: its 24.4R1 rows for SRX300-family lost
    rows = tuple(r for r in tasks.upgrade_paths.RULES if "24.4R1" not in r.name)
    monkeypatch.setattr(tasks.upgrade_paths, "RULES", rows)
    facts = pc.Facts(cluster(), Target(TO_244, PKG_244), lambda node: None, model="SRX345")  # type: ignore[arg-type,return-value]
    assert pc.path_rules(facts).passed  # the pre-check lets the cluster through
    # WHEN the command the runbooks would send reaches the lab's device
    command = IcuCommand.for_model(PKG_244, "SRX345")
    c = sim("SRX345", PKG_244)
    ok, text = c.start_icu("node0", command.package, TO_244, reboot="reboot" in command.toggles)
    # THEN the device refuses it with its own words and nothing starts: a run would end
    # failed on the device's refusal, never ok, whatever the pre-check said
    assert not ok and "SRX345 cannot use ICU to go to 24.4R1" in text
    assert c.phase is None and {n.release for n in c.nodes.values()} == {OLD}
    assert all(n.pending is None for n in c.nodes.values())


def test_the_lab_writes_every_deadline_the_runbooks_read() -> None:
    # the lab's timing table is its own (no import of tasks/), but it must scale each one
    assert set(SIM_TIMING) == set(tasks.srx_facts.DEFAULT_TIMING)


def test_the_device_refuses_a_rollback_back_across_24_4r1() -> None:
    # an SRX345 node on 24.4R1 whose previous release is 23.4R2-S3: the rollback is refused
    nodes = {n: Node(n, TO_244, OLD, booted_at=-1000.0) for n in ("node0", "node1")}
    c = Cluster("c1", "SRX345", nodes)
    ok, text = c.rollback("node0", 1)
    assert not ok and "rollback from 24.4R1.9 to 23.4R2-S3.9 is not supported" in text
    assert c.nodes["node1"].pending is None
    assert device_rules.rollback_refusal("SRX345", "24.2R2-S1.3", OLD) is None  # before it
    assert device_rules.rollback_refusal("SRX5800", TO_244, OLD) is None  # another family
