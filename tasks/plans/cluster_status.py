"""The read-only status of one cluster: each node's release, RG primaries, pending installs,
health findings and the classification. Sends nothing that changes a device."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tasks.device.readings import NOT_CLUSTERED, ClusterView
from tasks.device.rpc import NodeRpc
from tasks.errors import RunbookError
from tasks.plans.classify import ClusterState, classify
from tasks.vocabulary import NODES

REFUSED = "unknown"  # the state of a status refused for its input: nothing was looked at


@dataclass(frozen=True)
class ClusterSummary:
    name: str
    state: str
    versions: dict[str, str | None]
    rg_primaries: dict[int, str | None]
    pending: dict[str, bool]
    findings: tuple[str, ...]
    notes: tuple[str, ...]
    # a way with hops stopped between two of them: both nodes on a hop's release, healthy or
    # degraded, short of the target (tasks.plans.dual_reboot.between_hops); else None
    between: str | None = None

    @property
    def healthy(self) -> bool:
        return self.state == ClusterState.HEALTHY.value

    def extra(self) -> dict[str, Any]:
        return {
            "rg_primary": {f"rg{k}": v for k, v in sorted(self.rg_primaries.items())},
            "pending_install": self.pending,
            "findings": list(self.findings),
            "notes": list(self.notes),
            "between_hops": self.between,
        }

    @property
    def words(self) -> str:
        """The findings, and where the way stands between its hops, in one line."""
        return "; ".join([*self.findings, *([self.between] if self.between else [])])

    @property
    def refused(self) -> bool:
        """Refused for its input: no node was asked (not a state of the cluster)."""
        return self.state == REFUSED

    @classmethod
    def unreachable(cls, name: str, why: str) -> ClusterSummary:
        return cls(name, ClusterState.UNREACHABLE.value, dict.fromkeys(NODES), {}, {}, (why,), ())

    @classmethod
    def bad_input(cls, name: str, why: str) -> ClusterSummary:
        """A status refused for its input (tasks.input_rules): nothing was sent, so the
        cluster's state is `unknown`, never a state a device showed."""
        return cls(name, REFUSED, dict.fromkeys(NODES), {}, {}, (f"bad input: {why}",), ())


def prerequisites(rpc: NodeRpc) -> tuple[list[str], list[str]]:
    """ICU prerequisites a status shows (findings, notes): control and fabric links down,
    major alarms (findings); minor alarms (notes). Read on one node's session."""
    findings: list[str] = []
    notes: list[str] = []
    try:
        findings += rpc.cluster_links().evidence()
        for alarm in rpc.alarms():
            (findings if alarm.major else notes).append(f"alarm {alarm}")
    except RunbookError as exc:
        notes.append(f"links/alarms not read: {exc.message}")
    return findings, notes


def summarize(
    view: ClusterView,
    *,
    icu_started: bool = False,
    prereqs: tuple[list[str], list[str]] = ([], []),
    abort_pending: str | None = None,
    dual: str | None = None,
    between: str | None = None,
) -> ClusterSummary:
    """`icu_started`: the journal holds an ICU this tool sent whose end no run has seen (it
    explains pending installs). `prereqs`: link and alarm findings and notes; a healthy
    cluster with a link down or a major alarm is degraded."""
    verdict = classify(view, icu_started=icu_started)
    said = verdict.state is ClusterState.NOT_CLUSTERED  # the nodes' findings carry the words
    links = [f for f in prereqs[0] if not (said and f.startswith(NOT_CLUSTERED))]
    findings, notes = verdict.findings + tuple(links), verdict.notes + tuple(prereqs[1])
    state = verdict.state
    if abort_pending and state in (ClusterState.HEALTHY, ClusterState.PENDING_INSTALL):
        # `abort_pending`: an abort sent and not seen to land: the device may still be in
        # the ICU's last step (docs/operators/abort.md)
        state, findings = ClusterState.ICU_IN_PROGRESS, (abort_pending, *findings)
    if dual:  # a dual reboot of this tool's: its installs explain what is pending
        findings = (dual, *findings)
        both_up = all(v.reachable for v in view.nodes.values())
        if state is ClusterState.ICU_IN_PROGRESS and both_up and not icu_started:
            state = ClusterState.PENDING_INSTALL
    if state is ClusterState.HEALTHY and prereqs[0]:
        state = ClusterState.DEGRADED
    primaries: dict[int, str | None] = {}
    if view.status is not None:
        for rg in view.status.groups:
            found = rg.nodes_with("primary")
            primaries[rg.rg_id] = found[0] if len(found) == 1 else None
    return ClusterSummary(
        name=view.name,
        state=state.value,
        versions={n: view.versions.get(n) for n in NODES},
        rg_primaries=primaries,
        pending={n: bool(v.pending) for n, v in view.nodes.items()},
        findings=findings,
        notes=notes,
        between=between if state in (ClusterState.HEALTHY, ClusterState.DEGRADED) else None,
    )
