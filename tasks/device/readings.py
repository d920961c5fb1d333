"""Small typed values the rest of the code works with (parsed from RPC replies by
tasks.device.junos)."""

from __future__ import annotations

from dataclasses import dataclass, field

NOT_CLUSTERED = "chassis cluster is not enabled"  # as the device words it, lower case


def node_id(node: str) -> int:
    """'node1' -> 1."""
    return int(node.removeprefix("node"))


def peer_of(node: str) -> str:
    return "node1" if node == "node0" else "node0"


def with_words(text: str, words: str) -> str:
    """`text`, with the device's own words as evidence when there are any:
    'chassis cluster is not enabled (device: error: Chassis cluster is not enabled)'."""
    return f"{text} (device: {words})" if words else text


@dataclass(frozen=True)
class NodeSoftware:
    node: str
    hostname: str
    model: str
    version: str


@dataclass(frozen=True)
class RgMember:
    node: str
    priority: int
    status: str  # primary, secondary, secondary-hold, hold, lost, disabled, ineligible
    preempt: bool
    manual_failover: bool
    monitor_failures: tuple[str, ...]  # empty when None / element absent


@dataclass(frozen=True)
class RedundancyGroup:
    rg_id: int
    failover_count: int
    members: tuple[RgMember, ...]

    def member(self, node: str) -> RgMember | None:
        return next((m for m in self.members if m.node == node), None)

    def nodes_with(self, status: str) -> tuple[str, ...]:
        return tuple(m.node for m in self.members if m.status == status)


@dataclass(frozen=True)
class ClusterStatus:
    cluster_id: int
    groups: tuple[RedundancyGroup, ...]

    def group(self, rg_id: int) -> RedundancyGroup | None:
        return next((g for g in self.groups if g.rg_id == rg_id), None)

    @property
    def rg0_primary(self) -> str | None:
        rg0 = self.group(0)
        primaries = rg0.nodes_with("primary") if rg0 else ()
        return primaries[0] if len(primaries) == 1 else None


@dataclass(frozen=True)
class BootTime:
    node: str
    booted_at: int  # epoch seconds
    current_time: int


@dataclass(frozen=True)
class Filesystem:
    node: str
    name: str
    mounted_on: str
    available_bytes: int


@dataclass(frozen=True)
class FileInfo:
    path: str
    size: int  # -1 when the listing gives no size
    kind: str = "file"  # file | directory | symlink


@dataclass(frozen=True)
class PackageResult:
    """Reply of the request-package-* RPCs, judged on positive evidence only.

    `verdict`: ok (an explicit package-result 0, or the documented success text, on every
    node), failed (an error, a non-zero result, or the device's failure words on any node),
    unknown (neither: say nothing, observe the device)."""

    verdict: str  # ok | failed | unknown
    output: str
    nodes: dict[str, str] = field(default_factory=dict)  # per node of a multi-node reply

    @property
    def ok(self) -> bool:
        return self.verdict == "ok"

    @property
    def failed(self) -> bool:
        return self.verdict == "failed"


@dataclass(frozen=True)
class NodeView:
    """Everything observed about one node in one pass. `error` set means unreachable."""

    node: str
    reachable: bool
    error: str = ""
    software: NodeSoftware | None = None
    status: ClusterStatus | None = None  # as this node sees the cluster
    booted_at: int | None = None
    pending: str | None = None  # pending-install text, None when nothing is pending
    clustered: bool = True
    identity: str = ""  # the SSH host key the session reached ("" when unknown)
    cluster_words: str = ""  # the device's words when chassis cluster is not enabled
    auth_failed: bool = False  # unreachable because the node refused our credentials


@dataclass(frozen=True)
class ClusterView:
    """One observation of a whole cluster: both nodes, as seen from each."""

    name: str
    nodes: dict[str, NodeView] = field(default_factory=dict)

    @property
    def versions(self) -> dict[str, str | None]:
        return {n: (v.software.version if v.software else None) for n, v in self.nodes.items()}

    def primary_seen_by(self, node: str) -> str | None:
        """The RG0 primary according to `node`'s own cluster status (None if it cannot say)."""
        v = self.nodes.get(node)
        return v.status.rg0_primary if v and v.reachable and v.status else None

    @property
    def status(self) -> ClusterStatus | None:
        """The cluster status as reported by the RG0 primary if reachable, else by any node."""
        reported = [v.status for v in self.nodes.values() if v.status is not None]
        for st in reported:
            primary = st.rg0_primary
            if primary and self.nodes.get(primary) and self.nodes[primary].status is st:
                return st
        return reported[0] if reported else None

    def brief(self) -> str:
        """One line (a step's summary): each node's release, the RG0 primary, a pending
        install, or why a node did not answer."""
        primary = self.status.rg0_primary if self.status else None
        parts = []
        for name, node in sorted(self.nodes.items()):
            if not node.reachable:
                parts.append(f"{name} unreachable: {node.error}")
                continue
            text = f"{name} {self.versions[name]}"
            text += " (RG0 primary)" if name == primary else ""
            parts.append(text + (", install pending" if node.pending else ""))
        return "; ".join(parts) or "nothing observed"


@dataclass(frozen=True)
class ClusterLinks:
    """get-chassis-cluster-interfaces: control and fabric link state ('up', 'down', '' when
    the reply does not say), and each link interface's own state. `words`: what the device
    said instead when the reply holds no link state ('error: Chassis cluster is not
    enabled')."""

    control: str
    fabric: str
    control_links: dict[str, str] = field(default_factory=dict)
    fabric_links: dict[str, str] = field(default_factory=dict)  # child: physical/monitored
    words: str = ""

    @property
    def up(self) -> bool:
        return self.control == "up" and self.fabric == "up"

    @property
    def not_clustered(self) -> bool:
        return NOT_CLUSTERED in self.words.lower()

    def evidence(self) -> list[str]:
        """What is wrong with the links, one line each ([] when both are up)."""
        if self.not_clustered:
            return [with_words(NOT_CLUSTERED, self.words)]
        wrong = [
            f"{name} link {state or 'unknown'}"
            for name, state in (("control", self.control), ("fabric", self.fabric))
            if state != "up"
        ]
        if wrong and self.words:
            wrong[-1] = with_words(wrong[-1], self.words)
        return wrong


@dataclass(frozen=True)
class Alarm:
    node: str
    severity: str  # Major | Minor (as the device writes it)
    description: str
    source: str  # chassis | system

    @property
    def major(self) -> bool:
        return self.severity.lower() == "major"

    def __str__(self) -> str:
        return f"{self.node} {self.source} {self.severity}: {self.description}"


@dataclass(frozen=True)
class NodeServices:
    """What one node forwards, for the before/after comparison of an upgrade. Keys are
    what an operator reads: interface names, 'gateway#tunnel-index', routing-table names."""

    interfaces: dict[str, str] = field(default_factory=dict)  # name -> oper status
    tunnels: dict[str, str] = field(default_factory=dict)  # gateway#index -> up/down
    routes: dict[str, int] = field(default_factory=dict)  # table -> active routes
    alarms: tuple[str, ...] = ()  # str(Alarm), majors and minors
    sessions: int | None = None  # flow sessions (informational)

    def to_json(self) -> dict[str, object]:
        return {
            "interfaces": self.interfaces,
            "tunnels": self.tunnels,
            "routes": self.routes,
            "alarms": list(self.alarms),
            "sessions": self.sessions,
        }


@dataclass(frozen=True)
class CleanupList:
    """request-system-storage-cleanup: the files it lists (or removed), and its verdict."""

    files: tuple[tuple[str, int], ...]  # (path, bytes)
    success: bool | None  # <success/> seen; None for a dry run's listing
    error: str = ""

    @property
    def bytes(self) -> int:
        return sum(size for _path, size in self.files)
