"""Dispatch: one `rpc_<name>` per RPC, turning model state into reply bodies shaped like the
real captures in ../shared/junos-samples (per-node wrapping, flat device-stats)."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from xml.sax.saxutils import escape

from lxml import etree

from simulator.model import Cluster


@dataclass
class Reply:
    body: str | None  # None: no reply (the ICU RPC in silent mode)
    result: str = "ok"  # audit: ok | error | no-reply
    close_after: bool = False


@dataclass
class Ctx:
    cluster: Cluster
    node: str
    faults: frozenset[str]
    icu_reply: str  # silent | immediate
    target: str  # the release the lab's package installs
    on_change: Callable[[], None]


def _fmt(ts: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(ts))


def _per_node(ctx: Ctx, inner: Callable[[str], str]) -> str:
    items = []
    for name in ("node0", "node1"):
        if name == ctx.node or ctx.cluster.nodes[name].up:
            items.append(
                f"<multi-routing-engine-item>\n<re-name>{name}</re-name>\n"
                f"{inner(name)}\n</multi-routing-engine-item>"
            )
    return (
        "<multi-routing-engine-results>\n" + "\n".join(items) + "\n</multi-routing-engine-results>"
    )


def rpc_get_software_information(ctx: Ctx, args: dict[str, Any]) -> Reply:
    c = ctx.cluster

    def one(name: str) -> str:
        n = c.nodes[name]
        return (
            f"<software-information>\n<host-name>{c.name}-{name}</host-name>\n"
            f"<product-model>{c.model.lower()}</product-model>\n"
            f"<product-name>{c.model.lower()}</product-name>\n<os-name>junos-es</os-name>\n"
            f"<junos-version>{n.release}</junos-version>\n<package-information>\n"
            f"<name>junos</name>\n<comment>JUNOS Software Release [{n.release}]</comment>\n"
            "</package-information>\n</software-information>"
        )

    return Reply(_per_node(ctx, one))


def rpc_get_chassis_cluster_status(ctx: Ctx, args: dict[str, Any]) -> Reply:
    c = ctx.cluster
    groups = []
    for rg in (0, 1):
        stats = []
        for name in ("node0", "node1"):
            status = c.rg_status(name) if (name == ctx.node or c.nodes[name].up) else "lost"
            if "roles-disagree" in ctx.faults and rg == 0:
                status = "primary" if name == ctx.node else "secondary"
            prio = 0 if status == "lost" else (200 if name == "node0" else 100)
            failures = " ".join(c.monitor_failures(name)) or "None"
            if "rg-unhealthy" in ctx.faults and name == "node1" and rg == 1:
                prio, failures = 0, "IF"
            stats.append(
                f"<device-name>{name}</device-name>\n<device-priority>{prio}</device-priority>\n"
                f"<redundancy-group-status>{status}</redundancy-group-status>\n"
                f"<preempt>{'yes' if rg else 'no'}</preempt>\n<failover-mode>no</failover-mode>\n"
                f"<monitor-failures>{failures}</monitor-failures>"
            )
        groups.append(
            f"<redundancy-group>\n<cluster-id>1</cluster-id>\n"
            f"<redundancy-group-id>{rg}</redundancy-group-id>\n"
            f"<redundancy-group-failover-count>1</redundancy-group-failover-count>\n"
            "<device-stats>\n" + "\n".join(stats) + "\n</device-stats>\n</redundancy-group>"
        )
    return Reply(
        "<chassis-cluster-status>\n<cluster-id>1</cluster-id>\n"
        + "\n".join(groups)
        + "\n</chassis-cluster-status>"
    )


def rpc_get_system_uptime_information(ctx: Ctx, args: dict[str, Any]) -> Reply:
    c = ctx.cluster

    def one(name: str) -> str:
        n = c.nodes[name]
        up = max(1, int(c.now - n.booted_at))
        return (
            '<system-uptime-information xmlns="http://xml.juniper.net/junos/24.4R0/junos">\n'
            f'<current-time>\n<date-time junos:seconds="{int(c.now)}">{_fmt(c.now)}</date-time>\n'
            f'</current-time>\n<system-booted-time>\n<date-time junos:seconds="{int(n.booted_at)}">'
            f'{_fmt(n.booted_at)}</date-time>\n<time-length junos:seconds="{up}">{up}s</time-length>\n'
            "</system-booted-time>\n</system-uptime-information>"
        )

    return Reply(_per_node(ctx, one))


def rpc_get_system_storage(ctx: Ctx, args: dict[str, Any]) -> Reply:
    def one(name: str) -> str:
        free = ctx.cluster.nodes[name].free_bytes // 512
        return (
            '<system-storage-information junos:style="brief">\n<filesystem>\n'
            "<filesystem-name>/dev/gpt/junos</filesystem-name>\n"
            f"<total-blocks>{free * 2}</total-blocks>\n<used-blocks>{free}</used-blocks>\n"
            f"<available-blocks>{free}</available-blocks>\n<used-percent>50</used-percent>\n"
            "<mounted-on>/.mount</mounted-on>\n</filesystem>\n</system-storage-information>"
        )

    return Reply(_per_node(ctx, one))


def rpc_request_package_checks_pending_install(ctx: Ctx, args: dict[str, Any]) -> Reply:
    if ctx.cluster.nodes[ctx.node].pending:
        return Reply(
            "<output>There is already an install pending.</output>\n"
            "<package-result>1</package-result>"
        )
    return Reply("<package-result>0</package-result>")


def rpc_file_list(ctx: Ctx, args: dict[str, Any]) -> Reply:
    files = ctx.cluster.nodes[ctx.node].files
    path = str(args.get("path", "/var/tmp/"))
    items = "\n".join(
        f"<file-information>\n<file-name>{escape(f)}</file-name>\n"
        f"<file-size>{size}</file-size>\n</file-information>"
        for f, size in sorted(files.items())
        if f.startswith(path)
    )
    return Reply(
        f"<directory-list>\n<directory>\n<directory-name>{escape(path)}</directory-name>\n"
        f"{items}\n</directory>\n</directory-list>"
    )


def package_digest(path: str, algorithm: str, corrupt: bool = False) -> str:
    data = (path + ("corrupt" if corrupt else "")).encode()
    return hashlib.new(algorithm, data).hexdigest()


def _checksum(ctx: Ctx, args: dict[str, Any], algorithm: str) -> Reply:
    path = str(args.get("path", ""))
    if path not in ctx.cluster.nodes[ctx.node].files:
        return error(f"could not resolve file: {path}")
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


def rpc_command(ctx: Ctx, args: dict[str, Any]) -> Reply:
    text = " ".join(str(args.get("_text", "")).split())
    if text.startswith("show chassis cluster information issu"):
        lines = []
        for name in ("node0", "node1"):
            if ctx.cluster.nodes[name].up:
                lines += [f"{name}:", "-" * 74, f"ICU state: {ctx.cluster.issu_state()}", ""]
        return Reply(f"<output>{escape(chr(10).join(lines))}</output>")
    if text.startswith("show version"):
        return rpc_get_software_information(ctx, args)
    if text.startswith("show chassis cluster status"):
        return rpc_get_chassis_cluster_status(ctx, args)
    return error("syntax error, expecting <command>", bad=text)


def rpc_request_package_in_service_upgrade(ctx: Ctx, args: dict[str, Any]) -> Reply:
    c = ctx.cluster
    package = str(args.get("package-name", ""))
    if "validation-fails" in ctx.faults:
        return Reply(
            "<output>error: configuration check-out failed\nValidation failed</output>\n"
            "<package-result>1</package-result>",
            result="error",
        )
    ok, text = c.start_icu(ctx.node, package, ctx.target, reboot=bool(args.get("reboot")))
    ctx.on_change()
    if not ok:
        return Reply(
            f"<output>{escape(text)}</output>\n<package-result>1</package-result>", result="error"
        )
    if ctx.icu_reply == "immediate":
        return Reply(f"<output>{escape(text)}</output>\n<package-result>0</package-result>")
    return Reply(None, result="no-reply")


def rpc_abort_in_service_upgrade(ctx: Ctx, args: dict[str, Any]) -> Reply:
    text = ctx.cluster.abort(ctx.node)
    ctx.on_change()
    return Reply(
        f"<output>{escape(text)}</output>", result="error" if text.startswith("error") else "ok"
    )


def rpc_request_package_rollback(ctx: Ctx, args: dict[str, Any]) -> Reply:
    node_id = int(args.get("node", ctx.node.removeprefix("node")))
    if "rollback-fails" in ctx.faults:
        ok, text = False, "ERROR: Cannot rollback, no previous package found; rollback aborted"
    else:
        ok, text = ctx.cluster.rollback(ctx.node, node_id)
    return Reply(
        f"<output>{escape(text)}</output>\n<package-result>{0 if ok else 1}</package-result>",
        result="ok" if ok else "error",
    )


def rpc_request_reboot(ctx: Ctx, args: dict[str, Any]) -> Reply:
    target = f"node{args['node']}" if "node" in args else ctx.node
    ctx.cluster.reboot(target)
    ctx.on_change()
    if "reboot-reply-lost" in ctx.faults and target == ctx.node:
        return Reply(None, result="no-reply", close_after=True)
    return Reply(
        "<request-reboot-results>\n<request-reboot-status>Shutdown NOW!"
        "</request-reboot-status>\n</request-reboot-results>",
        close_after=target == ctx.node,
    )


def error(message: str, bad: str = "") -> Reply:
    info = (
        f"<nc:error-info>\n<nc:bad-element>{escape(bad)}</nc:bad-element>\n</nc:error-info>\n"
        if bad
        else ""
    )
    return Reply(
        "<nc:rpc-error>\n<nc:error-type>protocol</nc:error-type>\n"
        "<nc:error-tag>operation-failed</nc:error-tag>\n"
        "<nc:error-severity>error</nc:error-severity>\n"
        f"<nc:error-message>{escape(message)}</nc:error-message>\n{info}</nc:rpc-error>",
        result="error",
    )


def dispatch(ctx: Ctx, op: etree._Element) -> tuple[str, dict[str, Any], Reply]:
    name = etree.QName(op).localname
    args: dict[str, Any] = {}
    for child in op:
        if isinstance(child.tag, str):
            args[etree.QName(child).localname] = (child.text or "").strip() or True
    if op.text and op.text.strip():
        args["_text"] = op.text.strip()
    handler = globals().get("rpc_" + name.replace("-", "_"))
    if handler is None:
        return name, args, error("syntax error", bad=name)
    return name, args, handler(ctx, args)
