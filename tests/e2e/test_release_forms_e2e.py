"""The runbooks end to end against the reply forms of older releases the simulator prints
(docs/development/lab-contract.md, "Reply forms by release"): per-node wrapping, storage without the
md0.uzip image, no <monitor-failures> before 12.3X48."""

from __future__ import annotations

from typing import Any

import pytest

from tests.e2e.conftest import destructive
from tests.e2e.test_simulator_e2e import session

ICU = "request-package-in-service-upgrade"

CASES = [
    # (model, release, target): 12.1X44, the oldest branch form, over the real stack; it, the
    # 12.3X48 and 15.1X49 forms are upgraded in-process (tests/unit/tasks/test_path_rules_jobs.py)
    ("SRX240", "12.1X44-D45.2", "12.1X46-D65.4"),
]


def raw(lab: Any, cluster: str, node: str) -> dict[str, Any]:
    """What a raw PyEZ client sees of the forms that differ by release."""
    with session(lab, cluster, node) as dev:
        status = dev.rpc.get_chassis_cluster_status(redundancy_group="0")
        storage = dev.rpc.get_system_storage()
        return {
            "monitor": status.find(".//monitor-failures") is not None,
            "mounts": [e.text.strip() for e in storage.getparent().iter("mounted-on")],
            "names": [e.text.strip() for e in storage.getparent().iter("filesystem-name")],
        }


@pytest.mark.parametrize(("model", "release", "target"), CASES)
def test_upgrade_through_the_forms_of_older_releases(  # type: ignore[no-untyped-def]
    make_lab, runbooks_for, model, release, target
) -> None:
    # GIVEN a cluster on an older release, whose replies take that release's forms
    lab = make_lab([{"name": "c1", "model": model, "release": release, "target": target}])
    seen = raw(lab, "c1", "node0")
    assert seen["monitor"] is (release >= "12.3X48"), seen
    assert ("md0.uzip" in " ".join(seen["names"])) is release.startswith("15.1X49"), seen
    # WHEN the fleet upgrade runs
    result = runbooks_for(lab).run("upgrade", "--yes")
    # THEN the pre-checks read those forms (free space included) and the ICU completes
    c = result.cluster("c1")
    assert c["outcome"] == "ok", c
    assert c["versions"] == {"node0": target, "node1": target}
    assert [r["rpc"] for r in destructive(lab.audit())].count(ICU) == 1
    assert result.code == 0
