"""tasks.junos parsers against the real captures and against constructed variants."""

from __future__ import annotations

from pathlib import Path

import pytest
from lxml import etree

from tasks import junos

SAMPLES = Path(__file__).parents[1] / "data" / "samples"
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
