"""Service checks: what the cluster forwards before the ICU and after its verified end.

A snapshot, read on the RG0 primary's session (per-node replies cover both nodes): the
interfaces' oper status, IPsec tunnels up (gateway#tunnel-index), active routes per table,
chassis and system alarms, flow sessions. The comparison names what was up before and is
not after (an interface, a tunnel, a routing table empty or shrunk beyond the tolerance, a
new major alarm); session counts are informational: ICU with no-sync drops flow state."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from tasks.device.readings import Alarm, NodeServices, with_words
from tasks.device.rpc import NodeRpc
from tasks.errors import RunbookError

ROUTE_DROP_PCT = 10.0  # a table may lose this share of its active routes (reconvergence)


@dataclass(frozen=True)
class ServicePolicy:
    """Tolerances and ignored items (inventory/config `service_checks:`)."""

    ignore: tuple[str, ...] = ()  # regexes on interface names, gateway#index, table names
    route_drop_pct: float = ROUTE_DROP_PCT

    @classmethod
    def from_data(cls, data: dict[str, Any] | None) -> ServicePolicy:
        data = data or {}
        return cls(
            ignore=tuple(str(x) for x in data.get("ignore", ()) or ()),
            route_drop_pct=float(data.get("route_drop_pct", ROUTE_DROP_PCT)),
        )

    def ignored(self, item: str) -> bool:
        return any(re.search(p, item) for p in self.ignore)


@dataclass(frozen=True)
class Snapshot:
    """The whole cluster at one moment; `unreadable` names what could not be read, `notes`
    what the device said instead of data ('no IPsec tunnels (device: IPSec is not
    configured)').
    `sessions_by_node` adds up every SPU of a node; `sessions_per_spu` keeps the figures of
    the nodes that report more than one (high-end SRX, docs/design/services.md)."""

    services: NodeServices
    tunnels_by_node: dict[str, dict[str, str]] = field(default_factory=dict)
    sessions_by_node: dict[str, int] = field(default_factory=dict)
    unreadable: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    sessions_per_spu: dict[str, dict[str, int]] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        out = {
            **self.services.to_json(),
            "sessions": self.sessions_by_node,
            "unreadable": list(self.unreadable),
            "notes": list(self.notes),
        }
        if self.sessions_per_spu:
            out["sessions_per_spu"] = self.sessions_per_spu
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Snapshot:
        """A snapshot saved by `python -m runbooks snapshot --save` (or a report's)."""
        sessions = {str(k): int(v) for k, v in (data.get("sessions") or {}).items()}
        services = NodeServices(
            interfaces={str(k): str(v) for k, v in (data.get("interfaces") or {}).items()},
            tunnels={str(k): str(v) for k, v in (data.get("tunnels") or {}).items()},
            routes={str(k): int(v) for k, v in (data.get("routes") or {}).items()},
            alarms=tuple(str(a) for a in data.get("alarms") or ()),
            sessions=sum(sessions.values()) if sessions else None,
        )
        per_spu = {
            str(n): {str(k): int(v) for k, v in spus.items()}
            for n, spus in (data.get("sessions_per_spu") or {}).items()
        }
        unreadable, notes = tuple(data.get("unreadable") or ()), tuple(data.get("notes") or ())
        return cls(services, {}, sessions, unreadable, notes, per_spu)


def take_snapshot(rpc: NodeRpc) -> Snapshot:
    """Read every service observable on one session; a part that cannot be read is named
    (a device without IPsec answers the SA RPC with no tunnels, not an error)."""
    unreadable: list[str] = []

    def read(what: str, fn: Any, empty: Any) -> Any:
        try:
            return fn()
        except RunbookError as exc:
            unreadable.append(f"{what}: {exc.message}")
            return empty

    interfaces = read("interfaces", rpc.interfaces, {})
    tunnels, ipsec_words = read("tunnels", rpc.tunnels_and_words, ({}, ""))
    routes = read("routes", rpc.routes, {})
    alarms: list[Alarm] = read("alarms", rpc.alarms, [])
    per_spu: dict[str, dict[str, int]] = read("sessions", rpc.sessions_per_spu, {})
    sessions = {node: sum(spus.values()) for node, spus in per_spu.items()}
    merged = {k: v for per in tunnels.values() for k, v in per.items() if v == "up"}
    services = NodeServices(
        interfaces=interfaces,
        tunnels=merged,
        routes=routes,
        alarms=tuple(str(a) for a in alarms),
        sessions=sum(sessions.values()) if sessions else None,
    )
    notes = (with_words("no IPsec tunnels", ipsec_words),) if ipsec_words else ()
    several = {node: spus for node, spus in per_spu.items() if len(spus) > 1}
    return Snapshot(services, tunnels, sessions, tuple(unreadable), notes, several)


def services_lost(before: Snapshot, after: Snapshot, policy: ServicePolicy) -> list[str]:
    """What was up before and is not now, in the operator's words; [] when nothing."""
    b, a = before.services, after.services
    out = [
        f"interface {n} {state} -> {a.interfaces.get(n, 'missing')}"
        for n, state in sorted(b.interfaces.items())
        if state == "up" and a.interfaces.get(n) != "up" and not policy.ignored(n)
    ]
    out += [
        f"tunnel {t} up -> {a.tunnels.get(t, 'gone')}"
        for t in sorted(b.tunnels)
        if t not in a.tunnels and not policy.ignored(t)
    ]
    for table, count in sorted(b.routes.items()):
        now = a.routes.get(table, 0)
        if (
            count > 0
            and now < count * (1 - policy.route_drop_pct / 100)
            and not policy.ignored(table)
        ):
            out.append(f"routes {table} {count} -> {now}")
    new_major = [x for x in a.alarms if " Major: " in x and x not in b.alarms]
    out += [f"new alarm {x}" for x in new_major if not policy.ignored(x)]
    return out


def snapshot_diff(before: Snapshot, after: Snapshot) -> dict[str, Any]:
    """Everything that changed (for the report), lost or not."""
    b, a = before.services, after.services
    changed = {
        "interfaces": {
            n: [b.interfaces.get(n), a.interfaces.get(n)]
            for n in sorted(set(b.interfaces) | set(a.interfaces))
            if b.interfaces.get(n) != a.interfaces.get(n)
        },
        "tunnels": {
            "gone": sorted(set(b.tunnels) - set(a.tunnels)),
            "new": sorted(set(a.tunnels) - set(b.tunnels)),
        },
        "routes": {
            t: [b.routes.get(t, 0), a.routes.get(t, 0)]
            for t in sorted(set(b.routes) | set(a.routes))
            if b.routes.get(t, 0) != a.routes.get(t, 0)
        },
        "alarms": {
            "new": [x for x in a.alarms if x not in b.alarms],
            "cleared": [x for x in b.alarms if x not in a.alarms],
        },
        "sessions": [b.sessions, a.sessions],
    }
    return changed
