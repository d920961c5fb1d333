"""runbooks.jobs.status: what the CLI's status makes of each cluster's summary."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from runbooks.fleet import inventory
from runbooks.jobs import status
from runbooks.output.report import Report
from tests.unit.runbooks.fleet.test_inventory import write_fleet


def test_a_cluster_refused_for_its_input_is_exit_2_not_a_state(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN a fleet loaded, whose cluster's values the task's own rules then refuse (a value
    # the CLI's checks did not see: changed after loading here)
    config = write_fleet(tmp_path, "SimpleInventory", "/var/tmp/junos-srxsme-24.2R2-S1.3.tgz")
    fleet = inventory.load(
        config_file=str(config), inventory_dir=None, clusters=[], filters=[], workers=None
    )
    fleet.nr.inventory.hosts["c1"].data["package"] = "/var/tmp/x.tgz;reboot"
    args = argparse.Namespace(report=tmp_path / "status.json")
    # WHEN status runs
    code = status.prepare(args, fleet)(Report(job="status", run_id="r1"))
    # THEN exit code 2 with one line naming the cluster and the problem (it was 1: a
    # cluster 'unknown' among the others, as if a device had said something)
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("error: c1: data.package: '/var/tmp/x.tgz;reboot' is not"), err
    assert len(err.strip().splitlines()) == 1
