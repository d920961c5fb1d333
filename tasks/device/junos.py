"""The one module that speaks Junos RPC/XML.

`NodeRpc` sends RPCs over a PyEZ `Device` (the one inside napalm's junos driver) and turns
replies into the typed values of `tasks.device.readings`. The `parse_*` functions are pure and take
a
reply element with or without the `rpc-reply` envelope and namespaces, so they run unchanged
on PyEZ's namespace-stripped replies and on raw captures.
"""

from __future__ import annotations

import hashlib
import logging
import re
from typing import Any, Protocol

from lxml import etree

from tasks.device.commands import IcuCommand, PackageAdd
from tasks.device.readings import (
    NOT_CLUSTERED,
    Alarm,
    BootTime,
    CleanupList,
    ClusterLinks,
    ClusterStatus,
    FileInfo,
    Filesystem,
    NodeSoftware,
    PackageResult,
    RedundancyGroup,
    RgMember,
)
from tasks.errors import (
    DeviceRefused,
    NodeUnreachable,
    SessionLost,
    UnreadableReply,
)
from tasks.state.transcripts import Recorder

log = logging.getLogger(__name__)

Element = Any  # lxml element; typed loosely because lxml-stubs and PyEZ disagree

_OLD_VERSION = re.compile(r"\[([^\]]+)\]")
_NOT_CONFIGURED = re.compile(r"\bnot (?:configured|enabled)\b", re.IGNORECASE)


# ---------------------------------------------------------------------------- helpers


def _local(tag: object) -> str:
    return tag.rpartition("}")[2] if isinstance(tag, str) else ""


# attributes in a namespace (in any element of a tree)
_NS_ATTRS = etree.XPath("descendant-or-self::*/@*[namespace-uri()!='']")
_ANY_NS_ATTR = etree.XPath("boolean(descendant-or-self::*/@*[namespace-uri()!=''])")


def _strip(elem: Element, *, in_place: bool = False) -> Element:
    """`elem` with namespaces removed from tags and attributes: a copy, or `elem` itself when
    nothing else holds it (a reply just parsed). Attributes are found by XPath (most
    elements have none in a namespace: no attribute map is built per element)."""
    root = elem if in_place else etree.fromstring(etree.tostring(elem))
    for el in root.iter(etree.Element):  # elements only: no comments or processing steps
        tag = el.tag
        if tag[0] == "{":
            el.tag = tag.rpartition("}")[2]
    attrs: Any = _NS_ATTRS(root)  # smart strings: each knows its element and name
    for attr in attrs:
        owner, name = attr.getparent(), attr.attrname
        owner.attrib[_local(name)] = owner.attrib.pop(name)
    etree.cleanup_namespaces(root)
    return root


def _namespaced(elem: Element) -> bool:
    for el in elem.iter(etree.Element):
        if el.tag[0] == "{":
            return True
    return bool(_ANY_NS_ATTR(elem))


def _root(elem: Element | bool) -> Element:
    """Normalise a reply: strip namespaces, then step inside the rpc-reply envelope if any.
    PyEZ hands back True for an `<rpc-reply/>` with nothing in it: an empty envelope, which
    every parser reads as "nothing of what was asked" (no interfaces, no routes, ...)."""
    if elem is True or elem is False:
        return etree.Element("rpc-reply")
    if elem.tag == "rpc-reply" and not _namespaced(elem):
        return elem  # what PyEZ hands back: already plain, no copy needed
    root = _strip(elem)
    if root.tag == "rpc-reply":
        return root
    wrapper = etree.Element("rpc-reply")
    wrapper.append(root)
    return wrapper


def _text(elem: Element | None, path: str, default: str = "") -> str:
    if elem is None:
        return default
    found = elem.find(path)
    if found is None or found.text is None:
        return default
    return str(found.text).strip()


def _int(value: str, default: int = 0) -> int:
    try:
        return int(value.strip())
    except (ValueError, AttributeError):
        return default


def _per_node(root: Element, inner: str) -> list[tuple[str, Element]]:
    """(node name, inner element) pairs from a per-node wrapped reply; '' when not wrapped."""
    items = root.findall(".//multi-routing-engine-item")
    if items:
        return [
            (_text(item, "re-name"), found)
            for item in items
            if (found := item.find(f".//{inner}")) is not None
        ]
    return [("", found) for found in root.iter(inner)]


_BARE_ERROR = re.compile(r"^\s*error:\s*(.+)$", re.MULTILINE)


def error_message(root: Element) -> str:
    """The device's words from an rpc-error or xnm:error inside a reply, '' when none (or,
    in a reply of bare text, its 'error: ...' line)."""
    for tag in ("rpc-error", "error"):
        for err in root.iter(tag):
            msg = _text(err, "error-message") or _text(err, "message")
            if msg:
                return msg
    bare = _BARE_ERROR.search(root.text or "") if isinstance(root.tag, str) else None
    return bare.group(1).strip() if bare else ""


def reply_words(root: Element) -> str:
    """The device's words in a reply that holds none of the data asked for ('error: Chassis
    cluster is not enabled', 'IPSec is not configured'): its error or warning message, else
    its text output, else the bare text of the reply itself (`<rpc-reply>IPSec is not
    configured</rpc-reply>`: PyEZ hands such a reply back whole); one line, '' when it says
    nothing."""
    words = error_message(root)
    if not words:
        warnings = (_text(w, "message") for w in root.iter("warning"))
        words = next((w for w in warnings if w), "")
    if not words:
        words = "\n".join(str(o.text) for o in root.iter("output") if o.text)
    if not words and isinstance(root.tag, str):
        words = root.text or ""
    lines = (" ".join(line.split()) for line in words.splitlines())
    return " / ".join(line for line in lines if line)


# ---------------------------------------------------------------------------- parsers


def parse_software(elem: Element) -> dict[str, NodeSoftware]:
    """get-software-information (or `show version`) -> NodeSoftware per node name."""
    root = _root(elem)
    out: dict[str, NodeSoftware] = {}
    for node, info in _per_node(root, "software-information"):
        version = _text(info, "junos-version")
        if not version:  # before 15.1 only the package comment carries the release
            for pkg in info.findall("package-information"):
                if _text(pkg, "name") in ("junos", "junos-version"):
                    match = _OLD_VERSION.search(_text(pkg, "comment"))
                    if match:
                        version = match.group(1)
                        break
        out[node] = NodeSoftware(
            node=node,
            hostname=_text(info, "host-name"),
            model=_text(info, "product-model").upper(),
            version=version,
        )
    return out


def parse_cluster_status(elem: Element) -> ClusterStatus | None:
    """get-chassis-cluster-status -> ClusterStatus; None when the cluster is not enabled."""
    root = _root(elem)
    status = root.find(".//chassis-cluster-status")
    if status is None:
        if NOT_CLUSTERED in reply_words(root).lower():
            return None
        raise ValueError(f"no chassis-cluster-status in reply: {error_message(root)!r}")
    groups = []
    for rg in status.findall("redundancy-group"):
        groups.append(
            RedundancyGroup(
                rg_id=_int(_text(rg, "redundancy-group-id"), -1),
                failover_count=_int(_text(rg, "redundancy-group-failover-count")),
                members=tuple(_device_stats(rg.find("device-stats"))),
            )
        )
    return ClusterStatus(cluster_id=_int(_text(status, "cluster-id")), groups=tuple(groups))


def _device_stats(stats: Element | None) -> list[RgMember]:
    """device-stats is a flat run of fields; each device-name starts a new member."""
    if stats is None:
        return []
    rows: list[dict[str, str]] = []
    for child in stats:
        if not isinstance(child.tag, str):
            continue
        if child.tag == "device-name":
            rows.append({})
        if rows:
            rows[-1][child.tag] = (child.text or "").strip()
    members = []
    for row in rows:
        failures = row.get("monitor-failures", "None")
        members.append(
            RgMember(
                node=row.get("device-name", ""),
                priority=_int(row.get("device-priority", "0")),
                status=row.get("redundancy-group-status", "unknown"),
                preempt=row.get("preempt", "no") == "yes",
                manual_failover=row.get("failover-mode", "no") == "yes",
                monitor_failures=tuple(f for f in failures.split() if f not in ("None", "n/a")),
            )
        )
    return members


def _seconds(elem: Element | None) -> int | None:
    if elem is None:
        return None
    raw = elem.get("seconds")
    return _int(raw) if raw is not None else None


def parse_boot_times(elem: Element) -> dict[str, BootTime]:
    """get-system-uptime-information -> BootTime per node (boot time proves a reboot)."""
    root = _root(elem)
    out: dict[str, BootTime] = {}
    for node, info in _per_node(root, "system-uptime-information"):
        booted = _seconds(info.find("system-booted-time/date-time"))
        if booted is None:
            continue
        current = _seconds(info.find("current-time/date-time")) or 0
        out[node] = BootTime(node=node, booted_at=booted, current_time=current)
    return out


def parse_storage(elem: Element) -> dict[str, list[Filesystem]]:
    """get-system-storage -> filesystems per node (available space in bytes)."""
    root = _root(elem)
    out: dict[str, list[Filesystem]] = {}
    for node, info in _per_node(root, "system-storage-information"):
        out.setdefault(node, []).extend(
            Filesystem(
                node=node,
                name=_text(fs, "filesystem-name"),
                mounted_on=_text(fs, "mounted-on"),
                available_bytes=_int(_text(fs, "available-blocks")) * 512,
            )
            for fs in info.findall("filesystem")
        )
    return out


def free_bytes_for(filesystems: list[Filesystem], path: str = "/var/tmp") -> int | None:
    """Free space of the filesystem that holds `path`, None when the reply cannot say.

    From 15.1X49 on, `/` is a read-only compressed image (md0.uzip, always 0 free) and the
    writable filesystems are mounted under /.mount (/.mount/var holds /var/tmp): the image is
    never the answer, and of two mounts that hold `path` equally well the /.mount one is."""
    best: tuple[int, bool, int] | None = None
    for fs in filesystems:
        if fs.name.endswith(".uzip"):
            continue
        writable = fs.mounted_on.startswith("/.mount")
        mount = fs.mounted_on.removeprefix("/.mount") or "/"
        holds = path == mount or path.startswith(mount.rstrip("/") + "/")
        key = (len(mount), writable, fs.available_bytes)
        if holds and (best is None or key[:2] > best[:2]):
            best = key
    return best[2] if best else None


def parse_file_list(elem: Element, path: str) -> FileInfo | None:
    """file-list <detail/> -> FileInfo for `path` (a directory or symlink says so in `kind`:
    neither is a package), None when absent."""
    root = _root(elem)
    name = path.rsplit("/", 1)[-1]
    for info in root.iter("file-information"):
        file_name = _text(info, "file-name")
        if file_name in (name, path) or file_name.endswith("/" + name):
            kind = "file"
            if info.find("file-directory") is not None:
                kind = "directory"
            elif info.find("file-symlink-target") is not None:
                kind = "symlink"
            return FileInfo(path=path, size=_int(_text(info, "file-size"), -1), kind=kind)
    return None


def parse_checksum(elem: Element) -> str:
    root = _root(elem)
    value = _text(root.find(".//file-checksum"), "checksum")
    if not value:
        raise ValueError(f"no checksum in reply: {error_message(root)!r}")
    return value.lower()


# The device's words for a refusal, with or without a <package-result>
# (docs/design/device-facts.md, and the captures in tests/fidelity): a result 0 next to them
# is not a success.
_FAILURE = re.compile(
    r"^\s*(?:\[[^\]]*\]:?\s*)?(?:error|fatal)\b|cannot rollback|rollback aborted"
    r"|is not found or empty|no packages added|aborting\b|there is already an install pending"
    r"|there is pending upgrade|(?:validation|install(?:ation)?|upgrade|rollback) failed",
    re.IGNORECASE | re.MULTILINE,
)
# Documented success texts, for replies that carry no <package-result>.
_SUCCESS = re.compile(
    r"will become active at next reboot|validation succeeded"
    r"|rollback of staged upgrade succeeded",
    re.IGNORECASE,
)


def _lines(elem: Element) -> list[str]:
    return [str(o.text).strip() for o in elem.iter("output") if o.text and o.text.strip()]


def _verdict(elem: Element, success: re.Pattern[str] | None) -> tuple[str, str]:
    """(ok | failed | unknown, the device's words) of one node's part of a reply. Lines
    such as 'mgd: error: ...' or 'rm: ... failed' inside a validation are not a verdict."""
    words = "\n".join(_lines(elem))
    error = error_message(elem)
    result = _text(elem, ".//package-result")
    if error and _severity(elem) != "warning":
        return "failed", "\n".join(w for w in (words, error) if w)
    if _FAILURE.search(words) or (result not in ("", "0")):
        return "failed", words or f"package-result {result}"
    if result == "0" or (success is not None and success.search(words)):
        return "ok", words
    return "unknown", words


def _severity(elem: Element) -> str:
    for err in elem.iter("rpc-error"):
        return _text(err, "error-severity", "error")
    return "error"


def parse_package_result(
    elem: Element | bool, success: re.Pattern[str] | None = _SUCCESS
) -> PackageResult:
    """request-package-* replies: every node of a multi-node reply judged, success only on
    positive evidence (tasks.device.readings.PackageResult), errors carried with the device's words.
    `success`: the documented success texts that count when no <package-result> is there."""
    if elem is True or elem is False:  # PyEZ's empty reply: no evidence either way
        return PackageResult("unknown", "")
    root = _root(elem)
    items = root.findall(".//multi-routing-engine-item")
    if not items:
        verdict, words = _verdict(root, success)
        return PackageResult(verdict, words)
    nodes: dict[str, str] = {}
    texts = []
    for item in items:
        name = _text(item, "re-name")
        nodes[name], words = _verdict(item, success)
        texts.append(f"{name}: {words}" if words else name)
    outer = error_message(root) if not any(error_message(i) for i in items) else ""
    verdicts = set(nodes.values()) | ({"failed"} if outer else set())
    verdict = "failed" if "failed" in verdicts else "ok" if verdicts == {"ok"} else "unknown"
    return PackageResult(verdict, "\n".join(texts + ([outer] if outer else [])), nodes)


def parse_icu_result(elem: Element | bool) -> PackageResult:
    """The ICU RPC's reply: 'Validation succeeded' there is one step, not the ICU's success;
    only an explicit result 0 is (the reply rarely arrives: the primary reboots)."""
    return parse_package_result(elem, success=None)


def parse_package_add(elem: Element | bool) -> PackageResult:
    """request-package-add (`request system software add`): ok on a result 0 or on "will
    become active at next reboot", failed on the device's failure words (a result 0 next to
    "There is pending upgrade" is no success), else unknown: the device shows it."""
    return parse_package_result(elem)


def added_release(output: str) -> str | None:
    """The release an install's reply says will become active at the next reboot
    ('JUNOS 24.4R1.9 will become active at next reboot' -> 24.4R1.9), or None."""
    named = rollback_release(output)
    inside = _RELEASE_IN.search(named) if named else None
    return inside.group(0) if inside else named


def parse_pending_install(elem: Element | bool) -> str | None:
    """request-package-checks-pending-install -> pending text, None when nothing pending."""
    result = parse_package_result(elem)
    if not result.failed:
        return None
    return result.output or "install pending"


_BECOMES_ACTIVE = re.compile(
    r"(?:version\s+)?[\"']?([\w.\-]+)[\"']?\s+will become active", re.IGNORECASE
)
_RELEASE_IN = re.compile(r"\d+\.\d+[A-Z]\d+(?:-[A-Z]\d+)?(?:\.\d+)?")


def rollback_release(output: str) -> str | None:
    """What a rollback reply says will become active at the next reboot, as written: a
    release (JUNOS version "23.4R2-S3.9"), a package name (junos-vsrx-12.1X46-D30.2-domestic)
    or a service-release tail (Junos version 'D10.2')."""
    match = _BECOMES_ACTIVE.search(output)
    return match.group(1) if match else None


def rollback_names(output: str, release: str) -> bool:
    """Does the rollback reply name `release` as the one that becomes active?"""
    named = rollback_release(output)
    if named is None:
        return False
    if named == release:
        return True
    inside = _RELEASE_IN.search(named)
    if inside is not None:  # a package name: the release inside it must be the one
        return inside.group(0) == release
    return release.endswith("-" + named)  # 'D10.2' of 12.1X46-D10.2


def reboot_text(elem: Element | bool) -> str:
    """request-reboot: the device's words are in <request-reboot-status>, not <output>."""
    if elem is True or elem is False:
        return ""
    root = _root(elem)
    texts = [str(t.text).strip() for t in root.iter("request-reboot-status") if t.text]
    warnings = [error_message(w) for w in root.iter("rpc-error")]  # e.g. 'Rebooting re0 in 1 min'
    return "\n".join(texts + [w for w in warnings if w]) or output_text(root)


def output_text(elem: Element | bool) -> str:
    if elem is True or elem is False:
        return ""
    root = _root(elem)
    texts = [str(o.text).strip() for o in root.iter("output") if o.text]
    return "\n".join(texts) or error_message(root)


# ------------------------------------------------------- ICU prerequisites and services


def _word(text: str) -> str:
    return text.strip().lower()


def parse_cluster_links(elem: Element) -> ClusterLinks:
    """get-chassis-cluster-interfaces: control link and fabric (data plane) link state. A
    fabric child reads 'Up   / Down' (physical / monitored) on real devices."""
    root = _root(elem)
    stats = root.find(".//chassis-cluster-interface-statistics")
    controls = {
        _text(c, "control-link-interface-name"): _word(_text(c, "control-link-interface-status"))
        for c in root.iter("control-information")
    }
    fabric = {
        _text(f, "fabric-child-interface-name"): " ".join(
            _text(f, "fabric-child-interface-status").lower().split()
        )
        for f in root.iter("fabric-information")
        if _text(f, "fabric-child-interface-name")
    }
    said = stats is not None or controls or fabric
    return ClusterLinks(
        control=_word(_text(stats, "control-interface-status")),
        fabric=_word(_text(stats, "dataplane-interface-status")),
        control_links=controls,
        fabric_links=fabric,
        words="" if said else reply_words(root),
    )


def parse_alarms(elem: Element, source: str) -> dict[str, list[Alarm]]:
    """get-alarm-information (chassis) / get-system-alarm-information: alarms per node ('' for
    an unwrapped reply); a node with <no-active-alarms/> has an empty list."""
    root = _root(elem)
    out: dict[str, list[Alarm]] = {}
    for node, info in _per_node(root, "alarm-information"):
        out.setdefault(node, []).extend(
            Alarm(node, _text(a, "alarm-class"), _text(a, "alarm-description"), source)
            for a in info.iter("alarm-detail")
        )
    if not out and root.find(".//output") is not None:  # the CLI's text table
        text = output_text(root)
        out[""] = [Alarm("", c, d.strip(), source) for c, d in _ALARM_LINE.findall(text)]
    return out


_ALARM_LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \S+\s+(Major|Minor)\s+(.+)$", re.M)


def parse_interfaces(elem: Element) -> dict[str, dict[str, str]]:
    """get-interface-information terse: oper status of every physical and logical interface,
    per node. An entry without a <name> is no interface: a terse reply filtered by routing
    instance wraps its logical interfaces (each named) in nameless <physical-interface>
    elements, and an empty reply may hold one such element with nothing in it; the logical
    interfaces inside count by their own names, the wrapper not at all."""
    root = _root(elem)
    out: dict[str, dict[str, str]] = {}
    for node, info in _per_node(root, "interface-information"):
        seen = out.setdefault(node, {})
        for tag in ("physical-interface", "logical-interface"):
            for itf in info.iter(tag):
                if name := _text(itf, "name"):
                    seen[name] = _word(_text(itf, "oper-status"))
    return out


def parse_ipsec_tunnels(elem: Element) -> dict[str, dict[str, str]]:
    """get-security-associations-information: 'gateway#tunnel-index' -> state of its SA block,
    per node (an SA pair of one tunnel, and rekey overlaps, count once)."""
    root = _root(elem)
    out: dict[str, dict[str, str]] = {}
    for node, info in _per_node(root, "ipsec-security-associations-information"):
        tunnels = out.setdefault(node, {})
        for block in info.iter("ipsec-security-associations-block"):
            state = _word(_text(block, "sa-block-state"))
            for sa in block.iter("ipsec-security-associations"):
                key = f"{_text(sa, 'sa-remote-gateway')}#{_text(sa, 'sa-tunnel-index')}"
                if tunnels.get(key) != "up":
                    tunnels[key] = state
    return out


def parse_route_summary(elem: Element) -> dict[str, dict[str, int]]:
    """get-route-summary-information: active routes per routing table, per node."""
    root = _root(elem)
    out: dict[str, dict[str, int]] = {}
    for node, info in _per_node(root, "route-summary-information"):
        tables = out.setdefault(node, {})
        for table in info.findall("route-table"):
            tables[_text(table, "table-name")] = _int(_text(table, "active-route-count"))
    return out


def parse_ipsec_words(elem: Element) -> str:
    """get-security-associations-information: the device's words when the reply holds no SA
    information at all ('IPSec is not configured'), '' when it does (tunnels or none)."""
    root = _root(elem)
    if root.find(".//ipsec-security-associations-information") is not None:
        return ""
    return reply_words(root)


_SUMMARY = "flow-session-summary-information"
_SPU_TAGS = ("spu-name", "flow-fpc-pic-id", "dcp-flow-fpc-pic-id", "flow-spu-id", "spu-id")


def parse_flow_sessions(elem: Element) -> dict[str, int]:
    """get-flow-session-information summary: active sessions per node, every SPU's summary
    of the node added up (parse_flow_sessions_per_spu)."""
    return {n: sum(spus.values()) for n, spus in parse_flow_sessions_per_spu(elem).items()}


def parse_flow_sessions_per_spu(elem: Element) -> dict[str, dict[str, int]]:
    """get-flow-session-information summary: active sessions per node and, within it, per
    summary. A branch SRX or a vSRX answers one summary per node (its key is ''); a high-end
    SRX one per SPU ('Flow Sessions on FPC0 PIC1:' on the CLI), each named by an SPU id or
    name or an FPC/PIC id inside it, in the flow-session-per-pic around it, or in the
    flow-session-information just before it; '#N' (its place on the node) when none is."""
    root = _root(elem)
    items = root.findall(".//multi-routing-engine-item")
    scopes = [(_text(i, "re-name"), i) for i in items] if items else [("", root)]
    out: dict[str, dict[str, int]] = {}
    for node, scope in scopes:
        summaries = list(scope.iter(_SUMMARY))
        if not summaries:
            continue
        spus = out.setdefault(node, {})
        for index, summary in enumerate(summaries, 1):
            key = _spu_label(summary) or (f"#{index}" if len(summaries) > 1 else "")
            spus[key] = spus.get(key, 0) + _int(_text(summary, "active-sessions"))
    return out


def _spu_label(summary: Element) -> str:
    def label_in(elem: Element | None) -> str:
        if elem is None:
            return ""
        found = next((t for tag in _SPU_TAGS if (t := _text(elem, tag))), "")
        return found.removeprefix("on ").rstrip(":").strip()

    parent = summary.getparent()
    wrapper = parent if parent is not None and parent.tag == "flow-session-per-pic" else None
    before = None
    for sibling in summary.itersiblings(preceding=True):
        if sibling.tag == _SUMMARY:
            break  # the id before an earlier summary is that summary's
        if sibling.tag == "flow-session-information":
            before = sibling
            break
    return label_in(summary) or label_in(wrapper) or label_in(before)


# ---------------------------------------------------------------------------- transfers


def parse_file_copy(elem: Element | bool) -> str:
    """file-copy: '' on success (an empty reply, PyEZ's True, or <ok/>), else the device's
    words (every rpc-error's message, as the captures have one per line)."""
    if elem is True or elem is False:
        return ""
    root = _root(elem)
    words = [
        " / ".join(line.strip() for line in msg.splitlines() if line.strip())
        for err in root.iter("rpc-error")
        if (msg := _text(err, "error-message"))
    ]
    return " / ".join(w for w in words if w)


def parse_cleanup(elem: Element | bool) -> CleanupList:
    """request-system-storage-cleanup (dry-run or not) -> CleanupList."""
    if elem is True or elem is False:
        return CleanupList((), None)
    root = _root(elem)
    files = tuple(
        (_text(f, "file-name"), _int(_text(f, "size")))
        for f in root.iter("file")
        if _text(f, "file-name")
    )
    success = True if root.find(".//success") is not None else None
    return CleanupList(files, success, error_message(root))


def parse_configuration(reply: Element, form: str) -> str:
    """The configuration a `get-configuration format="text|set"` reply carries: the text of
    its <configuration-text> or <configuration-set> (ValueError when there is none)."""
    found = _root(reply).find(f".//configuration-{form}")
    if found is None or found.text is None:
        raise ValueError(f"no <configuration-{form}> in the reply")
    return str(found.text)


# ---------------------------------------------------------------------------- RPC client


class XmlRpc:
    """Typed RPCs on one node's session (tasks.device.rpc.NodeRpc): the RPC XML, the
    replies parsed, failures mapped onto our errors. How an RPC travels is a subclass's
    `_send`: PyEZ (PyezRpc) or an in-process wire (WireRpc)."""

    def __init__(
        self,
        device: Any,
        *,
        cluster: str,
        node: str,
        timeout: float,
        recorder: Recorder | None = None,
    ) -> None:
        self.device = device
        self.cluster = cluster
        self.node = node
        self.timeout = timeout
        self.recorder = recorder

    def identity(self) -> str:
        return session_identity(self.device)

    def _record(self, kind: str, text: str) -> None:
        if self.recorder is not None:
            self.recorder(self.node, kind, text)

    def _send(self, rpc: str, wait: float, kwargs: dict[str, Any]) -> Any:
        """Send one RPC and return PyEZ's answer: the reply's first element, the bare
        `<rpc-reply>` of a reply of text only, or True for an empty one."""
        raise NotImplementedError

    def _call(self, rpc: str, *, timeout: float | None = None, **kwargs: Any) -> Any:
        """Send one RPC; map transport failures onto our errors; return the reply root."""
        wait = timeout or self.timeout
        self._record("sent", " ".join([rpc, *(f"{k}={v}" for k, v in kwargs.items())]))
        try:
            reply = self._send(rpc, wait, kwargs)
        except Exception as exc:
            self._record("error", f"{rpc}: {type(exc).__name__}: {exc}")
            mapped = _mapped(exc, rpc, wait, {"cluster": self.cluster, "node": self.node})
            if mapped is exc:
                raise
            raise mapped from exc
        if reply is True or reply is False:
            self._record("reply", f"{rpc}: {reply}")
            return reply
        parent = reply.getparent()
        root = parent if parent is not None else reply
        self._record("reply", etree.tostring(root, encoding="unicode"))
        return root

    # observations ---------------------------------------------------------------------
    def software(self) -> dict[str, NodeSoftware]:
        return _named(parse_software(self._call("get-software-information")), self.node)

    def cluster_status(self) -> ClusterStatus | None:
        return self.cluster_state()[0]

    def cluster_state(self) -> tuple[ClusterStatus | None, str]:
        """The cluster status; (None, the device's words) when chassis cluster is off."""
        try:
            reply = self._call("get-chassis-cluster-status")
        except DeviceRefused as exc:
            if NOT_CLUSTERED in exc.message.lower():
                return None, exc.message
            raise
        status = parse_cluster_status(reply)
        return status, "" if status is not None else reply_words(_root(reply))

    def boot_times(self) -> dict[str, BootTime]:
        return _named(parse_boot_times(self._call("get-system-uptime-information")), self.node)

    def pending_install(self) -> str | None:
        return parse_pending_install(self._call("request-package-checks-pending-install"))

    def storage(self) -> dict[str, list[Filesystem]]:
        return _named(parse_storage(self._call("get-system-storage")), self.node)

    def file_info(self, path: str) -> FileInfo | None:
        directory = path.rsplit("/", 1)[0] + "/"
        return parse_file_list(self._call("file-list", path=directory, detail=True), path)

    def checksum(self, path: str, algorithm: str = "md5") -> str:
        rpc = (
            "get-checksum-information" if algorithm == "md5" else "get-sha256-checksum-information"
        )
        reply = self._call(rpc, path=path)
        words = ""
        if not isinstance(reply, bool):
            try:
                return parse_checksum(reply)
            except ValueError:  # the device's words, inside <file-checksum> on real devices
                words = error_message(_root(reply))
        words = words or f"no checksum of {path} in the reply"
        raise DeviceRefused(words, step=rpc, cluster=self.cluster, node=self.node)

    def configuration(self, form: str) -> str:
        """The node's committed configuration as text (`form` "text") or set commands ("set")."""
        reply = self._call("get-config", options={"format": form})
        try:
            return parse_configuration(reply, form)
        except ValueError:
            words = error_message(_root(reply)) or f"no configuration ({form}) in the reply"
            raise DeviceRefused(
                words, step="get-configuration", cluster=self.cluster, node=self.node
            ) from None

    # ICU prerequisites and services (read-only) ---------------------------------------
    def cluster_links(self) -> ClusterLinks:
        try:
            return parse_cluster_links(self._call("get-chassis-cluster-interfaces"))
        except DeviceRefused as exc:  # the words are the evidence: "not enabled" is no error
            if NOT_CLUSTERED in exc.message.lower():
                return ClusterLinks("", "", words=exc.message)
            raise

    def alarms(self) -> list[Alarm]:
        """Chassis and system alarms of every node this session's reply covers."""
        found: list[Alarm] = []
        for rpc, source in (
            ("get-alarm-information", "chassis"),
            ("get-system-alarm-information", "system"),
        ):
            per_node = _named(parse_alarms(self._call(rpc), source), self.node)
            found += [
                Alarm(node, a.severity, a.description, a.source)
                for node, items in per_node.items()
                for a in items
            ]
        return found

    def interfaces(self) -> dict[str, str]:
        """Oper status of every interface (the cluster's, as seen from this node)."""
        per_node = parse_interfaces(self._call("get-interface-information", terse=True))
        return next(iter(per_node.values()), {})

    def tunnels(self) -> dict[str, dict[str, str]]:
        return self.tunnels_and_words()[0]

    def tunnels_and_words(self) -> tuple[dict[str, dict[str, str]], str]:
        """Tunnels per node, and the device's words when it has no IPsec to report
        ('IPSec is not configured': no tunnels, said in its words, not an error)."""
        try:
            reply = self._call("get-security-associations-information")
        except DeviceRefused as exc:
            if _NOT_CONFIGURED.search(exc.message):
                return {}, " / ".join(w.strip() for w in exc.message.splitlines() if w.strip())
            raise
        if reply is True or reply is False:
            return {}, ""
        return _named(parse_ipsec_tunnels(reply), self.node), parse_ipsec_words(reply)

    def routes(self) -> dict[str, int]:
        """Active routes per table, as this node's routing process has them."""
        per_node = parse_route_summary(self._call("get-route-summary-information"))
        return next(iter(per_node.values()), {})

    def sessions(self) -> dict[str, int]:
        return {n: sum(spus.values()) for n, spus in self.sessions_per_spu().items()}

    def sessions_per_spu(self) -> dict[str, dict[str, int]]:
        """Active flow sessions per node and SPU (parse_flow_sessions_per_spu)."""
        reply = self._call("get-flow-session-information", summary=True)
        return _named(parse_flow_sessions_per_spu(reply), self.node)

    # actions --------------------------------------------------------------------------
    def start_icu(self, command: IcuCommand, *, timeout: float) -> PackageResult:
        """Send the ICU RPC. Its reply is unreliable: callers treat SessionLost as 'started'."""
        return parse_icu_result(
            self._call("request-package-in-service-upgrade", timeout=timeout, **command.rpc_args())
        )

    def abort_icu(self) -> str:
        return output_text(self._call("abort-in-service-upgrade"))

    def rollback(self, node_id: int) -> PackageResult:
        return parse_package_result(self._call("request-package-rollback", node=str(node_id)))

    def package_add(self, command: PackageAdd, *, timeout: float) -> PackageResult:
        """Install a package on this node alone, no reboot (request-package-add). A lost
        reply is SessionLost: the install may still run; the caller observes, never resends."""
        return parse_package_add(
            self._call("request-package-add", timeout=timeout, **command.rpc_args())
        )

    def reboot_self(self, *, timeout: float) -> str:
        """`request system reboot` with no node: the node this session is on reboots (what
        PyEZ's sw.reboot sends to a branch SRX cluster node)."""
        return reboot_text(self._call("request-reboot", timeout=timeout))

    def reboot(self, node_id: int, *, timeout: float) -> str:
        return reboot_text(self._call("request-reboot", timeout=timeout, node=str(node_id)))

    def failover(self, rg_id: int, node_id: int) -> str:
        return output_text(
            self._call(
                "request-chassis-cluster-failover", redundancy_group=str(rg_id), node=str(node_id)
            )
        )

    def failover_reset(self, rg_id: int) -> str:
        return output_text(
            self._call("request-chassis-cluster-failover-reset", redundancy_group=str(rg_id))
        )

    # transfers ------------------------------------------------------------------------
    def file_copy(self, source: str, destination: str, *, timeout: float) -> str:
        """The device fetches `source` into `destination`; '' on success, else its words.
        A timeout is SessionLost: the copy may still run; the caller closes the session."""
        try:
            reply = self._call("file-copy", timeout=timeout, source=source, destination=destination)
        except DeviceRefused as exc:  # the device's words, one line
            return " / ".join(w.strip() for w in exc.message.splitlines() if w.strip())
        return parse_file_copy(reply)

    def file_delete(self, path: str) -> None:
        self._call("file-delete", path=path)

    def storage_cleanup(self, *, dry_run: bool) -> CleanupList:
        kwargs = {"dry_run": True} if dry_run else {}
        return parse_cleanup(self._call("request-system-storage-cleanup", **kwargs))


class PyezRpc(XmlRpc):
    """The RPCs over a PyEZ `Device` (the one inside napalm's junos driver), already open."""

    def _send(self, rpc: str, wait: float, kwargs: dict[str, Any]) -> Any:
        if rpc == "cli":  # <command format="text">...</command>; rpc.cli takes no timeout
            command = etree.Element("command", format=kwargs.get("format", "text"))
            command.text = kwargs["command"]
            return self.device.execute(command, dev_timeout=wait, ignore_warning=True)
        method = getattr(self.device.rpc, rpc.replace("-", "_"))
        # The parsers strip whitespace themselves; PyEZ's normalize XSLT costs CPU.
        return method(dev_timeout=wait, ignore_warning=True, **kwargs)


NodeRpc = PyezRpc  # the name scripts and tests know it by (the interface: tasks.device.rpc)


class Wire(Protocol):
    """An in-process session (simulator/inprocess.py): one RPC as XML text in, the whole
    `<rpc-reply>` document as text out. Failures are the builtin errors of a socket:
    ConnectionResetError (the session closed), TimeoutError (no reply within `timeout`)."""

    identity: str

    def rpc(self, request: str, timeout: float) -> str: ...


class _Built:
    """What PyEZ's RPC builder hands its device: the request element, not sent."""

    transform = None

    def execute(self, rpc: Element, **_: Any) -> Element:
        return rpc


def request_xml(rpc: str, kwargs: dict[str, Any]) -> Element:
    """The RPC element PyEZ sends for `rpc` with `kwargs` (built by PyEZ's own builder)."""
    from jnpr.junos.rpcmeta import _RpcMetaExec

    if rpc == "cli":
        command = etree.Element("command", format=kwargs.get("format", "text"))
        command.text = kwargs["command"]
        return command
    return getattr(_RpcMetaExec(_Built()), rpc.replace("-", "_"))(**kwargs)


_REQUESTS: dict[tuple[str, tuple[tuple[str, Any], ...]], str] = {}  # (rpc, args) -> request


def _request_text(rpc: str, kwargs: dict[str, Any]) -> str:
    """request_xml's document as text, built once per RPC and arguments of plain values (an
    observation repeats the same few requests thousands of times in a simulation)."""
    key = (rpc, tuple(kwargs.items()))
    try:
        return _REQUESTS[key]
    except KeyError:
        pass
    except TypeError:  # an argument that is no plain value: built each time
        return str(etree.tostring(request_xml(rpc, kwargs), encoding="unicode"))
    text = str(etree.tostring(request_xml(rpc, kwargs), encoding="unicode"))
    if len(_REQUESTS) < 4096 and all(isinstance(v, (str, int, float, bool)) for _, v in key[1]):
        _REQUESTS[key] = text
    return text


class WireRpc(XmlRpc):
    """The RPCs over an in-process wire (`Wire`): the request PyEZ would send, and the reply
    read as PyEZ reads it (an rpc-error of severity error anywhere in it raises, warnings
    are ignored; namespaces stripped; the first element handed back)."""

    def identity(self) -> str:
        return str(self.device.identity)

    def _send(self, rpc: str, wait: float, kwargs: dict[str, Any]) -> Any:
        request = _request_text(rpc, kwargs)
        try:
            text = self.device.rpc(request, wait)
        except TimeoutError:
            raise SessionLost(f"no reply to {rpc} within {wait:g}s", step=rpc) from None
        except ConnectionError:
            raise SessionLost(f"session closed during {rpc}", step=rpc) from None
        root = _strip(etree.fromstring(text.encode()), in_place=True)
        errors = [
            err
            for err in root.iter("rpc-error")
            if _text(err, "error-severity", "error") != "warning"
        ]
        if errors:
            words = "; ".join(m for e in errors if (m := _text(e, "error-message")))
            raise DeviceRefused(words or "RpcError", step=rpc)
        children = [c for c in root if isinstance(c.tag, str)]
        if children:
            return children[0]
        return root if (root.text or "").strip() else True


def _mapped(exc: Exception, rpc: str, timeout: float, ctx: dict[str, str]) -> Exception:
    """PyEZ/ncclient failures -> our errors. Order matters: RpcTimeoutError is an RpcError."""
    from jnpr.junos import exception as ez

    if isinstance(exc, (SessionLost, DeviceRefused)):  # WireRpc's: ours, without where
        return type(exc)(exc.message, step=exc.step or rpc, **ctx)
    if isinstance(exc, ez.RpcTimeoutError):
        return SessionLost(f"no reply to {rpc} within {timeout:g}s", step=rpc, **ctx)
    if isinstance(exc, ez.ConnectClosedError):
        return SessionLost(f"session closed during {rpc}", step=rpc, **ctx)
    if isinstance(exc, ez.RpcError):
        return DeviceRefused(_rpc_error_text(exc), step=rpc, **ctx)
    if isinstance(exc, ez.ConnectError):
        return NodeUnreachable(f"{type(exc).__name__} during {rpc}", step=rpc, **ctx)
    if isinstance(exc, (etree.XMLSyntaxError, UnicodeDecodeError)):  # truncated or garbled
        why = str(exc).splitlines()[0][:120] if str(exc) else type(exc).__name__
        raw = getattr(exc, "raw_reply", None)  # attached by tasks.device.session_tuning
        if raw is not None:  # the evidence, for the log: what exactly came off the wire
            log.warning("unreadable reply to %s (%s):\n%s", rpc, why, raw[:8000])
        return UnreadableReply(f"unreadable reply to {rpc} ({why})", step=rpc, **ctx)
    if isinstance(exc, (OSError, EOFError)) or type(exc).__module__.startswith("ncclient"):
        return SessionLost(f"{type(exc).__name__} during {rpc}", step=rpc, **ctx)
    return exc


def session_identity(device: object) -> str:
    """The SSH host key of the box a PyEZ session reached, as `type:sha256`; '' if unknown.

    Each SRX node has its own host key, so two sessions showing one key reached one box (an
    inventory giving node1 node0's address): the cluster replies that box sends name both
    nodes, so nothing else in them tells the two sessions apart. No RPC is sent for this."""
    try:
        transport = device._conn._session._transport  # type: ignore[attr-defined]
        key = transport.get_remote_server_key()
        return f"{key.get_name()}:{hashlib.sha256(key.asbytes()).hexdigest()}"
    except Exception:  # no session, another transport, a closed one: unknown, not an error
        return ""


def _named(values: dict[str, Any], node: str) -> dict[str, Any]:
    """Unwrapped replies (standalone or old releases) carry no node name: it is this node."""
    if "" in values:
        values[node] = values.pop("")
    return values


def _rpc_error_text(exc: Exception) -> str:
    errs = getattr(exc, "errs", None) or []
    if isinstance(errs, dict):
        errs = [errs]
    messages = [str(e.get("message") or "").strip() for e in errs if isinstance(e, dict)]
    text = "; ".join(m for m in messages if m)
    if not text:
        rsp = getattr(exc, "rsp", None)
        text = error_message(_root(rsp)) if rsp is not None else ""
    return text or type(exc).__name__
