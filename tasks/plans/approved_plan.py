"""An approved plan: what a reviewed dry run saw of each cluster and would have sent, so that
`upgrade --plan FILE` sends exactly that, and nothing to a cluster that changed since.

A dry run (`upgrade --dry-run --save-plan FILE`) records per cluster that would be upgraded
its state word, each node's release, the RG0 primary and the ICU command line. The upgrade
that carries the plan out observes the cluster as always, and before anything that changes
it compares: a difference in any of the four (a failover since, a node upgraded or rolled
back by hand, a changed inventory package, ...) ends the cluster `not-started`, naming
each difference, with nothing sent. The file format is the CLI's (runbooks.fleet.approved_plans).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from tasks.vocabulary import NODES

CHANGED = "state changed since the plan was approved"


@dataclass(frozen=True)
class ApprovedCluster:
    """What the reviewed dry run saw of one cluster and would have sent."""

    state: str
    versions: Mapping[str, str | None]
    primary: str
    command: str

    def changes(
        self, state: str, versions: Mapping[str, str | None], primary: str | None, command: str
    ) -> list[str]:
        """Each way the cluster now differs from the approved one, in words (none: same)."""
        found = []
        if state != self.state:
            found.append(f"state {self.state} -> {state}")
        for node in NODES:
            if versions.get(node) != self.versions.get(node):
                found.append(f"{node} {self.versions.get(node)} -> {versions.get(node)}")
        if primary != self.primary:
            found.append(f"RG0 primary {self.primary} -> {primary}")
        if command != self.command:
            found.append(f"command '{self.command}' -> '{command}'")
        return found

    def to_json(self) -> dict[str, Any]:
        return {
            "state": self.state,
            "versions": dict(self.versions),
            "primary": self.primary,
            "command": self.command,
        }


@dataclass(frozen=True)
class ApprovedPlan:
    """The clusters of an approved plan; `source` names it in reports (file and digest)."""

    source: str
    clusters: Mapping[str, ApprovedCluster] = field(default_factory=dict)
