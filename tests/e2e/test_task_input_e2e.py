"""The input rules hold for a user's own script too (tasks.input_rules, through the srx_*
tasks, in this process as examples/upgrade_site.py runs them) against a live lab: a package
of another release than the target, and a package path with `;reboot` in it, whether given
to the task or found in the inventory, are refused as "bad input", and the lab's audit log
shows that not one RPC reached a device; nothing is journaled. The same Nornir object with
good input does reach the lab (the audit log would have shown it)."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from nornir.core import Nornir
from nornir.core.task import Result

from simulator.testing import LabProcess, private_config
from tasks import init_nornir
from tasks.jobs import srx_abort, srx_recover, srx_snapshot, srx_stage, srx_status, srx_upgrade
from tasks.plans.cluster_status import ClusterSummary
from tasks.state.run_context import Outcome

TARGET = "24.2R2-S1.3"
PACKAGE = f"/var/tmp/junos-srxsme-{TARGET}.tgz"
TASKS: list[Callable[..., Result]] = [
    srx_upgrade,
    srx_stage,
    srx_abort,
    srx_recover,
    srx_status,
    srx_snapshot,
]


@pytest.fixture(autouse=True)
def _no_env_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("JUNOS_USERNAME", raising=False)
    monkeypatch.delenv("JUNOS_PASSWORD", raising=False)


def nornir_for(inventory: Path, workdir: Path) -> Nornir:
    """The user's script: the project's config (its own state_dir) and an inventory."""
    files = {f"{k}_file": str(inventory / f"{k}s.yaml") for k in ("host", "group")}
    files["defaults_file"] = str(inventory / "defaults.yaml")
    options = {"plugin": "SimpleInventory", "options": files}
    return init_nornir(private_config(workdir), inventory=options)


def refused(result: Result) -> str:
    """The detail of a refused input, in the result type of its task."""
    assert result.failed, result
    found = result.result
    if isinstance(found, ClusterSummary):  # srx_status
        assert found.refused and found.state == "unknown"
        return found.findings[0]
    if isinstance(found, Outcome):
        assert (found.outcome, found.state) == ("failed", "unknown")
        assert not result.changed
        return found.detail
    return str(found)  # srx_snapshot


def one(nr: Nornir, task: Callable[..., Result], **kwargs: Any) -> Result:
    """c1's Result of `task` (on_failed: a host an earlier task failed is run too)."""
    return nr.run(task=task, on_failed=True, **kwargs)["c1"][0]


def journaled(workdir: Path) -> list[Path]:
    return sorted((workdir / "state").glob("journal/*.jsonl"))


def test_a_mismatched_or_hostile_package_sends_not_one_rpc(make_lab: Any, tmp_path: Path) -> None:
    # GIVEN a lab cluster and a user's script with its Nornir object
    lab: LabProcess = make_lab([{"name": "c1"}])
    nr = nornir_for(lab.inventory_dir, tmp_path / "ops")
    # WHEN it asks for an upgrade to 25.1R1.1 with the 24.2R2-S1.3 package
    mismatch = one(nr, srx_upgrade, target_release="25.1R1.1", package=PACKAGE)
    # AND for one whose package path carries a command, and for a stage of it
    hostile = one(nr, srx_upgrade, target_release=TARGET, package=f"{PACKAGE};reboot")
    staged = one(nr, srx_stage, target_release=TARGET, package=f"{PACKAGE};reboot")
    # THEN each is refused as bad input, naming the problem
    assert refused(mismatch) == (
        "bad input: package: installs 24.2R2-S1.3 (read from its name), "
        "not the target_release 25.1R1.1"
    )
    for result in (hostile, staged):
        detail = refused(result)
        assert detail.startswith("bad input: package: '/var/tmp/junos-srxsme-24.2R2-S1.3.tgz;")
        assert "is not an absolute /var/tmp/... path" in detail
    # AND not one RPC reached the lab, and nothing was journaled
    assert lab.audit() == []
    assert journaled(tmp_path / "ops") == []
    # AND the same script with good input does reach it (the audit log records every RPC)
    status = one(nr, srx_status)
    assert isinstance(status.result, ClusterSummary) and status.result.healthy, status.result
    assert {r["cluster"] for r in lab.audit()} == {"c1"}


def test_a_hostile_package_in_the_inventory_sends_not_one_rpc(
    make_lab: Any, tmp_path: Path
) -> None:
    # GIVEN the lab's inventory, whose model group's package path carries a command,
    # and a package of another release in the host's own data for a second cluster
    lab: LabProcess = make_lab([{"name": "c1"}, {"name": "c2"}])
    inventory = tmp_path / "inventory"
    shutil.copytree(lab.inventory_dir, inventory)
    groups = yaml.safe_load((inventory / "groups.yaml").read_text())
    (name,) = groups
    groups[name]["data"]["package"] = f"{PACKAGE};reboot"
    (inventory / "groups.yaml").write_text(yaml.safe_dump(groups))
    hosts = yaml.safe_load((inventory / "hosts.yaml").read_text())
    hosts["c2"]["data"]["package"] = "/var/tmp/junos-srxsme-23.4R2-S3.9.tgz"
    (inventory / "hosts.yaml").write_text(yaml.safe_dump(hosts))
    nr = nornir_for(inventory, tmp_path / "ops")
    # WHEN each of the six tasks runs on both clusters
    for task in TASKS:
        results = nr.run(task=task, on_failed=True)
        # THEN each refuses each cluster as bad input, naming the inventory key
        assert refused(results["c1"][0]).startswith(
            "bad input: data.package: '/var/tmp/junos-srxsme-24.2R2-S1.3.tgz;reboot' "
            "is not an absolute /var/tmp/... path"
        ), task.__name__
        assert refused(results["c2"][0]) == (
            "bad input: data.package: installs 23.4R2-S3.9 (read from its name), "
            "not the target_release 24.2R2-S1.3"
        ), task.__name__
    # AND not one RPC reached the lab, and nothing was journaled
    assert lab.audit() == []
    assert journaled(tmp_path / "ops") == []
