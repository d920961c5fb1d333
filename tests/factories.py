"""Builders for ClusterView values in unit tests."""

from __future__ import annotations

from tasks.device.readings import (
    ClusterStatus,
    ClusterView,
    NodeSoftware,
    NodeView,
    RedundancyGroup,
    RgMember,
)

OLD, NEW = "23.4R2-S3.9", "24.2R2-S1.3"


def status(
    primary: str = "node0",
    *,
    secondary_status: str = "secondary",
    failures: tuple[str, ...] = (),
    priority1: int = 100,
) -> ClusterStatus:
    other = "node1" if primary == "node0" else "node0"
    groups = []
    for rg in (0, 1):
        groups.append(
            RedundancyGroup(
                rg,
                1,
                (
                    RgMember(primary, 200, "primary", rg == 1, False, ()),
                    RgMember(other, priority1, secondary_status, rg == 1, False, failures),
                ),
            )
        )
    return ClusterStatus(1, tuple(sorted_members(g) for g in groups))


def sorted_members(g: RedundancyGroup) -> RedundancyGroup:
    return RedundancyGroup(
        g.rg_id, g.failover_count, tuple(sorted(g.members, key=lambda m: m.node))
    )


def node(
    name: str,
    version: str | None = OLD,
    *,
    reachable: bool = True,
    booted: int = 1000,
    pending: str | None = None,
    st: ClusterStatus | None = None,
) -> NodeView:
    if not reachable:
        return NodeView(node=name, reachable=False, error="ConnectRefusedError")
    return NodeView(
        node=name,
        reachable=True,
        software=NodeSoftware(name, "fw", "SRX345", version) if version else None,
        status=st or status(),
        booted_at=booted,
        pending=pending,
    )


def cluster(n0: NodeView | None = None, n1: NodeView | None = None) -> ClusterView:
    return ClusterView("br-0001", {"node0": n0 or node("node0"), "node1": n1 or node("node1")})
