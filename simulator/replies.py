"""Dispatch: one `rpc_<name>` per RPC, turning model state into reply bodies shaped like the
real captures in tests/data/samples (per-node wrapping, flat device-stats), plus the
`<command>` CLI in text and XML for the show commands those RPCs answer."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from xml.sax.saxutils import escape
from xml.sax.saxutils import escape as xml_escape

from lxml import etree

from simulator import services
from simulator.model import Cluster
from simulator.releases import older

RULE = "-" * 74
NOT_JUNOS_EVOLVED = "could not resolve file: /usr/share/cevo/cevo_version"


@dataclass
class Reply:
    body: str | None  # None: no reply (the ICU RPC in silent mode)
    result: str = "ok"  # audit: ok | error | no-reply
    close_after: bool = False
    icu_pending: bool = False  # the ICU RPC: answered later if its session survives
    install_pending: bool = False  # a package add: answered when the install ends (both labs)
    later: Callable[[Any, str], None] | None = None  # (session, message-id): replies later


@dataclass
class Ctx:
    cluster: Cluster
    node: str  # the node this session is on
    icu_reply: str  # silent | immediate
    target: str  # the release the lab's package installs

    @property
    def faults(self) -> frozenset[str]:
        return self.cluster.faults


def _fmt(ts: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(ts))


def _visible(ctx: Ctx) -> list[str]:
    """Nodes that answer in a per-node reply: this one, and the peer when it is up."""
    return [n for n in ("node0", "node1") if n == ctx.node or ctx.cluster.nodes[n].up]


def _per_node(ctx: Ctx, inner: Callable[[str], str]) -> str:
    items = [
        f"<multi-routing-engine-item>\n<re-name>{name}</re-name>\n"
        f"{inner(name)}\n</multi-routing-engine-item>"
        for name in _visible(ctx)
    ]
    return (
        "<multi-routing-engine-results>\n" + "\n".join(items) + "\n</multi-routing-engine-results>"
    )


def _per_node_text(ctx: Ctx, inner: Callable[[str], str]) -> str:
    return "\n".join(f"{name}:\n{RULE}\n{inner(name)}\n" for name in _visible(ctx))


def _old(release: str) -> bool:
    """Releases before 15.1 have no <junos-version> (12.1X46 and 12.1X44 captures), no
    md0.uzip image as `/`, and answer a rollback unwrapped."""
    return older(release, "15.1R1")


def _os_name(release: str) -> str:
    """<os-name> is in the 24.4 capture and in none of 12.1X44 ... 17.3 [I: from 18.1 on]."""
    return "" if older(release, "18.1R1") else "<os-name>junos-es</os-name>\n"


def _no_monitor_failures(release: str) -> bool:
    """<monitor-failures> is absent on 12.1X44 and present on 12.3X48 (captures)."""
    return older(release, "12.3X48")


def hostname(c: Cluster, node: str) -> str:
    return f"{c.name}-{node}"


# ---------------------------------------------------------------------------- software


def rpc_get_software_information(ctx: Ctx, args: dict[str, Any]) -> Reply:
    c = ctx.cluster

    def one(name: str) -> str:
        n = c.nodes[name]
        version = "" if _old(n.release) else f"<junos-version>{n.release}</junos-version>\n"
        return (
            f"<software-information>\n<host-name>{hostname(c, name)}</host-name>\n"
            f"<product-model>{c.model.lower()}</product-model>\n"
            f"<product-name>{c.model.lower()}</product-name>\n{_os_name(n.release)}"
            f"{version}<package-information>\n<name>junos</name>\n"
            f"<comment>JUNOS Software Release [{n.release}]</comment>\n"
            "</package-information>\n</software-information>"
        )

    return Reply(_per_node(ctx, one))


def text_show_version(ctx: Ctx) -> str:
    c = ctx.cluster

    def one(name: str) -> str:
        n = c.nodes[name]
        return (
            f"Hostname: {hostname(c, name)}\nModel: {c.model.lower()}\nJunos: {n.release}\n"
            f"JUNOS Software Release [{n.release}]"
        )

    return _per_node_text(ctx, one)


# ---------------------------------------------------------------------------- cluster


def _member(ctx: Ctx, name: str, rg: int) -> tuple[int, str, str, str, str]:
    """(priority, status, preempt, manual, monitor failures) of `name` in RG `rg`."""
    c = ctx.cluster
    status = c.rg_status(name, rg, asked=ctx.node)
    if status == "lost":  # a lost peer: priority 0 and n/a, as the 12.1X44 capture shows
        return 0, status, "n/a", "n/a", "n/a"
    failures = " ".join(c.monitor_failures(name, rg)) or "None"
    manual = "yes" if c.rgs[rg].manual and c.rgs[rg].primary == name else "no"
    return c.priority(name, rg), status, "yes" if c.rgs[rg].preempt else "no", manual, failures


def rpc_get_chassis_cluster_status(ctx: Ctx, args: dict[str, Any]) -> Reply:
    c = ctx.cluster
    old = _no_monitor_failures(c.nodes[ctx.node].release)
    wanted = str(args.get("redundancy-group", "")).strip()
    groups = []
    for rg_id, rg in sorted(c.rgs.items()):
        if wanted not in ("", "True") and wanted != str(rg_id):
            continue
        stats = []
        for name in ("node0", "node1"):
            prio, status, preempt, manual, failures = _member(ctx, name, rg_id)
            stats.append(
                f"<device-name>{name}</device-name>\n<device-priority>{prio}</device-priority>\n"
                f"<redundancy-group-status>{status}</redundancy-group-status>\n"
                f"<preempt>{preempt}</preempt>\n<failover-mode>{manual}</failover-mode>"
                + ("" if old else f"\n<monitor-failures>{failures}</monitor-failures>")
            )
        groups.append(
            f"<redundancy-group>\n<cluster-id>{c.cluster_id}</cluster-id>\n"
            f"<redundancy-group-id>{rg_id}</redundancy-group-id>\n"
            f"<redundancy-group-failover-count>{rg.failovers}</redundancy-group-failover-count>\n"
            "<device-stats>\n" + "\n".join(stats) + "\n</device-stats>\n</redundancy-group>"
        )
    return Reply(
        f"<chassis-cluster-status>\n<cluster-id>{c.cluster_id}</cluster-id>\n"
        + "\n".join(groups)
        + "\n</chassis-cluster-status>"
    )


def text_cluster_status(ctx: Ctx) -> str:
    c = ctx.cluster
    lines = [
        "Monitor Failure codes:",
        "    CS  Cold Sync monitoring        FL  Fabric Connection monitoring",
        "    GR  GRES monitoring             HW  Hardware monitoring",
        "    IF  Interface monitoring        IP  IP monitoring",
        "    LB  Loopback monitoring         MB  Mbuf monitoring",
        "    NH  Nexthop monitoring          NP  NPC monitoring",
        "    SP  SPU monitoring              SM  Schedule monitoring",
        "    CF  Config Sync monitoring      RE  Relinquish monitoring",
        "    IS  IRQ storm",
        "",
        f"Cluster ID: {c.cluster_id}",
        "Node   Priority Status               Preempt Manual   Monitor-failures",
    ]
    for rg_id, rg in sorted(c.rgs.items()):
        lines += ["", f"Redundancy group: {rg_id} , Failover count: {rg.failovers}"]
        for name in ("node0", "node1"):
            prio, status, preempt, manual, failures = _member(ctx, name, rg_id)
            lines.append(f"{name:<6} {prio:<8} {status:<20} {preempt:<7} {manual:<8} {failures}")
    return "\n".join(lines) + "\n"


def rpc_get_chassis_cluster_information(ctx: Ctx, args: dict[str, Any]) -> Reply:
    c = ctx.cluster

    def one(name: str) -> str:
        groups = []
        for rg_id in sorted(c.rgs):
            records = c.history_of(name, rg_id)[-5:]
            recs = "".join(
                "<redundancy-group-state-transition-record>\n"
                f"<transition-time>{time.strftime('%b %d %H:%M:%S', time.gmtime(t.at))}"
                f"</transition-time>\n<from-state>{t.before}</from-state>\n"
                f"<to-state>{t.after}</to-state>\n"
                f"<transition-reason>{escape(t.reason)}</transition-reason>\n"
                "</redundancy-group-state-transition-record>\n"
                for t in records
            )
            groups.append(
                f"<redundancy-group-list>\n<redundancy-group-id>{rg_id}</redundancy-group-id>\n"
                f"<redundancy-group-status>{c.rg_status(name, rg_id, asked=ctx.node)}"
                "</redundancy-group-status>\n<redundancy-group-weight>255"
                f"</redundancy-group-weight>\n{recs}</redundancy-group-list>"
            )
        healthy = all(c.nodes[n].up for n in c.nodes) and not any(
            c.monitor_failures(n, r) for n in c.nodes for r in c.rgs
        )
        return (
            "<chassis-cluster-information>\n<chassis-cluster-redundancy-group-information>\n"
            + "\n".join(groups)
            + "\n</chassis-cluster-redundancy-group-information>\n"
            "<chassis-cluster-led-information>\n"
            f"<current-led-color>{'Green' if healthy else 'Amber'}</current-led-color>\n"
            "</chassis-cluster-led-information>\n</chassis-cluster-information>"
        )

    return Reply(_per_node(ctx, one))


def text_icu_state(ctx: Ctx) -> str:
    """`show chassis cluster information issu`: cold-sync progress per node, the same in
    every ICU phase (docs/design/icu-observables.md O1); no command shows an ICU's phase."""
    c = ctx.cluster

    def one(name: str) -> str:
        done = "0" if c._syncing(c.nodes[name]) else "1"
        return (
            "Cold Synchronization Progress:\n"
            "    CS Prereq               1 of 1 SPUs completed\n"
            "       1. if_state sync          1 SPUs completed\n"
            "       2. fabric link            1 SPUs completed\n"
            "       3. policy data sync       1 SPUs completed\n"
            "       4. cp ready               1 SPUs completed\n"
            "       5. VPN data sync          1 SPUs completed\n"
            f"    CS RTO sync             {done} of 1 SPUs completed\n"
            f"    CS Postreq              {done} of 1 SPUs completed"
        )

    return _per_node_text(ctx, one)


def text_cluster_information(ctx: Ctx) -> str:
    c = ctx.cluster

    def one(name: str) -> str:
        lines = ["Redundancy Group Information:"]
        for rg_id in sorted(c.rgs):
            status = c.rg_status(name, rg_id, asked=ctx.node)
            lines += [
                "",
                f"    Redundancy Group {rg_id} , Current State: {status}, Weight: 255",
                "",
                f"        {'Time':<16}{'From':<21}{'To':<21}Reason",
            ]
            lines += [
                f"        {time.strftime('%b %d %H:%M:%S', time.gmtime(t.at)):<16}"
                f"{t.before:<21}{t.after:<21}{t.reason}"
                for t in c.history_of(name, rg_id)
            ][-5:]
        return "\n".join(lines)

    return _per_node_text(ctx, one)


# ---------------------------------------------------------------------------- system


def rpc_get_system_uptime_information(ctx: Ctx, args: dict[str, Any]) -> Reply:
    c = ctx.cluster

    def one(name: str) -> str:
        n = c.nodes[name]
        up = max(1, int(c.now - n.booted_at))
        return (
            '<system-uptime-information xmlns="http://xml.juniper.net/junos/24.4R0/junos">\n'
            f'<current-time>\n<date-time junos:seconds="{int(c.now)}">{_fmt(c.now)}</date-time>\n'
            "</current-time>\n<time-source> LOCAL CLOCK </time-source>\n<system-booted-time>\n"
            f'<date-time junos:seconds="{int(n.booted_at)}">{_fmt(n.booted_at)}</date-time>\n'
            f'<time-length junos:seconds="{up}">{_duration(up)}</time-length>\n'
            "</system-booted-time>\n</system-uptime-information>"
        )

    return Reply(_per_node(ctx, one))


def _duration(seconds: int) -> str:
    days, rest = divmod(seconds, 86400)
    return f"{days}d {rest // 3600:02d}:{rest % 3600 // 60:02d}"


def text_uptime(ctx: Ctx) -> str:
    c = ctx.cluster

    def one(name: str) -> str:
        n = c.nodes[name]
        return (
            f"Current time: {_fmt(c.now)}\nSystem booted: {_fmt(n.booted_at)} "
            f"({_duration(max(1, int(c.now - n.booted_at)))} ago)"
        )

    return _per_node_text(ctx, one)


def _filesystems(ctx: Ctx, name: str) -> list[tuple[str, str, int, int]]:
    """(device, mounted on, total blocks, available blocks). From 15.1 on `/` is the
    read-only md0.uzip image (0 free; 18.2R1 capture) and /var/tmp lives under /.mount (the
    24.4 capture); before, /dev/da0s1a is `/` and /var its own filesystem."""
    node = ctx.cluster.nodes[name]
    free = node.free_bytes // 512
    if _old(node.release):
        return [
            ("/dev/da0s1a", "/", 1_950_000, 700_000),
            ("/dev/md0", "/junos", 364_000, 0),
            ("/dev/md2", "/var", max(free * 2, 3_900_000), free),
        ]
    return [
        ("/dev/md0.uzip", "/", 43_628, 0),
        ("/dev/gpt/junos", "/.mount", max(free * 2, 27_172_408), free),
        ("tmpfs", "/.mount/tmp", 1_488_712, 1_488_664),
        ("tmpfs", "/.mount/mfs", 1_377_440, 1_375_152),
    ]


def rpc_get_system_storage(ctx: Ctx, args: dict[str, Any]) -> Reply:
    def one(name: str) -> str:
        rows = "".join(
            f"<filesystem>\n<filesystem-name>{dev}</filesystem-name>\n"
            f"<total-blocks>{total}</total-blocks>\n<used-blocks>{total - avail}</used-blocks>\n"
            f"<available-blocks>{avail}</available-blocks>\n"
            f"<used-percent>{100 * (total - avail) // total}</used-percent>\n"
            f"<mounted-on>{mount}</mounted-on>\n</filesystem>\n"
            for dev, mount, total, avail in _filesystems(ctx, name)
        )
        return (
            f'<system-storage-information junos:style="brief">\n{rows}</system-storage-information>'
        )

    return Reply(_per_node(ctx, one))


def text_storage(ctx: Ctx) -> str:
    def one(name: str) -> str:
        rows = [
            f"{dev:<20} {total // 2048:>8}M {(total - avail) // 2048:>8}M {avail // 2048:>8}M "
            f"{100 * (total - avail) // total:>4}%  {mount}"
            for dev, mount, total, avail in _filesystems(ctx, name)
        ]
        return "Filesystem              Size       Used      Avail  Capacity  Mounted on\n" + (
            "\n".join(rows)
        )

    return _per_node_text(ctx, one)


def rpc_get_route_engine_information(ctx: Ctx, args: dict[str, Any]) -> Reply:
    c = ctx.cluster

    def one(name: str) -> str:
        n = c.nodes[name]
        up = max(1, int(c.now - n.booted_at))
        return (
            '<route-engine-information xmlns="http://xml.juniper.net/junos/24.4R0/junos-chassis">'
            "\n<route-engine>\n<status>OK</status>\n<memory-system-total>4035"
            "</memory-system-total>\n<cpu-idle>65</cpu-idle>\n"
            f"<model>{c.model.upper()} RE</model>\n"
            f'<start-time junos:seconds="{int(n.booted_at)}">{_fmt(n.booted_at)}</start-time>\n'
            f'<up-time junos:seconds="{up}">{_duration(up)}</up-time>\n'
            "<last-reboot-reason>Router rebooted after a normal shutdown.</last-reboot-reason>\n"
            "</route-engine>\n</route-engine-information>"
        )

    return Reply(_per_node(ctx, one))


def rpc_get_chassis_inventory(ctx: Ctx, args: dict[str, Any]) -> Reply:
    c = ctx.cluster

    def one(name: str) -> str:
        serial = hashlib.md5(f"{c.name}/{name}".encode()).hexdigest()[:12].upper()
        return (
            '<chassis-inventory xmlns="http://xml.juniper.net/junos/24.4R0/junos-chassis">\n'
            f'<chassis junos:style="inventory">\n<name>Chassis</name>\n'
            f"<serial-number>{serial}</serial-number>\n"
            f"<description>{c.model.upper()}</description>\n</chassis>\n</chassis-inventory>"
        )

    return Reply(_per_node(ctx, one))


def rpc_get_interface_information(ctx: Ctx, args: dict[str, Any]) -> Reply:
    """The private routing instance gives the internal addresses PyEZ reads its RE from."""
    c = ctx.cluster
    if args.get("routing-instance") == "__juniper_private1__":
        octet = ((c.cluster_id & 0x0F) << 4) or c.cluster_id
        own = "129" if ctx.node == "node0" else "130"
        addresses = [f"{own}.{octet}.0.1/2"]
        if c.primary == ctx.node:
            addresses.append(f"143.{octet}.0.1/2")
        addrs = "".join(
            f"<interface-address>\n<ifa-local>{a}</ifa-local>\n</interface-address>\n"
            for a in addresses
        )
        return Reply(
            "<interface-information>\n<physical-interface>\n<name>fxp2</name>\n"
            "<admin-status>up</admin-status>\n<oper-status>up</oper-status>\n"
            "<logical-interface>\n<name>fxp2.0</name>\n<admin-status>up</admin-status>\n"
            "<oper-status>up</oper-status>\n<address-family>\n"
            f"<address-family-name>inet</address-family-name>\n{addrs}</address-family>\n"
            "</logical-interface>\n</physical-interface>\n</interface-information>"
        )
    wanted = args.get("interface-name")
    if args.get("terse"):
        name = wanted if isinstance(wanted, str) else None
        return Reply(services.interfaces_terse(c, ctx.target, name))
    names = services.INTERFACES
    rows = "".join(
        f"<physical-interface>\n<name>{n}</name>\n<admin-status>up</admin-status>\n"
        f"<oper-status>up</oper-status>\n<mtu>1514</mtu>\n<speed>1000mbps</speed>\n"
        f"<current-physical-address>00:10:db:ff:{i:02x}:01</current-physical-address>\n"
        '<interface-flapped junos:seconds="86400">2026-01-01 00:00:00 UTC</interface-flapped>\n'
        "</physical-interface>\n"
        for i, n in enumerate(names)
        if wanted in (None, True, n)
    )
    return Reply(f"<interface-information>\n{rows}</interface-information>")


def rpc_file_show(ctx: Ctx, args: dict[str, Any]) -> Reply:
    filename = str(args.get("filename", ""))
    if filename == "/etc/hosts.junos":
        return Reply(
            '<file-content filename="/etc/hosts.junos">\n'
            "#\n# internal hosts of the routing engines\n#\n"
            "128.0.0.1 master\n128.0.0.4 re0\n128.0.0.5 re1\n"
            "</file-content>"
        )
    return error(f"could not resolve file: {filename}", bad=filename)


def node_configuration(c: Cluster, node: str) -> list[str]:
    """A node's configuration in set form: the release it runs, its host name, and the
    kinds of secret a real one holds (an encrypted root password, an IKE pre-shared key, an
    SNMP community), so the runbooks' backups keep them and nothing else shows them."""
    return [
        f"set version {c.nodes[node].release}",
        f"set groups {node} system host-name {hostname(c, node)}",
        "set apply-groups ${node}",
        'set system root-authentication encrypted-password "$6$lab$k9Hx2QnRq0sF8mZ1"',
        "set system domain-name lab.example.net",
        'set security ike gateway gw1 pre-shared-key ascii-text "$9$lab.psk.Xy7Zq"',
        "set snmp community lab-ro-community authorization read-only",
        "set chassis cluster reth-count 2",
    ]


def _configuration_text(lines: list[str]) -> str:
    """The set lines as the text form's statements (flat: one statement per line)."""
    return "\n".join(line.removeprefix("set ") + ";" for line in lines) + "\n"


def rpc_get_configuration(ctx: Ctx, args: dict[str, Any]) -> Reply:
    """Just enough configuration for PyEZ's domain/fqdn facts; with format text or set, the
    node's whole configuration (`<configuration-text>`, `<configuration-set>`)."""
    c = ctx.cluster
    form = args.get("_format")
    if form in ("text", "set"):
        lines = node_configuration(c, ctx.node)
        body = _configuration_text(lines) if form == "text" else "\n".join(lines) + "\n"
        tag = f"configuration-{form}"
        return Reply(f"<{tag}>{xml_escape(body)}</{tag}>")
    nodes = "".join(
        f"<groups>\n<name>{n}</name>\n<system>\n<host-name>{hostname(c, n)}</host-name>\n"
        "</system>\n</groups>\n"
        for n in ("node0", "node1")
    )
    return Reply(
        f"<configuration>\n{nodes}<system>\n<domain-name>lab.example.net</domain-name>\n"
        "</system>\n</configuration>"
    )


def rpc_get_virtual_chassis_information(ctx: Ctx, args: dict[str, Any]) -> Reply:
    return error("syntax error", bad="get-virtual-chassis-information")


# ---------------------------------------------------------------------------- files


def rpc_request_package_checks_pending_install(ctx: Ctx, args: dict[str, Any]) -> Reply:
    if ctx.cluster.nodes[ctx.node].pending:
        return Reply(
            "<output>There is already an install pending.</output>\n"
            "<package-result>1</package-result>"
        )
    return Reply("<package-result>0</package-result>")


def rpc_file_list(ctx: Ctx, args: dict[str, Any]) -> Reply:
    node = ctx.cluster.nodes[ctx.node]
    path = str(args.get("path", "/var/tmp/"))
    if not path.endswith("/"):
        path += "/"

    def entry(name: str, size: int, kind: str = "") -> str:
        return (
            f"<file-information>\n<file-name>{escape(name)}</file-name>\n{kind}"
            f"<file-size>{size}</file-size>\n</file-information>"
        )

    # A directory sits in /var/tmp on every real box (the detail listings of the fidelity
    # captures); a symlink is listed with its target.
    items = (
        [entry("gres-tp", 512, '<file-directory junos:format="/"/>\n')]
        if path == "/var/tmp/"
        else []
    )
    for f, size in sorted(node.files.items()):
        if f.startswith(path):
            link = node.links.get(f)
            kind = f"<file-symlink-target>{escape(link)}</file-symlink-target>\n" if link else ""
            items.append(entry(f.removeprefix(path), size, kind))
    body = "\n".join(items)
    return Reply(
        f"<directory-list>\n<directory>\n<directory-name>{escape(path)}</directory-name>\n"
        f"{body}\n</directory>\n</directory-list>"
    )


def package_digest(path: str, algorithm: str, corrupt: bool = False) -> str:
    data = (path + ("corrupt" if corrupt else "")).encode()
    return hashlib.new(algorithm, data).hexdigest()


def _checksum(ctx: Ctx, args: dict[str, Any], algorithm: str) -> Reply:
    path = str(args.get("path", ""))
    if path not in ctx.cluster.nodes[ctx.node].files:
        # as the SRX550 capture: the error nested inside <file-checksum>
        words = f"{algorithm}: {path}: No such file or directory"
        return Reply(
            f"<checksum-information>\n<file-checksum>\n{_rpc_error(words)}</file-checksum>\n"
            "</checksum-information>",
            result="error",
        )
    digest = package_digest(path, algorithm, "package-corrupt" in ctx.faults)
    return Reply(
        f"<checksum-information>\n<file-checksum>\n<computation-method>{algorithm.upper()}"
        f"</computation-method>\n<input-file>{escape(path)}</input-file>\n"
        f"<checksum>{digest}</checksum>\n</file-checksum>\n</checksum-information>"
    )


def rpc_get_checksum_information(ctx: Ctx, args: dict[str, Any]) -> Reply:
    return _checksum(ctx, args, "md5")


def rpc_get_sha256_checksum_information(ctx: Ctx, args: dict[str, Any]) -> Reply:
    return _checksum(ctx, args, "sha256")


# ---------------------------------------------------------------------------- actions


def _package(ok: bool, text: str) -> Reply:
    return Reply(
        f"<output>{escape(text)}</output>\n<package-result>{0 if ok else 1}</package-result>",
        result="ok" if ok else "error",
    )


def rpc_request_package_in_service_upgrade(ctx: Ctx, args: dict[str, Any]) -> Reply:
    package = str(args.get("package-name", ""))
    ok, text = ctx.cluster.start_icu(ctx.node, package, ctx.target, reboot=bool(args.get("reboot")))
    if not ok and "'reboot' keyword" in text:  # high-end ISSU: an rpc-error, time-stamped
        stamp = time.strftime("%b %d %H:%M:%S", time.gmtime(ctx.cluster.now))
        return error(f"[{stamp}]: {text}")
    if not ok:
        return _package(False, text)
    if ctx.icu_reply == "immediate":
        return _package(True, text)
    return Reply(None, result="no-reply", icu_pending=True)


def rpc_request_package_add(ctx: Ctx, args: dict[str, Any]) -> Reply:
    """`request system software add <package-name> [no-copy] [no-validate] ...` on this node
    alone (as PyEZ's sw.install sends it to a branch SRX cluster node): refused at once with
    the device's words, or answered when the install ends, the package then pending. `reboot`
    is accepted by the device but not simulated: the lab refuses it rather than pretend."""
    package = str(args.get("package-name", ""))
    if args.get("reboot"):
        return error("the lab does not simulate 'request system software add ... reboot'")
    validate = not args.get("no-validate")
    ok, text = ctx.cluster.install(ctx.node, package, ctx.target, validate=validate)
    if not ok:
        return _package(False, text)
    # answered by the transport (the SSH lab's or the in-process one) when the install ends:
    # SimCluster.install_waiters, server.install_body
    return Reply(None, result="installing", install_pending=True)


def rpc_abort_in_service_upgrade(ctx: Ctx, args: dict[str, Any]) -> Reply:
    text = ctx.cluster.abort(ctx.node)
    if text.startswith("error"):
        return error(text)
    return Reply(f"<output>{escape(text)}</output>")


def rpc_request_package_rollback(ctx: Ctx, args: dict[str, Any]) -> Reply:
    node_id = int(args.get("node", ctx.node.removeprefix("node")))
    ok, text = ctx.cluster.rollback(ctx.node, node_id)
    if ok and "rollback-reply-lost" in ctx.faults:
        return Reply(None, result="no-reply")  # it took effect; its answer never comes
    if _old(ctx.cluster.nodes[ctx.node].release):
        return _package(ok, text)
    # [I] per node, as the multi-member rollback captures: an item for the node rolled back
    reply = _package(ok, text)
    return Reply(
        "<multi-routing-engine-results>\n<multi-routing-engine-item>\n"
        f"<re-name>node{node_id}</re-name>\n{reply.body}\n</multi-routing-engine-item>\n"
        "</multi-routing-engine-results>",
        result=reply.result,
    )


def rpc_request_reboot(ctx: Ctx, args: dict[str, Any]) -> Reply:
    target = f"node{args['node']}" if "node" in args else ctx.node
    if target not in ctx.cluster.nodes or not ctx.cluster.nodes[target].up:
        return error(f"{target} is not reachable")
    ctx.cluster.reboot(target)
    if "reboot-reply-lost" in ctx.faults and target == ctx.node:
        return Reply(None, result="no-reply", close_after=True)
    return Reply(
        "<request-reboot-results>\n<request-reboot-status>Shutdown NOW!"
        "</request-reboot-status>\n</request-reboot-results>",
        close_after=target == ctx.node,
    )


def rpc_request_chassis_cluster_failover(ctx: Ctx, args: dict[str, Any]) -> Reply:
    try:
        rg_id, node = int(args["redundancy-group"]), f"node{int(args['node'])}"
    except (KeyError, ValueError):
        return error("syntax error, expecting <redundancy-group> and <node>")
    ok, text = ctx.cluster.failover(rg_id, node)
    return Reply(f"<output>{escape(text)}</output>") if ok else error(text)


def rpc_request_chassis_cluster_failover_reset(ctx: Ctx, args: dict[str, Any]) -> Reply:
    try:
        rg_id = int(args["redundancy-group"])
    except (KeyError, ValueError):
        return error("syntax error, expecting <redundancy-group>")
    ok, text = ctx.cluster.failover_reset(rg_id)
    return Reply(f"<output>{escape(text)}</output>") if ok else error(text)


# ------------------------------------------------------- ICU prerequisites and services


def rpc_get_chassis_cluster_interfaces(ctx: Ctx, args: dict[str, Any]) -> Reply:
    return Reply(services.cluster_interfaces(ctx.cluster))


def rpc_get_alarm_information(ctx: Ctx, args: dict[str, Any]) -> Reply:
    return Reply(_per_node(ctx, lambda n: services.alarms(ctx.cluster, n, "chassis")))


def rpc_get_system_alarm_information(ctx: Ctx, args: dict[str, Any]) -> Reply:
    return Reply(_per_node(ctx, lambda n: services.alarms(ctx.cluster, n, "system")))


def rpc_get_security_associations_information(ctx: Ctx, args: dict[str, Any]) -> Reply:
    return Reply(_per_node(ctx, lambda n: services.ipsec_tunnels(ctx.cluster, n, ctx.target)))


def rpc_get_route_summary_information(ctx: Ctx, args: dict[str, Any]) -> Reply:
    """Routing runs on the RG0 primary; the secondary answers as the 24.4 capture does."""
    if ctx.cluster.primary != ctx.node:
        return error("the routing subsystem is not running")
    return Reply(services.route_summary())


def rpc_get_flow_session_information(ctx: Ctx, args: dict[str, Any]) -> Reply:
    c = ctx.cluster
    return Reply(_per_node(ctx, lambda n: services.flow_sessions(c, n, c.now)))


# ---------------------------------------------------------------------------- <command>

# CLI prefix -> (RPC handler for XML, text renderer or None for "the RPC's <output>")
SHOW: list[tuple[str, Callable[[Ctx, dict[str, Any]], Reply], Callable[[Ctx], str] | None]] = [
    ("show version", rpc_get_software_information, text_show_version),
    ("show chassis cluster status", rpc_get_chassis_cluster_status, text_cluster_status),
    ("show chassis cluster information issu", lambda c, a: _icu_xml(c), text_icu_state),
    (
        "show chassis cluster information",
        rpc_get_chassis_cluster_information,
        text_cluster_information,
    ),
    ("show system uptime", rpc_get_system_uptime_information, text_uptime),
    ("show system storage", rpc_get_system_storage, text_storage),
    ("show chassis routing-engine", rpc_get_route_engine_information, None),
    ("show chassis hardware", rpc_get_chassis_inventory, None),
    ("request system software abort in-service-upgrade", rpc_abort_in_service_upgrade, None),
]


def _icu_xml(ctx: Ctx) -> Reply:
    return Reply(f"<output>{escape(text_icu_state(ctx))}</output>")


def rpc_command(ctx: Ctx, args: dict[str, Any]) -> Reply:
    text = " ".join(str(args.get("_text", "")).split())
    for prefix, handler, render in SHOW:
        if text == prefix or text.startswith(prefix + " "):
            if args.get("_format") == "text" and render is not None:
                return Reply(f"<output>\n{escape(render(ctx))}</output>")
            reply = handler(ctx, {})
            if args.get("_format") == "text" and reply.body and "<output>" not in reply.body:
                flat = etree.fromstring(f"<r xmlns:junos='j'>{reply.body}</r>").itertext()
                body = "\n".join(str(t).strip() for t in flat if str(t).strip())
                return Reply(f"<output>\n{escape(body)}\n</output>")
            return reply
    return error(f"syntax error, expecting <command>: {text}", bad=text)


def _rpc_error(message: str, bad: str = "") -> str:
    info = (
        f"<nc:error-info>\n<nc:bad-element>{escape(bad)}</nc:bad-element>\n</nc:error-info>\n"
        if bad
        else ""
    )
    return (
        "<nc:rpc-error>\n<nc:error-type>protocol</nc:error-type>\n"
        "<nc:error-tag>operation-failed</nc:error-tag>\n"
        "<nc:error-severity>error</nc:error-severity>\n"
        f"<nc:error-message>{escape(message)}</nc:error-message>\n{info}</nc:rpc-error>\n"
    )


def error(message: str, bad: str = "") -> Reply:
    return Reply(_rpc_error(message, bad), result="error")


# RPCs other modules add (simulator.transfers); they take precedence over the rpc_* here.
EXTRA: dict[str, Callable[[Ctx, dict[str, Any]], Reply]] = {}


def dispatch(ctx: Ctx, op: etree._Element) -> tuple[str, dict[str, Any], Reply]:
    name = etree.QName(op).localname
    args: dict[str, Any] = {}
    for child in op:
        if isinstance(child.tag, str):
            args[etree.QName(child).localname] = (child.text or "").strip() or True
    if op.text and op.text.strip():
        args["_text"] = op.text.strip()
    if op.get("format"):
        args["_format"] = op.get("format")
    handler = EXTRA.get(name) or globals().get("rpc_" + name.replace("-", "_"))
    if handler is None:
        return name, args, error("syntax error", bad=name)
    return name, args, handler(ctx, args)
