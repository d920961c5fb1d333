"""Approved plans on disk (runbooks/fleet/approved_plans.py) and the comparison that keeps a
changed cluster from being upgraded (tasks/plans/approved_plan.py)."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from runbooks.fleet import approved_plans
from runbooks.output.report import ClusterReport, Report
from tasks import ApprovedCluster
from tasks.errors import BadInput

OLD, NEW = "23.4R2-S3.9", "24.2R2-S1.3"
CMD = "request system software in-service-upgrade /var/tmp/junos-srxsme-24.2R2-S1.3.tgz no-sync"


def dry_run_report() -> Report:
    report = Report(job="upgrade", run_id="20261207T200000Z-abcdef")
    versions = {"node0": OLD, "node1": OLD}
    plan = {"node": "node0", "command": CMD}
    report.clusters["a"] = ClusterReport(
        "would-upgrade", "healthy", versions, "dry", {"plan": plan}
    )
    report.clusters["b"] = ClusterReport("skipped", "healthy", {"node0": NEW, "node1": NEW}, "on")
    return report


def options() -> dict[str, object]:
    return {"target_release": None, "package": None, "no_sync": True, "allow_alarms": ("x",)}


def test_a_saved_plan_reads_back_as_what_the_dry_run_saw(tmp_path: Path) -> None:
    path = tmp_path / "plan.json"
    digest = approved_plans.save(path, dry_run_report(), options())
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and len(digest) == 64
    data = json.loads(path.read_text())
    assert data["not_planned"] == {"b": "skipped: on"}
    plan, opts = approved_plans.load(path)
    assert list(plan.clusters) == ["a"] and digest[:16] in plan.source
    assert plan.clusters["a"] == ApprovedCluster(
        "healthy", {"node0": OLD, "node1": OLD}, "node0", CMD
    )
    assert opts["no_sync"] is True and opts["allow_alarms"] == ("x",)
    assert opts["restore_primary"] is None  # every option a plan fixes is in it


@pytest.mark.parametrize(
    ("content", "words"),
    [
        ("not json", "not an approved plan"),
        ('{"kind": "x"}', "not an approved plan"),
        ("[1, 2]", "not an approved plan"),
    ],
)
def test_what_is_not_a_plan_is_refused(tmp_path: Path, content: str, words: str) -> None:
    path = tmp_path / "plan.json"
    path.write_text(content)
    with pytest.raises(BadInput, match=words):
        approved_plans.load(path)


def test_a_plan_of_another_version_or_with_nothing_to_do_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "plan.json"
    approved_plans.save(path, dry_run_report(), options())
    data = json.loads(path.read_text())
    path.write_text(json.dumps({**data, "version": 2}))
    with pytest.raises(BadInput, match="plan version 2; this release reads 1"):
        approved_plans.load(path)
    path.write_text(json.dumps({**data, "clusters": {}}))
    with pytest.raises(BadInput, match="no cluster would be upgraded"):
        approved_plans.load(path)
    path.write_text(json.dumps({**data, "options": {"reboot_everything": True}}))
    with pytest.raises(BadInput, match="unknown options reboot_everything"):
        approved_plans.load(path)
    with pytest.raises(BadInput, match="cannot read"):
        approved_plans.load(tmp_path / "missing.json")


def test_every_difference_from_the_approved_cluster_is_named() -> None:
    approved = ApprovedCluster("healthy", {"node0": OLD, "node1": OLD}, "node0", CMD)
    same = approved.changes("healthy", {"node0": OLD, "node1": OLD}, "node0", CMD)
    assert same == []
    changed = approved.changes("inconsistent", {"node0": OLD, "node1": NEW}, "node1", CMD + " x")
    assert changed == [
        "state healthy -> inconsistent",
        f"node1 {OLD} -> {NEW}",
        "RG0 primary node0 -> node1",
        f"command '{CMD}' -> '{CMD} x'",
    ]


HOPS = [
    {"method": "dual-reboot", "to": "24.4R1.9", "commands": ["add a", "add b", "reboot"]},
    {"method": "icu", "to": "25.2R1.9", "commands": [CMD + "  (on the RG0 primary)"]},
]


def hop_report() -> Report:
    report = Report(job="upgrade", run_id="20261207T200000Z-abcdef")
    plan = {"node": "node0", "hops": HOPS, "estimate": {"seconds": 10800}}
    versions = {"node0": OLD, "node1": OLD}
    report.clusters["a"] = ClusterReport(
        "would-upgrade", "healthy", versions, "dry", {"plan": plan}
    )
    return report


def test_a_plan_with_hops_records_them_and_the_outage_approved(tmp_path: Path) -> None:
    path = tmp_path / "plan.json"
    approved_plans.save(path, hop_report(), {**options(), "allow_outage": True, "method": "auto"})
    data = json.loads(path.read_text())
    assert data["options"]["allow_outage"] is True and data["options"]["method"] == "auto"
    assert data["clusters"]["a"]["hops"] == HOPS
    assert (
        data["clusters"]["a"]["command"]
        == f"add a; then add b; then reboot; then {HOPS[1]['commands'][0]}"
    )
    plan, opts = approved_plans.load(path)
    hops = plan.clusters["a"].hops
    assert [(h.method, h.to) for h in hops] == [("dual-reboot", "24.4R1.9"), ("icu", "25.2R1.9")]
    assert opts["allow_outage"] is True and opts["method"] == "auto"


def test_an_older_plan_without_the_new_options_reads_as_no_outage_auto(tmp_path: Path) -> None:
    path = tmp_path / "plan.json"
    approved_plans.save(path, dry_run_report(), options())
    data = json.loads(path.read_text())
    for key in ("allow_outage", "method"):
        del data["options"][key]
    path.write_text(json.dumps(data))
    _, opts = approved_plans.load(path)
    assert opts["allow_outage"] is False and opts["method"] == "auto"


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"allow_outage": False}, "a's hops have a dual reboot (an outage) but the plan was not"),
        ({"method": "icu"}, "a's hops are by dual-reboot, icu, the plan's method is icu"),
        ({"method": "sideways"}, "unknown method 'sideways'"),
    ],
)
def test_a_plan_whose_hops_and_options_disagree_is_refused(
    tmp_path: Path, change: dict[str, object], words: str
) -> None:
    path = tmp_path / "plan.json"
    approved_plans.save(path, hop_report(), {**options(), "allow_outage": True, "method": "auto"})
    data = json.loads(path.read_text())
    data["options"].update(change)
    path.write_text(json.dumps(data))
    with pytest.raises(BadInput, match=words.replace("(", r"\(").replace(")", r"\)")) as exc:
        approved_plans.load(path)
    assert "\n" not in exc.value.message
