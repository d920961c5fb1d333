"""The lab's device rules are its own (simulator/device_rules.py): the runbooks with a wrong
pre-check rule, run end to end against the lab, end failed on the device's refusal, not ok."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.e2e.conftest import Runbooks, destructive

TO_244 = "24.4R1.9"
# `python -m runbooks` with the runbooks' path rule gone wrong (SRX300-family to 24.4R1
# allowed), wherever the pre-check reads it
WRONG_RULE = """
import runpy, sys
import tasks.plans.prechecks, tasks.srx_facts
def wrong(model, target):
    return None
tasks.srx_facts.path_violation = wrong
if hasattr(tasks.plans.prechecks, "path_violation"):
    tasks.plans.prechecks.path_violation = wrong
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
