"""runbooks.fleet.inventory: loading the fleet; bad input found before any device (exit 2)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from nornir.core.plugins.inventory import InventoryPluginRegister
from nornir.plugins.inventory import SimpleInventory

from runbooks.cli.main import main

ROOT = Path(__file__).parents[4]
BAD_PACKAGE = "/var/tmp/junos-srxsme-24.2R2-S1.3.tgz;reboot"


def write_fleet(tmp_path: Path, plugin: str, package: str = BAD_PACKAGE) -> Path:
    """An inventory of one cluster (nobody listens on its ports) read by `plugin`, and a
    config for it whose state directory is under tmp_path."""
    kh = tmp_path / "known_hosts"
    kh.write_text("")
    nodes = {"node0": {"hostname": "127.0.0.1", "port": 9}}
    nodes["node1"] = {"hostname": "127.0.0.1", "port": 10}
    files: dict[str, Any] = {
        "hosts": {"c1": {"groups": ["SRX345"], "data": {"site": "a"}, "connection_options": nodes}},
        "groups": {
            "SRX345": {
                "data": {"model": "SRX345", "target_release": "24.2R2-S1.3", "package": package}
            }
        },
        "defaults": {"username": "u", "password": "p", "data": {"known_hosts": str(kh)}},
    }
    for name, content in files.items():
        (tmp_path / f"{name}.yaml").write_text(yaml.safe_dump(content))
    config = yaml.safe_load((ROOT / "config.yaml").read_text())
    options = {f"{k}_file": str(tmp_path / f"{k}s.yaml") for k in ("host", "group")}
    options["defaults_file"] = str(tmp_path / "defaults.yaml")
    config["inventory"] = {"plugin": plugin, "options": options}
    config["user_defined"]["state_dir"] = str(tmp_path / "state")
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.mark.parametrize("job", ["status", "upgrade"])
def test_an_inventory_of_another_plugin_is_checked_before_any_device(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], job: str
) -> None:
    # GIVEN an inventory plugin of the operator's own (the CLI cannot read its source) whose
    # cluster has a package the input rules refuse
    InventoryPluginRegister.register("OwnInventory", SimpleInventory)
    config = write_fleet(tmp_path, "OwnInventory")
    report = tmp_path / "report.json"
    # WHEN a job runs over it
    code = main([job, "--config", str(config), "--report", str(report)])
    # THEN bad input: exit 2, one line naming the cluster and the key, and no cluster was
    # read (status showed it as a cluster in state `unknown` and exited 1)
    out = capsys.readouterr()
    assert code == 2, out
    assert out.err.startswith("error: c1: data.package: "), out.err
    assert len(out.err.strip().splitlines()) == 1 and out.out == ""
    assert not report.exists()


def test_a_good_inventory_of_another_plugin_loads(tmp_path: Path) -> None:
    from runbooks.fleet import inventory

    InventoryPluginRegister.register("OwnInventory", SimpleInventory)
    config = write_fleet(tmp_path, "OwnInventory", package="/var/tmp/junos-srxsme-24.2R2-S1.3.tgz")
    fleet = inventory.load(
        config_file=str(config), inventory_dir=None, clusters=[], filters=[], workers=None
    )
    assert fleet.names == ["c1"]
