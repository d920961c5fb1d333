"""The simulator's lab file (docs/development/lab-contract.md): a cluster's own inventory `data:`
(site,
region, ...) checked like the rest of the file and written into the generated inventory, so
a window can be rehearsed with an operator's own names (e2e: tests/e2e/test_status_e2e.py)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import yaml

from simulator.__main__ import LabError, build, main, write_inventory


def one(entry: dict[str, Any]) -> Any:
    (cluster,) = build({"clusters": [{"name": "c1", **entry}]}, now=1_000_000.0)
    return cluster


def test_a_cluster_carries_its_own_data() -> None:
    assert one({"data": {"site": "nyc", "region": "us-east"}}).data == {
        "site": "nyc",
        "region": "us-east",
    }
    assert one({}).data == {}


@pytest.mark.parametrize(
    ("data", "words"),
    [
        ("nyc", "c1: data must be a mapping"),
        ({"my key": 1}, "c1: data key 'my key' is not a name"),
        ({1: "x"}, "c1: data key 1 is not a name"),
        ({"target_release": "24.4R1.9"}, "c1: data.target_release is written by the lab"),
        ({"cluster_id": 7}, "c1: data.cluster_id is written by the lab"),
    ],
)
def test_bad_data_is_a_lab_error(data: Any, words: str) -> None:
    with pytest.raises(LabError) as caught:
        one({"data": data})
    assert str(caught.value).startswith(words), caught.value


def test_bad_data_is_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lab = tmp_path / "lab.yaml"
    lab.write_text(yaml.safe_dump({"clusters": [{"name": "c1", "data": {"model": "SRX9"}}]}))
    assert main(["--lab", str(lab)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["error: c1: data.model is written by the lab (from model, release and target)"]


def test_the_generated_inventory_holds_the_data(tmp_path: Path) -> None:
    # GIVEN a lab of three clusters, the second with its own site and region
    clusters = build(
        {
            "clusters": [
                {"name": "a1"},
                {"name": "nyc1", "data": {"site": "nyc", "region": "us-east"}},
                {"name": "a3"},
            ]
        },
        now=1_000_000.0,
    )
    key = SimpleNamespace(export_public_key=lambda form: b"ssh-ed25519 AAAAC3Nza")
    port = iter(range(40001, 40100))
    for sc in clusters:
        sc.servers = [SimpleNamespace(node=n, port=next(port), key=key) for n in ("node0", "node1")]
    lab = SimpleNamespace(
        clusters=clusters,
        nodes=[ns for sc in clusters for ns in sc.servers],
        username="lab",
        password="lab",
    )
    # WHEN the inventory is written
    write_inventory(lab, tmp_path, speed=600)  # type: ignore[arg-type]
    hosts = yaml.safe_load((tmp_path / "hosts.yaml").read_text())
    # THEN that cluster's data replaces the round-robin site; the others keep theirs
    assert hosts["nyc1"]["data"] == {"site": "nyc", "region": "us-east", "cluster_id": 2}
    assert hosts["a1"]["data"]["site"] == "lab-a" and hosts["a3"]["data"]["site"] == "lab-c"


def test_packages_are_put_on_both_nodes_and_bad_ones_refused() -> None:
    c = one({"packages": ["24.4R1.9"]})
    path = "/var/tmp/junos-srxsme-24.4R1.9.tgz"
    assert c.packages == ("24.4R1.9",)
    assert all(path in n.files for n in c.model.nodes.values())
    with pytest.raises(LabError, match="packages must be a list"):
        one({"packages": "24.4R1.9"})
    assert one({"state": "inconsistent"}).model.mixed[0]["until"] is None  # recorded at start
