"""The lab's device rules are its own (simulator/device_rules.py): the runbooks with a wrong
pre-check rule, run end to end against the lab, end failed on the device's refusal, not ok."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.e2e.conftest import Runbooks, destructive

TO_244 = "24.4R1.9"
# `python -m runbooks` with the runbooks' path table gone wrong (its SRX300-family 24.4R1 rows
# lost: the hop to 24.4R1 allowed)
WRONG_RULE = """
import runpy, sys
import tasks.upgrade_paths as paths
paths.RULES = tuple(r for r in paths.RULES if "24.4R1" not in r.name)
sys.argv[0] = "runbooks"
runpy.run_module("runbooks", run_name="__main__", alter_sys=True)
"""


class WrongRuleRunbooks(Runbooks):
    def cmd(self, job: str, *args: str, report: Path | None = None) -> list[str]:
        python, _, _, *rest = super().cmd(job, *args, report=report)
        return [python, "-c", WRONG_RULE, *rest]


def test_a_wrong_precheck_rule_ends_failed_on_the_device_refusal(
    make_lab: Any, tmp_path: Path
) -> None:
    # GIVEN an SRX345 cluster whose target is 24.4R1 (ICU refused by the device), and runbooks
    # whose pre-check lets it through
    lab = make_lab([{"name": "c1", "model": "SRX345", "target": TO_244}])
    ops = WrongRuleRunbooks(lab, tmp_path / "ops")
    try:
        result = ops.run("upgrade", "--yes")
    finally:
        ops.stop_all()
    # THEN the pre-check passed, the ICU went out once, the device refused it with its own
    # words and nothing changed: the run ends failed, not ok
    c = result.cluster("c1")
    assert c["outcome"] == "failed", c
    assert "cannot use ICU to go to 24.4R1" in c["detail"], c
    sent = [r for r in destructive(lab.audit()) if r["cluster"] == "c1"]
    assert [r["rpc"] for r in sent] == ["request-package-in-service-upgrade"], sent
    assert result.code == 1, result.stdout + result.stderr
    node0 = lab.state()["clusters"]["c1"]["nodes"]["node0"]
    assert node0["release"] != TO_244 and not node0["pending"], node0


def test_the_24_4r1_boundary_is_judged_from_the_running_release(
    make_lab: Any, runbooks_for: Any
) -> None:
    # GIVEN SRX345 clusters going to 25.2R1: one on 23.4R2-S3.9 (before 24.4R1), one on 24.4R1
    lab = make_lab(
        [
            {"name": "before", "model": "SRX345", "target": "25.2R1.9"},
            {"name": "after", "model": "SRX345", "release": TO_244, "target": "25.2R1.9"},
        ],
        speed=300,
    )
    # WHEN both are upgraded
    result = runbooks_for(lab).run("upgrade", "--yes")
    # THEN the one before 24.4R1 is refused by the path-rules pre-check, nothing sent; the
    # one on 24.4R1 goes by ICU and ends on 25.2R1
    before, after = result.cluster("before"), result.cluster("after")
    assert before["outcome"] == "failed" and "across 24.4R1" in before["detail"], before
    assert [r for r in destructive(lab.audit()) if r["cluster"] == "before"] == []
    assert after["outcome"] == "ok", after
    nodes = lab.state()["clusters"]["after"]["nodes"]
    assert {n["release"] for n in nodes.values()} == {"25.2R1.9"}
