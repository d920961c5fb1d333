"""The read-only status of one cluster: each node's release, RG primaries, pending installs,
health findings and the classification. Sends nothing that changes a device."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tasks.classify import ClusterState, classify
from tasks.values import NODES, ClusterView


@dataclass(frozen=True)
class ClusterSummary:
    name: str
    state: str
    versions: dict[str, str | None]
    rg_primaries: dict[int, str | None]
    pending: dict[str, bool]
    findings: tuple[str, ...]
    notes: tuple[str, ...]

    @property
    def healthy(self) -> bool:
        return self.state == ClusterState.HEALTHY.value

    def extra(self) -> dict[str, Any]:
        return {
            "rg_primary": {f"rg{k}": v for k, v in sorted(self.rg_primaries.items())},
            "pending_install": self.pending,
            "findings": list(self.findings),
            "notes": list(self.notes),
        }

    @classmethod
    def unreachable(cls, name: str, why: str) -> ClusterSummary:
        return cls(name, ClusterState.UNREACHABLE.value, dict.fromkeys(NODES), {}, {}, (why,), ())


def summarize(view: ClusterView, *, icu_started: bool = False) -> ClusterSummary:
    """`icu_started`: the journal holds an ICU this tool sent whose end no run has seen (it
    explains pending installs)."""
    verdict = classify(view, icu_started=icu_started)
    primaries: dict[int, str | None] = {}
    if view.status is not None:
        for rg in view.status.groups:
            found = rg.nodes_with("primary")
            primaries[rg.rg_id] = found[0] if len(found) == 1 else None
    return ClusterSummary(
        name=view.name,
        state=verdict.state.value,
        versions={n: view.versions.get(n) for n in NODES},
        rg_primaries=primaries,
        pending={n: bool(v.pending) for n, v in view.nodes.items()},
        findings=verdict.findings,
        notes=verdict.notes,
    )
