"""The simulator's replies have the shape of real ones: every element path a lab prints, for
each release form it offers, occurs in a reply captured from a real device (the real entries
of captures/core and the vSRX 24.4 captures in tests/data/samples, both stored in this
repository), except the few listed in NOT_CAPTURED with the reason. Read over a raw PyEZ
session, as any client sees them."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from lxml import etree

from tasks.device.junos import _strip
from tests.e2e.conftest import make_lab  # noqa: F401  (the fixture)
from tests.e2e.test_simulator_e2e import session
from tests.fidelity.expectations import expectations

CORE = Path(__file__).parent / "captures" / "core"
SAMPLES = Path(__file__).resolve().parents[1] / "data" / "samples"
# The directories of tests/data/samples that hold real replies (srx5800-cluster-inferred is
# inferred, not captured: it proves nothing about what a device prints).
REAL_SAMPLES = ("vsrx-24.4-cluster", "vsrx-24.4-standalone")
WRAP = "multi-routing-engine-results/multi-routing-engine-item/"

LAB = [
    {"name": "r12-1x44", "model": "SRX240", "release": "12.1X44-D45.2", "target": "12.1X46-D65.4"},
    {"name": "r12-3x48", "model": "SRX240", "release": "12.3X48-D50.6", "target": "12.3X48-D105.4"},
    {"name": "r15-1x49", "model": "SRX345", "release": "15.1X49-D170.4", "target": "18.4R3-S9.2"},
    {"name": "r23-4"},
    {"name": "peer-lost", "state": "node-down"},
    {"name": "pending", "state": "pending-install"},
]

# Paths the simulator prints that no public real reply shows, and why they are kept.
NOT_CAPTURED = {
    # the only real detail listing is the 12.1X46 core-dump one, stored as a one-line excerpt
    ("file-list", "directory-list/directory/file-information/file-size"),
    # the pending-install replies in public test suites are hand-made (real: false)
    ("request-package-checks-pending-install", "package-result"),
}

RPCS: dict[str, Callable[[Any], Any]] = {
    "get-software-information": lambda d: d.rpc.get_software_information(),
    "get-chassis-cluster-status": lambda d: d.rpc.get_chassis_cluster_status(),
    "get-system-uptime-information": lambda d: d.rpc.get_system_uptime_information(),
    "get-system-storage": lambda d: d.rpc.get_system_storage(),
    "file-list": lambda d: d.rpc.file_list(path="/var/tmp/", detail=True),
    "request-package-checks-pending-install": lambda d: (
        d.rpc.request_package_checks_pending_install()
    ),
}


def paths(elem: etree._Element) -> set[str]:
    """Element paths below the rpc-reply, the per-node wrapper (and its re-name, the same in
    every wrapped reply of a cluster) folded away."""
    root = _strip(elem)
    tops = list(root) if root.tag == "rpc-reply" else [root]
    out: set[str] = set()

    def walk(e: etree._Element, prefix: str) -> None:
        if not isinstance(e.tag, str):
            return
        path = f"{prefix}/{e.tag}" if prefix else e.tag
        folded = path.replace(WRAP, "")
        if folded not in ("multi-routing-engine-results", WRAP.rstrip("/"), "re-name"):
            out.add(folded)
        for child in e:
            walk(child, path)

    for top in tops:
        walk(top, "")
    return out


def real_paths() -> dict[str, set[str]]:
    parser = etree.XMLParser(recover=True)
    seen: dict[str, set[str]] = {}
    for case in expectations(CORE / "expectations.yaml"):
        if case.get("real"):
            root = etree.fromstring((CORE / case["file"]).read_bytes().strip(), parser)
            rpc = "file-list" if case["rpc"] == "get-system-core-dumps" else case["rpc"]
            seen.setdefault(rpc, set()).update(paths(root))
    for name in REAL_SAMPLES:
        # stored in the repository: a missing one is a broken checkout, said as such (not a
        # list of "unseen" paths)
        captures = sorted((SAMPLES / name).glob("*.xml"))
        assert captures, f"real captures missing: {SAMPLES / name}"
        for sample in captures:
            root = etree.fromstring(sample.read_bytes().strip(), parser)
            seen.setdefault(sample.stem, set()).update(paths(root))
    return seen


def test_every_path_the_lab_prints_is_in_a_real_reply(make_lab) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    real = real_paths()
    lab = make_lab(LAB, speed=1)  # slow clock: nothing moves while we read
    unseen = []
    for spec in LAB:
        with session(lab, spec["name"], "node0") as dev:
            for rpc, call in RPCS.items():
                reply = call(dev)
                whole = reply.getparent() if reply.getparent() is not None else reply
                for path in sorted(paths(whole) - real.get(rpc, set())):
                    if (rpc, path) not in NOT_CAPTURED:
                        unseen.append(f"{spec['name']}: {rpc}: {path}")
    assert not unseen, "\n".join(unseen)
