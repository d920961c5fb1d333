"""The ICU-prerequisite and service-check parsers (tasks/device/junos.py) against the captures of
captures/window: cluster links, chassis and system alarms, interfaces, IPsec tunnels, route
tables and flow sessions, each parsed raw and namespace-stripped, compared with what reading
the XML says (expectations.yaml). Text-only captures (.txt) are not replies an RPC returns."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from lxml import etree

from tasks.device import junos
from tests.fidelity.expectations import expectations

pytestmark = pytest.mark.fidelity

WINDOW = Path(__file__).parent / "captures" / "window"
Case = dict[str, Any]


def load(case: Case) -> list[etree._Element]:
    text = (WINDOW / case["file"]).read_bytes().strip()
    raw = etree.fromstring(text, etree.XMLParser(recover=True))
    return [raw, junos._strip(raw)]


def one(per_node: dict[str, Any]) -> Any:
    """The single node's value of an unwrapped (or one-node) reply."""
    assert len(per_node) == 1, per_node
    return next(iter(per_node.values()))


def check_links(elem: etree._Element, x: Case) -> None:
    links = junos.parse_cluster_links(elem)
    assert links.control == x["control_link_status"]
    assert links.fabric == x["fabric_link_status"]
    assert links.control_links == x["control_links"]
    children = {
        child: f"{s['physical']} / {s['monitored']}"
        for fab in x.get("fabric_children", {}).values()
        for child, s in fab.items()
    }
    if children:
        assert links.fabric_links == children
    assert links.up is (x["control_link_status"] == x["fabric_link_status"] == "up")


def _alarms(found: list[junos.Alarm]) -> list[dict[str, str]]:
    return [{"class": a.severity, "description": a.description} for a in found]


def check_alarms(source: str) -> Callable[[etree._Element, Case], None]:
    def check(elem: etree._Element, x: Case) -> None:
        found = junos.parse_alarms(elem, source)
        if "nodes" in x:
            assert {n: _alarms(a) for n, a in found.items()} == x["nodes"]
        else:
            assert _alarms(one(found) if found else []) == x["alarms"]

    return check


def check_interfaces(elem: etree._Element, x: Case) -> None:
    if "error" in x:
        assert x["error"] in junos.error_message(junos._root(elem))
        return
    found = one(junos.parse_interfaces(elem))
    want = {**x.get("interfaces", {}), **x.get("logical", {})}
    assert {n: found[n] for n in want} == {n: s["oper"] for n, s in want.items()}


def _tunnels(sas: list[dict[str, Any]]) -> dict[str, str]:
    out: dict[str, str] = {}
    for sa in sas:
        key = f"{sa['remote_gateway']}#{sa['index']}"
        out[key] = "up" if out.get(key) == "up" else sa["state"]
    return out


def check_tunnels(elem: etree._Element, x: Case) -> None:
    found = junos.parse_ipsec_tunnels(elem)
    if "nodes" in x:  # '(unnamed)': a multi-routing-engine-item without <re-name>
        want = {"" if n == "(unnamed)" else n: _tunnels(sas) for n, sas in x["nodes"].items()}
        assert found == want
    else:
        assert (one(found) if found else {}) == _tunnels(x.get("tunnels", []))
    if "total_active_tunnels" in x and "nodes" not in x:
        up = [k for k, v in (one(found) if found else {}).items() if v == "up"]
        assert len(up) == x["total_active_tunnels"]


def check_routes(elem: etree._Element, x: Case) -> None:
    if "error" in x:
        assert x["error"] in junos.error_message(junos._root(elem))
        return
    found = one(junos.parse_route_summary(elem))
    assert found == {t: v["active"] for t, v in x["tables"].items()}


def check_sessions(elem: etree._Element, x: Case) -> None:
    if "error" in x:
        assert x["error"] in junos.error_message(junos._root(elem))
        return
    found = junos.parse_flow_sessions(elem)
    if "nodes" in x:
        assert found == x["nodes"]
    else:
        assert one(found) == x["active_sessions"]


CHECKS: dict[str, Callable[[etree._Element, Case], None]] = {
    "get-chassis-cluster-interfaces": check_links,
    "get-alarm-information": check_alarms("chassis"),
    "get-system-alarm-information": check_alarms("system"),
    "get-interface-information": check_interfaces,
    "get-security-associations-information": check_tunnels,
    "get-route-summary-information": check_routes,
    "get-flow-session-information": check_sessions,
}

CASES = [
    pytest.param(c, id=c["file"])
    for c in expectations(WINDOW / "expectations.yaml")
    if c["rpc"] in CHECKS and c["file"].endswith(".xml")
]


@pytest.mark.parametrize("case", CASES)
def test_window_capture(case: Case) -> None:
    for form in load(case):
        CHECKS[case["rpc"]](form, case["expect"])
