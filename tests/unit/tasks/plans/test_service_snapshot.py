"""The service snapshot (tasks.plans.service_snapshot) read through NodeRpc from replies a device
gives:
nameless interface entries, an empty interface reply, IPsec that is not configured and a
high-end node's per-SPU flow sessions (docs/design/services.md)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from jnpr.junos.exception import RpcError
from lxml import etree

from tasks.device.junos import NodeRpc, _root
from tasks.plans.service_snapshot import (
    ServicePolicy,
    Snapshot,
    services_lost,
    snapshot_diff,
    take_snapshot,
)
from tasks.plans.service_steps import _summary

SAMPLES = Path(__file__).parents[3] / "data" / "samples"
NO_ALARMS = (
    "<alarm-information><alarm-summary><no-active-alarms/></alarm-summary></alarm-information>"
)
ROUTES = (
    "<route-summary-information><route-table><table-name>inet.0</table-name>"
    "<active-route-count>24</active-route-count></route-table></route-summary-information>"
)
NOT_CONFIGURED = (
    "<xnm:warning xmlns:xnm='x'><message>IPSec is not configured</message></xnm:warning>"
)
ONE_SUMMARY = (
    "<flow-session-information><flow-session-summary-information><active-sessions>14"
    "</active-sessions></flow-session-summary-information></flow-session-information>"
)


def _terse(*rows: tuple[str | None, str, str]) -> str:
    """(physical name or None, logical name, oper) rows of a terse reply."""
    body = "".join(
        "<physical-interface>"
        + (f"<name>{phys}</name><oper-status>{oper}</oper-status>" if phys else "")
        + f"<logical-interface><name>{logical}</name><oper-status>{oper}</oper-status>"
        "</logical-interface></physical-interface>"
        for phys, logical, oper in rows
    )
    return f"<interface-information>{body}</interface-information>"


class FakeDevice:
    """A PyEZ Device as NodeRpc uses it: device.rpc.<name>(...) gives the reply element (or
    raises what PyEZ raises)."""

    def __init__(self, replies: dict[str, str | bool | Exception | etree._Element]) -> None:
        self.replies = replies
        self.rpc = self

    def __getattr__(self, name: str) -> Callable[..., Any]:
        wanted = name.replace("_", "-")
        if wanted not in self.replies:
            raise AttributeError(name)

        def call(**kwargs: Any) -> Any:
            reply = self.replies[wanted]
            if isinstance(reply, Exception):
                raise reply
            if isinstance(reply, bool):  # PyEZ's answer to an empty <rpc-reply/>
                return reply
            if isinstance(reply, str):
                return _root(etree.fromstring(f"<rpc-reply>{reply}</rpc-reply>"))
            return _root(reply)

        return call


def snapshot(**replies: str | bool | Exception | etree._Element) -> Snapshot:
    base: dict[str, str | bool | Exception | etree._Element] = {
        "get-interface-information": _terse(("ge-0/0/0", "ge-0/0/0.0", "up")),
        "get-security-associations-information": NOT_CONFIGURED,
        "get-route-summary-information": ROUTES,
        "get-alarm-information": NO_ALARMS,
        "get-system-alarm-information": NO_ALARMS,
        "get-flow-session-information": ONE_SUMMARY,
    }
    base.update({k.replace("_", "-"): v for k, v in replies.items()})
    return take_snapshot(NodeRpc(FakeDevice(base), cluster="c1", node="node0", timeout=5))


def test_nameless_interface_entries_never_count_nor_show_in_the_diff() -> None:
    # GIVEN replies filtered by routing instance: nameless wrappers around named units
    wrapped = _terse((None, "ge-0/0/1.0", "up"), (None, "st0.1", "up"))
    before = snapshot(get_interface_information=wrapped)
    after = snapshot(get_interface_information=_terse((None, "ge-0/0/1.0", "up")))
    # THEN only named interfaces count, and what is lost is st0.1, never ''
    assert before.services.interfaces == {"ge-0/0/1.0": "up", "st0.1": "up"}
    assert services_lost(before, after, ServicePolicy()) == ["interface st0.1 up -> missing"]
    assert "" not in snapshot_diff(before, after)["interfaces"]
    assert _summary(before).startswith("2/2 interfaces up")


def test_an_empty_interface_reply_is_no_interfaces() -> None:
    empty = snapshot(get_interface_information="<interface-information><physical-interface/>"
                     "</interface-information>")  # fmt: skip
    assert empty.services.interfaces == {}
    assert _summary(empty).startswith("0/0 interfaces up")
    assert services_lost(empty, empty, ServicePolicy()) == []


def test_an_empty_envelope_is_no_interfaces_and_the_snapshot_is_taken() -> None:
    # GIVEN an interface reply that is an empty <rpc-reply/> (PyEZ hands back True)
    empty = snapshot(get_interface_information=True)
    # THEN no interface, nothing unreadable, the rest of the snapshot read as usual
    assert empty.services.interfaces == {} and empty.unreadable == ()
    assert _summary(empty).startswith("0/0 interfaces up")
    assert empty.services.routes == {"inet.0": 24}
    before = snapshot()
    assert services_lost(before, empty, ServicePolicy()) == [
        "interface ge-0/0/0 up -> missing",
        "interface ge-0/0/0.0 up -> missing",
    ]


def test_ipsec_not_configured_is_no_tunnels_with_the_device_words() -> None:
    snap = snapshot()
    assert snap.services.tunnels == {} and snap.unreadable == ()
    assert snap.notes == ("no IPsec tunnels (device: IPSec is not configured)",)
    assert "no IPsec tunnels (device: IPSec is not configured)" in _summary(snap)
    assert Snapshot.from_json(snap.to_json()).notes == snap.notes


def test_ipsec_not_configured_as_an_rpc_error_is_the_same_other_errors_unreadable() -> None:
    refused = RpcError(errs=[{"message": "IPSec is not configured", "severity": "error"}])
    snap = snapshot(get_security_associations_information=refused)
    assert snap.notes == ("no IPsec tunnels (device: IPSec is not configured)",)
    assert snap.unreadable == ()
    words = "the ipsec-key-management subsystem is not responding"
    broken = RpcError(errs=[{"message": words, "severity": "error"}])
    snap = snapshot(get_security_associations_information=broken)
    assert snap.notes == ()
    assert snap.unreadable == ("tunnels: the ipsec-key-management subsystem is not responding",)


def test_ipsec_not_configured_as_bare_reply_text_keeps_the_words() -> None:
    bare = etree.fromstring("<rpc-reply>\nIPSec is not configured\n</rpc-reply>")
    snap = snapshot(get_security_associations_information=bare)
    assert snap.services.tunnels == {} and snap.unreadable == ()
    assert snap.notes == ("no IPsec tunnels (device: IPSec is not configured)",)


def test_high_end_sessions_are_added_up_per_node_and_kept_per_spu() -> None:
    # GIVEN an SRX5800 cluster: one summary per SPU on each node (inferred shape)
    reply = etree.parse(
        str(SAMPLES / "srx5800-cluster-inferred" / "get-flow-session-information-summary.xml")
    ).getroot()
    snap = snapshot(get_flow_session_information=reply)
    # THEN each node's figure is its SPUs' sum, and the per-SPU figures are in the report
    assert snap.sessions_by_node == {"node0": 3750, "node1": 75}
    assert snap.services.sessions == 3825
    spus = snap.to_json()["sessions_per_spu"]
    assert spus["node0"] == {"FPC0 PIC1": 1200, "FPC0 PIC2": 1300, "FPC0 PIC3": 1250}
    again = Snapshot.from_json(snap.to_json())
    assert again.sessions_per_spu == snap.sessions_per_spu and again.services.sessions == 3825


def test_one_summary_per_node_has_no_per_spu_figures() -> None:
    snap = snapshot()
    assert snap.sessions_by_node == {"node0": 14}
    assert "sessions_per_spu" not in snap.to_json()
