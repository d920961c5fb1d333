"""tasks.device.junos parsers against the real captures and against constructed variants."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from lxml import etree

from tasks.device import junos

SAMPLES = Path(__file__).parents[3] / "data" / "samples"
CLUSTER = SAMPLES / "vsrx-24.4-cluster"
STANDALONE = SAMPLES / "vsrx-24.4-standalone"

ENVELOPE = (
    '<nc:rpc-reply xmlns:nc="urn:ietf:params:xml:ns:netconf:base:1.0" '
    'xmlns:junos="http://xml.juniper.net/junos/12.1X46/junos" message-id="3">{}</nc:rpc-reply>'
)


def load(path: Path) -> etree._Element:
    return etree.parse(str(path)).getroot()


def xml(body: str) -> etree._Element:
    return etree.fromstring(ENVELOPE.format(body).encode())


def test_software_per_node_from_capture() -> None:
    sw = junos.parse_software(load(CLUSTER / "get-software-information.xml"))
    assert set(sw) == {"node0", "node1"}
    assert sw["node0"].version == "24.4R1.9"
    assert sw["node1"].hostname == "vSRX-test19"
    assert sw["node0"].model == "VSRX"


def test_software_pre_15_1_version_from_package_comment_and_banner() -> None:
    body = """
    <multi-routing-engine-results><multi-routing-engine-item><re-name>node1</re-name>
    <software-information><host-name>br1</host-name><product-model>srx240h2</product-model>
    <package-information><name>junos</name>
    <comment>JUNOS Software Release [12.1X46-D65.4]</comment></package-information>
    </software-information></multi-routing-engine-item></multi-routing-engine-results>"""
    root = etree.fromstring(("<!-- banner -->" + ENVELOPE.format(body)).encode())
    sw = junos.parse_software(root)
    assert sw == {"node1": sw["node1"]}
    assert sw["node1"].version == "12.1X46-D65.4"
    assert sw["node1"].model == "SRX240H2"


def test_software_unwrapped_reply_has_empty_node_name() -> None:
    body = (
        "<software-information><host-name>a</host-name>"
        "<junos-version>21.4R3-S5.4</junos-version></software-information>"
    )
    assert junos.parse_software(xml(body))[""].version == "21.4R3-S5.4"


def test_cluster_status_flat_device_stats_from_capture() -> None:
    st = junos.parse_cluster_status(load(CLUSTER / "get-chassis-cluster-status.xml"))
    assert st is not None
    assert st.cluster_id == 1
    assert [g.rg_id for g in st.groups] == [0, 1]
    rg0 = st.group(0)
    assert rg0 is not None and rg0.failover_count == 8
    assert rg0.member("node0").priority == 200  # type: ignore[union-attr]
    assert rg0.member("node1").status == "disabled"  # type: ignore[union-attr]
    assert st.group(1).member("node0").preempt is True  # type: ignore[union-attr]
    assert st.rg0_primary == "node0"


def test_cluster_status_peer_lost_and_no_monitor_failures_element() -> None:
    body = """<chassis-cluster-status><cluster-id>7</cluster-id><redundancy-group>
    <redundancy-group-id>0</redundancy-group-id><redundancy-group-failover-count>1</redundancy-group-failover-count>
    <device-stats><device-name>node0</device-name><device-priority>200</device-priority>
    <redundancy-group-status>primary</redundancy-group-status><preempt>no</preempt>
    <failover-mode>no</failover-mode>
    <device-name>node1</device-name><device-priority>0</device-priority>
    <redundancy-group-status>lost</redundancy-group-status><preempt>n/a</preempt>
    <failover-mode>n/a</failover-mode></device-stats></redundancy-group></chassis-cluster-status>"""
    st = junos.parse_cluster_status(xml(body))
    assert st is not None
    node1 = st.group(0).member("node1")  # type: ignore[union-attr]
    assert node1 is not None and node1.status == "lost" and node1.priority == 0
    assert node1.monitor_failures == ()


def test_cluster_status_monitor_failures_and_manual_failover() -> None:
    body = """<chassis-cluster-status><cluster-id>1</cluster-id><redundancy-group>
    <redundancy-group-id>1</redundancy-group-id><device-stats>
    <device-name>node0</device-name><device-priority>255</device-priority>
    <redundancy-group-status>primary</redundancy-group-status><preempt>yes</preempt>
    <failover-mode>yes</failover-mode><monitor-failures>None</monitor-failures>
    <device-name>node1</device-name><device-priority>0</device-priority>
    <redundancy-group-status>secondary</redundancy-group-status><preempt>yes</preempt>
    <failover-mode>no</failover-mode><monitor-failures>CS IF</monitor-failures>
    </device-stats></redundancy-group></chassis-cluster-status>"""
    st = junos.parse_cluster_status(xml(body))
    rg1 = st.group(1)  # type: ignore[union-attr]
    assert rg1.member("node0").manual_failover is True  # type: ignore[union-attr]
    assert rg1.member("node1").monitor_failures == ("CS", "IF")  # type: ignore[union-attr]


def test_cluster_status_not_enabled_is_none() -> None:
    assert junos.parse_cluster_status(load(STANDALONE / "get-chassis-cluster-status.xml")) is None


def test_boot_times_from_capture() -> None:
    boots = junos.parse_boot_times(load(CLUSTER / "get-system-uptime-information.xml"))
    assert boots["node0"].booted_at == 1779636552
    assert boots["node1"].booted_at == 1779636556
    assert boots["node1"].current_time == 1779843151


def test_storage_and_free_space_for_var_tmp() -> None:
    fs = junos.parse_storage(load(STANDALONE / "get-system-storage.xml"))[""]
    assert fs[0].available_bytes == 20515836 * 512
    # /var/tmp lives on /.mount (the root), not on /.mount/tmp
    assert junos.free_bytes_for(fs, "/var/tmp") == 20515836 * 512


def test_unknown_rpc_error_text() -> None:
    root = junos._root(load(STANDALONE / "unknown-rpc-error.xml"))
    assert junos.error_message(root) == "syntax error"


@pytest.mark.parametrize(
    ("body", "ok", "text"),
    [
        ("<output>ICU started</output><package-result>0</package-result>", True, "ICU started"),
        (
            "<output>There is already an install pending.</output>"
            "<package-result>1</package-result>",
            False,
            "There is already an install pending.",
        ),
        ("<package-result>0</package-result>", True, ""),
    ],
)
def test_package_result(body: str, ok: bool, text: str) -> None:
    result = junos.parse_package_result(xml(body))
    assert result.ok is ok
    assert result.output == text


def test_pending_install() -> None:
    pending = (
        "<output>There is already an install pending...</output><package-result>1</package-result>"
    )
    assert junos.parse_pending_install(xml(pending)) == "There is already an install pending..."
    assert junos.parse_pending_install(xml("<package-result>0</package-result>")) is None


def test_file_list_and_checksum() -> None:
    listing = """<directory-list><directory><directory-name>/var/tmp/</directory-name>
    <file-information><file-name>/var/tmp/junos.tgz</file-name><file-size>4561</file-size>
    </file-information></directory></directory-list>"""
    info = junos.parse_file_list(xml(listing), "/var/tmp/junos.tgz")
    assert info is not None and info.size == 4561
    assert junos.parse_file_list(xml(listing), "/var/tmp/other.tgz") is None
    checksum = """<checksum-information><file-checksum><computation-method>MD5</computation-method>
    <input-file>/var/tmp/junos.tgz</input-file><checksum>ABCDEF</checksum></file-checksum>
    </checksum-information>"""
    assert junos.parse_checksum(xml(checksum)) == "abcdef"


def test_no_evidence_is_not_success() -> None:
    assert junos.parse_package_result(True).verdict == "unknown"
    assert junos.parse_package_result(xml("<output>Nothing to say</output>")).verdict == "unknown"


# ------------------------------------------ service snapshot replies (docs/design/services.md)

HIGH_END = SAMPLES / "srx5800-cluster-inferred"  # inferred, not a capture: docs/design/services.md
TERSE = '<interface-information junos:style="terse">{}</interface-information>'


def _itf(tag: str, name: str | None, oper: str, inner: str = "") -> str:
    named = f"<name>{name}</name>" if name is not None else ""
    status = f"<admin-status>up</admin-status><oper-status>{oper}</oper-status>"
    return f"<{tag}>{named}{status}{inner}</{tag}>"


def test_interfaces_nameless_wrappers_of_a_routing_instance_reply_are_no_interface() -> None:
    # GIVEN a terse reply filtered by routing instance: nameless physical-interface elements,
    # each around a named logical interface (one of them down)
    body = _itf("physical-interface", None, "up", _itf("logical-interface", "ge-0/0/1.0", "up"))
    body += _itf("physical-interface", None, "down", _itf("logical-interface", "st0.1", "down"))
    found = junos.parse_interfaces(xml(TERSE.format(body)))
    # THEN the logical interfaces count by their names, and no interface is named ''
    assert found == {"": {"ge-0/0/1.0": "up", "st0.1": "down"}}


@pytest.mark.parametrize(
    "body",
    ["", "<physical-interface/>", "<physical-interface>\n</physical-interface>"],
    ids=["no-entries", "one-empty-entry", "one-blank-entry"],
)
def test_interfaces_an_empty_reply_is_no_interfaces_not_one_down(body: str) -> None:
    assert junos.parse_interfaces(xml(TERSE.format(body))) == {"": {}}


@pytest.mark.parametrize(
    ("parse", "nothing"),
    [
        (junos.parse_interfaces, {}),
        (junos.parse_route_summary, {}),
        (junos.parse_flow_sessions_per_spu, {}),
        (junos.parse_ipsec_tunnels, {}),
        (junos.parse_ipsec_words, ""),
        (lambda reply: junos.parse_alarms(reply, "chassis"), {}),
        (junos.parse_software, {}),
    ],
    ids=["interfaces", "routes", "sessions", "tunnels", "ipsec-words", "alarms", "software"],
)
def test_pyez_true_for_an_empty_reply_is_nothing_not_a_crash(parse: Any, nothing: Any) -> None:
    # GIVEN PyEZ's answer to an <rpc-reply/> with nothing in it: True, not an element
    # THEN each parser reads it as an empty reply (it raised AttributeError on 'tag')
    assert parse(True) == nothing
    assert parse(xml("")) == nothing


def test_pyez_true_for_an_empty_links_reply_is_no_link_state() -> None:
    links = junos.parse_cluster_links(True)
    assert (links.control, links.fabric, links.words) == ("", "", "")
    assert links.evidence() == ["control link unknown", "fabric link unknown"]


def test_interfaces_named_entries_unchanged() -> None:
    body = _itf("physical-interface", "reth0", "up", _itf("logical-interface", "reth0.0", "up"))
    body += _itf("physical-interface", "reth1", "down")
    found = junos.parse_interfaces(xml(TERSE.format(body)))
    assert found == {"": {"reth0": "up", "reth0.0": "up", "reth1": "down"}}


def test_cluster_links_not_clustered_keeps_the_device_words() -> None:
    # GIVEN the standalone box's xnm:error (the same one get-chassis-cluster-status gives)
    links = junos.parse_cluster_links(load(STANDALONE / "get-chassis-cluster-status.xml"))
    assert (links.control, links.fabric) == ("", "")
    assert links.words == "error: Chassis cluster is not enabled"
    assert links.not_clustered
    assert links.evidence() == [
        "chassis cluster is not enabled (device: error: Chassis cluster is not enabled)"
    ]


def test_cluster_links_with_state_have_no_words() -> None:
    links = junos.parse_cluster_links(load(CLUSTER / "get-chassis-cluster-interfaces.xml"))
    assert links.words == "" and not links.not_clustered
    assert links.evidence() == ["fabric link down"]  # the capture's degraded cluster


@pytest.mark.parametrize(
    "body",
    [
        '<xnm:warning xmlns:xnm="http://xml.juniper.net/xnm/1.1/xnm">'
        "<message>IPSec is not configured</message></xnm:warning>",
        '<xnm:error xmlns:xnm="http://xml.juniper.net/xnm/1.1/xnm">'
        "<message>\nIPSec is not configured\n</message></xnm:error>",
        "<output>IPSec is not configured</output>",
    ],
    ids=["xnm-warning", "xnm-error", "text-output"],
)
def test_ipsec_not_configured_keeps_the_device_words(body: str) -> None:
    # constructed: the forms a device's "not configured" takes in other replies
    reply = xml(body)
    assert junos.parse_ipsec_tunnels(reply) == {}
    assert junos.parse_ipsec_words(reply) == "IPSec is not configured"


@pytest.mark.parametrize(
    "text",
    ["\nIPSec is not configured\n", "\nerror: IPSec is not configured\n"],
    ids=["plain", "error-line"],
)
def test_ipsec_not_configured_as_the_bare_text_of_the_reply_keeps_the_words(text: str) -> None:
    # constructed: an <rpc-reply> holding nothing but the device's text (PyEZ returns it whole)
    reply = etree.fromstring(f"<rpc-reply>{text}</rpc-reply>")
    assert junos.parse_ipsec_tunnels(reply) == {}
    assert junos.parse_ipsec_words(reply) == text.strip().removeprefix("error: ")


@pytest.mark.parametrize(
    "text",
    ["\nerror: Chassis cluster is not enabled.\n", "\nChassis cluster is not enabled.\n"],
    ids=["error-line", "plain"],
)
def test_cluster_not_enabled_as_the_bare_text_of_the_reply_is_not_clustered(text: str) -> None:
    # constructed: the words as bare text, with or without 'error:' (it raised ValueError
    # without it: the node then read as unreachable, the words lost)
    reply = etree.fromstring(f"<rpc-reply>{text}</rpc-reply>")
    assert junos.parse_cluster_status(reply) is None
    links = junos.parse_cluster_links(reply)
    assert links.not_clustered and links.words == text.strip().removeprefix("error: ")
    assert junos.reply_words(reply) == text.strip().removeprefix("error: ")


def test_ipsec_no_tunnels_is_not_words() -> None:
    body = (
        '<ipsec-security-associations-information junos:style="brief">'
        "<total-active-tunnels>0</total-active-tunnels></ipsec-security-associations-information>"
    )
    assert junos.parse_ipsec_words(xml(body)) == ""


def test_flow_sessions_high_end_one_summary_per_spu_added_up_per_node() -> None:
    # GIVEN an SRX5800 cluster's summary: three SPUs per node (inferred shape)
    root = load(HIGH_END / "get-flow-session-information-summary.xml")
    for form in (root, junos._strip(root)):
        per_spu = junos.parse_flow_sessions_per_spu(form)
        # THEN each SPU keeps its figure under its FPC/PIC id, and the node is their sum
        assert per_spu == {
            "node0": {"FPC0 PIC1": 1200, "FPC0 PIC2": 1300, "FPC0 PIC3": 1250},
            "node1": {"FPC0 PIC1": 40, "FPC0 PIC2": 35, "FPC0 PIC3": 0},
        }
        assert junos.parse_flow_sessions(form) == {"node0": 3750, "node1": 75}


def _summary(active: int, inside: str = "") -> str:
    return (
        f"<flow-session-summary-information>{inside}<active-sessions>{active}</active-sessions>"
        "<max-sessions>524288</max-sessions></flow-session-summary-information>"
    )


def test_flow_sessions_per_pic_wrapper_and_spu_ids() -> None:
    # the "have-root-tag" form: flow-session-per-pic around each summary
    per_pic = "".join(
        f"<flow-session-per-pic><flow-fpc-pic-id> on FPC1 PIC{p}:</flow-fpc-pic-id>"
        f"{_summary(n)}</flow-session-per-pic>"
        for p, n in ((0, 7), (1, 5))
    )
    wrapped = xml(f"<flow-session-information>{per_pic}</flow-session-information>")
    assert junos.parse_flow_sessions_per_spu(wrapped) == {"": {"FPC1 PIC0": 7, "FPC1 PIC1": 5}}
    # an spu id inside each summary
    ids = _summary(3, "<spu-id>1</spu-id>") + _summary(4, "<spu-id>2</spu-id>")
    assert junos.parse_flow_sessions_per_spu(xml(ids)) == {"": {"1": 3, "2": 4}}
    # nothing names them: their place on the node
    assert junos.parse_flow_sessions_per_spu(xml(_summary(3) + _summary(4))) == {
        "": {"#1": 3, "#2": 4}
    }
    assert junos.parse_flow_sessions(xml(_summary(3) + _summary(4))) == {"": 7}


def test_flow_sessions_one_summary_per_node_unchanged() -> None:
    body = f"<flow-session-information>{_summary(14)}</flow-session-information>"
    assert junos.parse_flow_sessions_per_spu(xml(body)) == {"": {"": 14}}
    assert junos.parse_flow_sessions(xml(body)) == {"": 14}
