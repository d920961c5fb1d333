"""The dual reboot through the real upgrade job against an in-process cluster
(tests/inprocess.py): around it, as around an ICU, both nodes' configuration saved before the
first install and after the verified end and the services compared; an install the device
refuses. Kills at every step and every half-way state's recovery:
tests/unit/tasks/test_dual_reboot_kills.py."""

from __future__ import annotations

from typing import Any

from tasks.jobs import srx_upgrade

ACROSS = {"name": "c1", "model": "SRX345", "target": "25.2R1.9", "packages": ["24.4R1.9"]}


def test_a_dual_reboot_is_backed_up_and_its_services_compared_like_an_icu(rig: Any) -> None:
    r = rig(ACROSS)
    outcome = r.run(srx_upgrade, "c1", allow_outage=True)  # dual reboot to 24.4R1, then ICU
    assert outcome.outcome == "ok", outcome.detail
    sent = [a["rpc"] for a in r.lab.sent("c1")]
    first_install = sent.index("request-package-add")
    # both nodes' configuration (text and set form) and the services, before the first install
    assert sent[:first_install].count("get-configuration") == 4
    assert "get-interface-information" in sent[:first_install]
    hops = outcome.extra["hops"]
    assert "services back" in hops[0]["detail"], hops
    # one `before` for the run (the cluster before its first hop), diffed to the last hop
    diff = outcome.extra["config"]["diff"]["node0"]
    assert diff[-2:] == ["-set version 23.4R2-S3.9", "+set version 25.2R1.9"], diff


def test_services_not_back_after_the_dual_reboot_are_services_lost(rig: Any) -> None:
    # reth1 and ge-0/0/1 stay down once both nodes run the lab's target, 24.4R1.9 here
    lost = {**ACROSS, "target": "24.4R1.9", "faults": ["interface-down-after-upgrade"]}
    r = rig(lost)
    outcome = r.run(srx_upgrade, "c1", allow_outage=True)
    assert outcome.outcome == "services-lost", outcome.detail
    assert "reth1" in outcome.detail, outcome.detail
    assert r.releases("c1") == {"node0": "24.4R1.9", "node1": "24.4R1.9"}


def test_an_install_the_device_refuses_ends_the_hop_with_its_words_nothing_rebooted(
    rig: Any,
) -> None:
    r = rig({**ACROSS, "faults": ["validation-fails"]})
    outcome = r.run(srx_upgrade, "c1", allow_outage=True)
    # hop 1 failed at the first install (the RG0 secondary's) with the device's words;
    # nothing rebooted, nothing pending, the second install never sent
    assert outcome.outcome == "failed" and "Validation failed" in outcome.detail, outcome
    assert outcome.extra["hops"][0]["method"] == "dual-reboot"
    assert r.destructive("c1") == [("node1", "request-package-add")]
    assert not any(n["pending"] for n in r.truth("c1")["nodes"].values())
