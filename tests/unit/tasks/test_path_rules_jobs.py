"""The upgrade path rules against the lab's own device rules, through the real upgrade job on
in-process clusters (tests/inprocess.py): the 24.4R1 boundary judged from the running release,
the reply forms of older releases read by the pre-checks, and a wrong rule of ours caught by
the device's refusal (the lab's rules are its own: simulator/device_rules.py)."""

from __future__ import annotations

from typing import Any

import pytest

import tasks.upgrade_paths as paths
from tasks.jobs import srx_upgrade
from tests.inprocess import ICU

TO_244, TO_252 = "24.4R1.9", "25.2R1.9"


def test_the_24_4r1_boundary_is_judged_from_the_running_release(rig: Any) -> None:
    # SRX345 clusters going to 25.2R1: one on 23.4R2-S3.9 (before 24.4R1), one on 24.4R1
    r = rig(
        {"name": "before", "model": "SRX345", "target": TO_252},
        {"name": "after", "model": "SRX345", "release": TO_244, "target": TO_252},
    )
    outcomes = r.run_all(srx_upgrade)
    # the one before 24.4R1 is refused by the path-rules pre-check, nothing sent; the one on
    # 24.4R1 goes by ICU and ends on 25.2R1
    assert outcomes["before"].outcome == "failed", outcomes["before"]
    assert "across 24.4R1" in outcomes["before"].detail
    assert r.destructive("before") == []
    assert outcomes["after"].outcome == "ok", outcomes["after"]
    assert set(r.releases("after").values()) == {TO_252}


def test_a_wrong_precheck_rule_ends_failed_on_the_device_refusal(
    rig: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # our path table gone wrong: its SRX300-family 24.4R1 rows lost (the hop to 24.4R1 allowed)
    monkeypatch.setattr(paths, "RULES", tuple(x for x in paths.RULES if "24.4R1" not in x.name))
    r = rig({"name": "c1", "model": "SRX345", "target": TO_244})
    c = r.run(srx_upgrade, "c1")
    # the pre-check passed, the ICU went out once, the device refused it in its own words and
    # nothing changed: failed, not ok
    assert c.outcome == "failed" and "cannot use ICU to go to 24.4R1" in c.detail, c
    assert r.destructive("c1") == [("node0", ICU)]
    node0 = r.truth("c1")["nodes"]["node0"]
    assert node0["release"] != TO_244 and not node0["pending"], node0


@pytest.mark.parametrize(
    ("model", "release", "target"),
    [
        # 12.1X44 (the oldest branch form), 12.3X48, 15.1X49 (md0.uzip root)
        ("SRX240", "12.1X44-D45.2", "12.1X46-D65.4"),
        ("SRX240", "12.3X48-D50.6", "12.3X48-D105.4"),
        ("SRX345", "15.1X49-D170.4", "18.4R3-S9.2"),
    ],
)
def test_upgrade_through_the_reply_forms_of_older_releases(
    rig: Any, model: str, release: str, target: str
) -> None:
    r = rig({"name": "c1", "model": model, "release": release, "target": target})
    c = r.run(srx_upgrade, "c1")
    # the pre-checks read those forms (free space included) and the ICU completes
    assert c.outcome == "ok", c
    assert c.versions == {"node0": target, "node1": target}
    assert r.destructive("c1") == [("node0", ICU)]
