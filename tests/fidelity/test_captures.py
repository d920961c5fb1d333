"""The XML module (tasks/device/junos.py) against replies captured from real devices.

Every entry of captures/*/expectations.yaml is a case: the capture file, where it comes from,
and what a careful engineer concludes by reading the XML (written before any parser ran on
it). Each capture is parsed twice: as the file holds it (namespaced rpc-reply, a bare inner
element, a fragment) and with the namespaces stripped the way PyEZ hands replies over.
Replies from real devices have `real: true`; constructed variants are named `variant-*`.
The window captures (alarms, cluster interfaces, sessions, tunnels, routes, file copy,
storage cleanup) have no parser yet: they are read here only to prove they are well formed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from lxml import etree

from tasks.device import junos
from tasks.device.readings import ClusterStatus
from tests.fidelity.expectations import expectations

pytestmark = pytest.mark.fidelity

HERE = Path(__file__).parent / "captures"
Case = dict[str, Any]


def cases(kind: str) -> list[Case]:
    return expectations(HERE / kind / "expectations.yaml")


def params(kind: str, rpcs: tuple[str, ...] | None = None) -> list[Any]:
    return list(_params(kind, rpcs))


def _params(kind: str, rpcs: tuple[str, ...] | None) -> Iterator[Any]:
    for case in cases(kind):
        if rpcs is None or case["rpc"] in rpcs:
            yield pytest.param(case, id=case["file"])


def load(kind: str, case: Case) -> etree._Element:
    text = (HERE / kind / case["file"]).read_bytes()
    return etree.fromstring(text.strip(), etree.XMLParser(remove_blank_text=False))


def both_forms(case: Case) -> list[etree._Element]:
    """The capture as stored and as PyEZ would hand it over (namespaces stripped)."""
    raw = load("core", case)
    return [raw, junos._strip(raw)]


def node(name: str) -> str:
    return name  # '' = a reply not wrapped per node: the caller names the node


# ------------------------------------------------------------------------- per RPC checks


def check_software(elem: etree._Element, expect: Case) -> None:
    parsed = junos.parse_software(elem)
    assert {n: s.version for n, s in parsed.items()} == expect["versions"]
    models = {n: s.model.upper() for n, s in parsed.items()}
    assert models == {n: m.upper() for n, m in expect["models"].items()}


def _member_view(status: ClusterStatus) -> dict[int, dict[str, dict[str, Any]]]:
    return {
        g.rg_id: {
            m.node: {
                "priority": m.priority,
                "status": m.status,
                "preempt": m.preempt,
                "manual": m.manual_failover,
                "monitor_failures": list(m.monitor_failures),
            }
            for m in g.members
        }
        for g in status.groups
    }


def _expected_members(groups: Case) -> dict[int, dict[str, dict[str, Any]]]:
    return {
        int(rg): {
            name: {
                "priority": m["priority"],
                "status": m["status"],
                "preempt": m["preempt"] == "yes",  # 'no', 'n/a' (a lost peer) or absent
                "manual": m["failover_mode"] == "yes",
                "monitor_failures": list(m["monitor_failures"] or []),
            }
            for name, m in members.items()
        }
        for rg, members in groups.items()
    }


def check_cluster_status(elem: etree._Element, expect: Case) -> None:
    parsed = junos.parse_cluster_status(elem)
    if "error" in expect:  # chassis cluster not enabled: no status, the device's words kept
        assert parsed is None
        assert expect["error"] in junos.error_message(junos._root(elem))
        return
    assert parsed is not None
    assert parsed.cluster_id == expect["cluster_id"]
    assert _member_view(parsed) == _expected_members(expect["groups"])


def check_uptime(elem: etree._Element, expect: Case) -> None:
    parsed = junos.parse_boot_times(elem)
    assert {n: b.booted_at for n, b in parsed.items()} == expect["booted"]


def check_storage(elem: etree._Element, expect: Case) -> None:
    parsed = junos.parse_storage(elem)
    assert {n: len(fs) for n, fs in parsed.items()} == expect["filesystems"]
    free = {n: junos.free_bytes_for(fs) for n, fs in parsed.items()}
    assert free == expect["var_tmp_free_bytes"]


def check_file_list(elem: etree._Element, expect: Case) -> None:
    for name, size in expect["files"].items():
        info = junos.parse_file_list(elem, name)
        assert info is not None and info.kind == "file", (name, info)
        if size is not None:
            assert info.size == size
    for kind in ("directories", "symlinks"):
        for name in expect[kind]:
            info = junos.parse_file_list(elem, name)
            assert info is not None and info.kind == kind.rstrip("s").replace("ie", "y"), info
            assert info.kind != "file"  # never taken for a package


def check_checksum(elem: etree._Element, expect: Case) -> None:
    if "error" in expect:
        with pytest.raises(ValueError, match="no checksum") as raised:
            junos.parse_checksum(elem)
        assert expect["error"] in str(raised.value)
        return
    assert junos.parse_checksum(elem) == expect["checksum"].lower()


def check_package(elem: etree._Element, expect: Case, icu: bool = False) -> None:
    result = junos.parse_icu_result(elem) if icu else junos.parse_package_result(elem)
    # the ICU's reply without a result is no evidence either way (unknown: observe)
    refused = ("failed", "unknown") if icu else ("failed",)
    assert result.verdict in (("ok",) if expect["success"] else refused), result
    assert expect["words"].lower() in result.output.lower(), result
    for name, ok in (expect.get("nodes") or {}).items():
        assert result.nodes[name] == ("ok" if ok else "failed"), result
    if "becomes_active" in expect:
        assert junos.rollback_release(result.output) == expect["becomes_active"]
    if "error" in expect:
        assert expect["error"] in result.output


def check_pending(elem: etree._Element, expect: Case) -> None:
    pending = junos.parse_pending_install(elem)
    if expect["success"]:  # nothing pending
        assert pending is None
    else:
        assert pending is not None and expect["words"] in pending


def check_reboot(elem: etree._Element, expect: Case) -> None:
    text = junos.reboot_text(elem)
    if expect.get("text"):
        assert text.split() == expect["text"].split()
    if "error" in expect:
        assert expect["error"] in text


def check_rpc_error(elem: etree._Element, expect: Case) -> None:
    from jnpr.junos.exception import RpcError

    assert expect["error"] in junos.error_message(junos._root(elem))
    # what a caller sees when PyEZ raises it: the device's words, timestamp and all
    assert expect["error"] in junos._rpc_error_text(RpcError(rsp=elem))


CHECKS: dict[str, Callable[[etree._Element, Case], None]] = {
    "get-software-information": check_software,
    "get-chassis-cluster-status": check_cluster_status,
    "get-system-uptime-information": check_uptime,
    "get-system-storage": check_storage,
    "file-list": check_file_list,
    "get-checksum-information": check_checksum,
    "get-sha256-checksum-information": check_checksum,
    "request-package-add": check_package,
    "request-package-validate": check_package,
    "request-package-rollback": check_package,
    "request-package-in-service-upgrade": lambda e, x: check_package(e, x, icu=True),
    "check-in-service-upgrade": check_package,
    "request-package-checks-pending-install": check_pending,
    "request-reboot": check_reboot,
    "rpc-error": check_rpc_error,
}


@pytest.mark.parametrize("case", params("core", tuple(CHECKS)))
def test_core_capture(case: Case) -> None:
    check = CHECKS[case["rpc"]]
    for form in both_forms(case):
        check(form, case["expect"])


def test_enough_real_captures_with_sources() -> None:
    """At least 30 replies from real devices, each with where it was published."""
    real = [c for k in ("core", "window") for c in cases(k) if c.get("real")]
    assert len(real) >= 30
    for case in real:
        assert case["source"].get("repo") and case["source"].get("path"), case["file"]
    for kind in ("core", "window"):
        for case in cases(kind):
            assert (HERE / kind / case["file"]).is_file(), case["file"]
            if Path(case["file"]).name.startswith("variant-"):
                assert not case.get("real"), case["file"]


def test_every_core_rpc_has_a_check() -> None:
    unchecked = {c["rpc"] for c in cases("core")} - set(CHECKS) - {"get-system-core-dumps"}
    assert not unchecked


@pytest.mark.parametrize(
    "case", [p for p in params("window") if p.values[0]["file"].endswith(".xml")]
)
def test_window_capture_is_readable(case: Case) -> None:
    """Read as the RPC layer reads a reply (lxml's recovering parser, as ncclient's is)."""
    text = (HERE / "window" / case["file"]).read_bytes().strip()
    root = etree.fromstring(text, etree.XMLParser(recover=True))
    assert root is not None and isinstance(root.tag, str)
