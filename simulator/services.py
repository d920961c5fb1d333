"""What a lab cluster forwards, and the ICU prerequisites a device shows: cluster links,
alarms, interfaces (terse), IPsec tunnels, route tables and flow sessions. Reply bodies are
shaped on the captures in tests/fidelity/captures/window (24.4 vSRX cluster, 18.4R3 SRX
cluster, 12.1X47 vSRX); docs/development/lab-contract.md lists which. Faults: control-link-down,
fabric-link-down, major-alarm, tunnel-lost-after-upgrade, interface-down-after-upgrade."""

from __future__ import annotations

from simulator.model import Cluster

INTERFACES: tuple[str, ...] = ("ge-0/0/0", "ge-0/0/1", "ge-5/0/0", "ge-5/0/1", "fab0", "fab1")
INTERFACES += ("fxp0", "reth0", "reth1", "lo0")
TUNNELS = (("198.51.100.1", 131073), ("198.51.100.2", 131074))  # gateway, tunnel index
ROUTES = {"inet.0": 24, "inet6.0": 4}
LOST_AFTER_UPGRADE = {"interface-down-after-upgrade": ("reth1", "ge-0/0/1")}


def upgraded(c: Cluster, target: str) -> bool:
    return all(n.release == target for n in c.nodes.values())


def _up(flag: bool) -> str:
    return "Up" if flag else "Down"


def cluster_interfaces(c: Cluster) -> str:
    """get-chassis-cluster-interfaces (one reply for the cluster, as the 24.4 capture)."""
    control = "control-link-down" not in c.faults
    fabric = "fabric-link-down" not in c.faults
    fabrics = "".join(
        "<fabric-information>\n"
        f"<fabric-interface-index>{i}</fabric-interface-index>\n"
        f"<fabric-child-interface-name>{child}</fabric-child-interface-name>\n"
        f"<fabric-child-interface-status>Up   / {_up(fabric)}</fabric-child-interface-status>\n"
        "<fabric-link-interface-security-status>Disabled</fabric-link-interface-security-status>\n"
        "</fabric-information>\n"
        for i, child in enumerate(("ge-0/0/2", "ge-5/0/2"))
    )
    reths = "".join(
        f"<reth-name>{r}</reth-name>\n<reth-status>Up</reth-status>\n"
        "<redundancy-group-id-for-reth>1</redundancy-group-id-for-reth>\n"
        for r in ("reth0", "reth1")
    )
    return (
        "<chassis-cluster-interface-statistics>\n"
        f"<control-interface-status>{_up(control)}</control-interface-status>\n"
        "<control-link-interfaces>\n<control-information>\n"
        "<control-link-interface-index>0</control-link-interface-index>\n"
        "<control-link-interface-name>em0</control-link-interface-name>\n"
        f"<control-link-interface-status>{_up(control)}</control-link-interface-status>\n"
        "</control-information>\n</control-link-interfaces>\n"
        f"<dataplane-interface-status>{_up(fabric)}</dataplane-interface-status>\n"
        f"<dataplane-interfaces>\n{fabrics}</dataplane-interfaces>\n"
        f"<reth>\n{reths}</reth>\n"
        "<interface-monitoring>\n</interface-monitoring>\n"
        "</chassis-cluster-interface-statistics>"
    )


def alarms(c: Cluster, node: str, source: str) -> str:
    """The alarm-information of one node: a Major chassis alarm on node1 with major-alarm."""
    major = source == "chassis" and node == "node1" and "major-alarm" in c.faults
    if not major:
        return (
            '<alarm-information xmlns="http://xml.juniper.net/junos/24.4R0/junos-alarm">\n'
            "<alarm-summary><no-active-alarms/>\n</alarm-summary>\n</alarm-information>"
        )
    return (
        '<alarm-information xmlns="http://xml.juniper.net/junos/24.4R0/junos-alarm">\n'
        "<alarm-summary>\n<active-alarm-count>1</active-alarm-count>\n</alarm-summary>\n"
        "<alarm-detail>\n"
        '<alarm-time junos:seconds="1779765516">2026-05-26 03:18:36 UTC</alarm-time>\n'
        "<alarm-class>Major</alarm-class>\n"
        "<alarm-description>FPC 0 Hard errors</alarm-description>\n"
        "<alarm-short-description>FPC 0 Hard errors</alarm-short-description>\n"
        "<alarm-type>Chassis</alarm-type>\n</alarm-detail>\n</alarm-information>"
    )


def interfaces_terse(c: Cluster, target: str, wanted: str | None) -> str:
    down: tuple[str, ...] = ()
    if upgraded(c, target):
        for fault, names in LOST_AFTER_UPGRADE.items():
            down += names if fault in c.faults else ()
    rows = "".join(
        f"<physical-interface>\n<name>{n}</name>\n<admin-status>up</admin-status>\n"
        f"<oper-status>{'down' if n in down else 'up'}</oper-status>\n"
        f"<logical-interface>\n<name>{n}.0</name>\n<admin-status>up</admin-status>\n"
        f"<oper-status>{'down' if n in down else 'up'}</oper-status>\n"
        "</logical-interface>\n</physical-interface>\n"
        for n in INTERFACES
        if wanted in (None, n)
    )
    return f'<interface-information junos:style="terse">\n{rows}</interface-information>'


def ipsec_tunnels(c: Cluster, node: str, target: str) -> str:
    """SAs live on the node that is primary for the reths' RG1; the other node has none."""
    tunnels = list(TUNNELS) if c.rgs[1].primary == node else []
    if "tunnel-lost-after-upgrade" in c.faults and upgraded(c, target):
        tunnels = tunnels[:1]
    blocks = "".join(
        "<ipsec-security-associations-block>\n<sa-block-state>up</sa-block-state>\n"
        + "".join(
            "<ipsec-security-associations>\n"
            f"<sa-direction>{d}</sa-direction>\n<sa-tunnel-index>{index}</sa-tunnel-index>\n"
            f"<sa-spi>{index:08x}</sa-spi>\n<sa-aux-spi>0</sa-aux-spi>\n"
            f"<sa-remote-gateway>{gateway}</sa-remote-gateway>\n<sa-port>500</sa-port>\n"
            "<sa-vpn-monitoring-state>-</sa-vpn-monitoring-state>\n"
            "<sa-protocol>ESP</sa-protocol>\n"
            "<sa-esp-encryption-algorithm>aes-gcm-256</sa-esp-encryption-algorithm>\n"
            "<sa-hmac-algorithm>None</sa-hmac-algorithm>\n"
            "<sa-hard-lifetime>3600</sa-hard-lifetime>\n"
            "<sa-lifesize-remaining>unlim</sa-lifesize-remaining>\n"
            "<sa-virtual-system>root</sa-virtual-system>\n"
            "</ipsec-security-associations>\n"
            for d in ("&lt;", "&gt;")
        )
        + "</ipsec-security-associations-block>\n"
        for gateway, index in tunnels
    )
    return (
        '<ipsec-security-associations-information junos:style="brief">\n'
        f"<total-active-tunnels>{len(tunnels)}</total-active-tunnels>\n"
        f"<total-ipsec-sas>{2 * len(tunnels)}</total-ipsec-sas>\n"
        f"{blocks}</ipsec-security-associations-information>"
    )


def route_summary() -> str:
    tables = "".join(
        f"<route-table>\n<table-name>{name}</table-name>\n"
        f"<destination-count>{count}</destination-count>\n"
        f"<total-route-count>{count}</total-route-count>\n"
        f"<active-route-count>{count}</active-route-count>\n"
        "<holddown-route-count>0</holddown-route-count>\n"
        "<hidden-route-count>0</hidden-route-count>\n</route-table>\n"
        for name, count in ROUTES.items()
    )
    return (
        '<route-summary-information xmlns="http://xml.juniper.net/junos/24.4R0/junos-routing">\n'
        f"<router-id>10.0.0.1</router-id>\n{tables}</route-summary-information>"
    )


def flow_sessions(c: Cluster, node: str, now: float) -> str:
    """Active flow sessions: more on the RG1 primary, fewer right after a boot."""
    n = c.nodes[node]
    base = 1200 if c.rgs[1].primary == node else 40
    count = int(base * min(1.0, max(0.05, (now - n.booted_at) / 3600)))
    return (
        '<flow-session-information xmlns="http://xml.juniper.net/junos/24.4R0/junos-flow">\n'
        "<flow-session-summary-information>\n"
        f"<active-unicast-sessions>{count}</active-unicast-sessions>\n"
        "<active-multicast-sessions>0</active-multicast-sessions>\n"
        "<failed-sessions>0</failed-sessions>\n"
        f"<active-sessions>{count}</active-sessions>\n"
        "<max-sessions>524288</max-sessions>\n"
        "</flow-session-summary-information>\n</flow-session-information>"
    )
