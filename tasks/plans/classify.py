"""Cluster classification: the states of docs/operators/status.md and the health findings
behind them."""

from __future__ import annotations

from dataclasses import dataclass

from tasks.device.readings import NOT_CLUSTERED, ClusterView, with_words
from tasks.srx_facts import newer
from tasks.vocabulary import NODES, ClusterState


@dataclass(frozen=True)
class Classification:
    state: ClusterState
    findings: tuple[str, ...]  # health problems, each one line
    notes: tuple[str, ...] = ()  # worth knowing, not unhealthy (manual failover flag, ...)

    @property
    def detail(self) -> str:
        return "; ".join(self.findings) if self.findings else "all checks pass"


def icu_evidence(view: ClusterView) -> str | None:
    """What the device shows that only a running ICU explains, else None.

    No SRX command reports an ICU's phase to another session
    (docs/design/icu-observables.md), so this reads what does exist: installs pending on both
    nodes (both installed, neither rebooted), a node down while the other has an install
    pending (a reboot of the ICU), the nodes on different releases while the one on the older
    release has an install pending (the upgraded secondary is back; the primary's reboot is
    next). An install pending on the secondary alone is not enough: a leftover looks the
    same."""
    up = [n for n in NODES if view.nodes[n].reachable]
    pending = [n for n in up if view.nodes[n].pending]
    down = [n for n in NODES if n not in up]
    if len(pending) == 2:
        return "installs pending on both nodes"
    if down and pending:
        return f"{down[0]} down while {pending[0]} has an install pending"
    versions = {n: view.versions.get(n) for n in up}
    if len(pending) == 1 and len(set(versions.values())) == 2 and None not in versions.values():
        other = next(n for n in up if n not in pending)
        if newer(str(versions[other]), str(versions[pending[0]])):
            return f"{other} runs {versions[other]}, {pending[0]} has an install pending"
    return None


def icu_running(view: ClusterView) -> bool:
    return icu_evidence(view) is not None


def health_findings(view: ClusterView) -> tuple[list[str], list[str]]:
    findings: list[str] = []
    notes: list[str] = []
    for name in NODES:
        node = view.nodes.get(name)
        if node is not None and node.auth_failed:
            findings.append(node.error)  # "authentication failed for USER on node0 (host:port)"
        elif node is None or not node.reachable:
            findings.append(f"{name} unreachable" + (f" ({node.error})" if node else ""))
        elif not node.clustered:
            findings.append(f"{name}: " + with_words(NOT_CLUSTERED, node.cluster_words))
        elif node.pending:
            findings.append(f"{name}: install pending")
    versions = {n: v for n, v in view.versions.items() if v}
    if len(set(versions.values())) > 1:
        findings.append(
            "releases differ: " + ", ".join(f"{n} {v}" for n, v in sorted(versions.items()))
        )
    findings += same_box(view)
    seen = {n: view.primary_seen_by(n) for n in NODES if view.nodes.get(n) and view.nodes[n].status}
    if len(set(seen.values())) > 1:
        findings.append(
            "nodes disagree on the RG0 primary: "
            + ", ".join(f"{n} says {p or 'none'}" for n, p in sorted(seen.items()))
        )
    status = view.status
    if status is not None:
        if not status.groups:
            findings.append("no redundancy groups reported")
        for rg in status.groups:
            primaries, secondaries = rg.nodes_with("primary"), rg.nodes_with("secondary")
            if len(primaries) != 1 or len(secondaries) != 1:
                roles = ", ".join(f"{m.node} {m.status}" for m in rg.members) or "no members"
                findings.append(f"RG{rg.rg_id}: not one primary and one secondary ({roles})")
            for m in rg.members:
                if m.priority == 0 and m.status not in ("lost",):
                    findings.append(f"RG{rg.rg_id}: {m.node} priority 0")
                if m.monitor_failures:
                    findings.append(
                        f"RG{rg.rg_id}: {m.node} monitor failures {' '.join(m.monitor_failures)}"
                    )
                if m.manual_failover or m.priority == 255:
                    notes.append(f"RG{rg.rg_id}: manual failover flag set on {m.node}")
    return findings, notes


def same_box(view: ClusterView) -> list[str]:
    """Two sessions that reached one device (one SSH host key, or replies from two different
    clusters): the cluster is only half seen and must never look healthy."""
    up = [view.nodes[n] for n in NODES if view.nodes.get(n) and view.nodes[n].reachable]
    keys = {v.identity for v in up if v.identity}
    if len(up) == 2 and len(keys) == 1 and all(v.identity for v in up):
        return [
            "node0 and node1 answered as the same device (one SSH host key): check the "
            "inventory addresses"
        ]
    ids = {v.node: v.status.cluster_id for v in up if v.status is not None}
    if len(set(ids.values())) > 1:
        return [
            "nodes belong to different clusters: "
            + ", ".join(f"{n} cluster-id {i}" for n, i in sorted(ids.items()))
        ]
    return []


def classify(view: ClusterView, *, icu_started: bool = False) -> Classification:
    """Classify one observation. `icu_started`: our journal says we started an ICU here."""
    findings, notes = health_findings(view)
    reachable = [v for v in view.nodes.values() if v.reachable]
    if not reachable:
        refused = any(v.auth_failed for v in view.nodes.values())
        state = ClusterState.AUTH_FAILED if refused else ClusterState.UNREACHABLE
        return Classification(state, tuple(findings), tuple(notes))
    if any(not v.clustered for v in reachable):
        return Classification(ClusterState.NOT_CLUSTERED, tuple(findings), tuple(notes))
    if icu_running(view):
        return Classification(ClusterState.ICU_IN_PROGRESS, tuple(findings), tuple(notes))
    versions = {v for v in view.versions.values() if v}
    if len(versions) > 1:
        return Classification(ClusterState.INCONSISTENT, tuple(findings), tuple(notes))
    pending = any(v.pending for v in reachable)
    if icu_started and (pending or len(reachable) < len(NODES)):
        return Classification(ClusterState.ICU_IN_PROGRESS, tuple(findings), tuple(notes))
    if pending:
        return Classification(ClusterState.PENDING_INSTALL, tuple(findings), tuple(notes))
    if findings:
        return Classification(ClusterState.DEGRADED, tuple(findings), tuple(notes))
    return Classification(ClusterState.HEALTHY, (), tuple(notes))
