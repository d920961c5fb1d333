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
class ApprovedHop:
    """One hop of a reviewed way with a dual reboot: its method, release and commands."""

    method: str
    to: str
    commands: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {"method": self.method, "to": self.to, "commands": list(self.commands)}

    @staticmethod
    def joined(hops: list[ApprovedHop] | tuple[ApprovedHop, ...]) -> str:
        """A way's commands as one line (an approved cluster's `command`)."""
        return "; then ".join(c for h in hops for c in h.commands)


@dataclass(frozen=True)
class ApprovedCluster:
    """What the reviewed dry run saw of one cluster and would have sent. A way with a dual
    reboot (`upgrade --allow-outage`) has its `hops`, and `command` is every hop's commands
    in order; an ICU alone has none."""

    state: str
    versions: Mapping[str, str | None]
    primary: str
    command: str
    hops: tuple[ApprovedHop, ...] = ()

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

    def hop_changes(self, hops: list[ApprovedHop]) -> list[str]:
        """Each way the hops planned now differ from the approved ones, in words."""
        said = [f"{h.method} to {h.to}" for h in self.hops]
        now = [f"{h.method} to {h.to}" for h in hops]
        if said != now:
            return [f"hops {', '.join(said) or 'none'} -> {', '.join(now) or 'none'}"]
        return [
            f"hop {i} commands '{'; '.join(a.commands)}' -> '{'; '.join(b.commands)}'"
            for i, (a, b) in enumerate(zip(self.hops, hops, strict=True), 1)
            if a.commands != b.commands
        ]

    def to_json(self) -> dict[str, Any]:
        found: dict[str, Any] = {
            "state": self.state,
            "versions": dict(self.versions),
            "primary": self.primary,
            "command": self.command,
        }
        if self.hops:
            found["hops"] = [h.to_json() for h in self.hops]
        return found


@dataclass(frozen=True)
class ApprovedPlan:
    """The clusters of an approved plan; `source` names it in reports (file and digest)."""

    source: str
    clusters: Mapping[str, ApprovedCluster] = field(default_factory=dict)
