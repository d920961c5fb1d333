"""The `plan` job's answer for one cluster: from what the cluster runs to its target, the hops
and each hop's method, package, commands and outage (tasks/upgrade_paths.py), or why there is
no plan. Read-only: built from one observation of the cluster."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tasks.device.commands import IcuCommand
from tasks.device.readings import ClusterView
from tasks.plans.classify import classify
from tasks.plans.dual_reboot import commands
from tasks.plans.estimates import PlanEstimate, estimate
from tasks.state.settings import Timing
from tasks.upgrade_paths import Hop, plan_hops
from tasks.vocabulary import NODES, ClusterState

PLANNABLE = (ClusterState.HEALTHY, ClusterState.DEGRADED)


@dataclass(frozen=True)
class ClusterPlan:
    name: str
    state: str
    model: str
    running: str | None
    target: str
    hops: tuple[Hop, ...] = ()
    refused: str | None = None  # why no plan (the cluster's state, or no documented way)
    method: str = "auto"  # the method asked for (tasks.upgrade_paths.METHODS)
    estimate: PlanEstimate | None = None  # how long the hops take (tasks/plans/estimates.py)

    @property
    def automated(self) -> bool:
        """`upgrade` carries out every hop today."""
        return self.refused is None and all(h.automated for h in self.hops)

    def commands(self, hop: Hop) -> list[str]:
        """What the hop sends, in order (the ICU's own words; the others as the steps)."""
        package = hop.package or "<package of " + hop.to + ">"
        if hop.method in ("icu", "issu"):
            return [IcuCommand.for_model(package, self.model).cli + "  (on the RG0 primary)"]
        return commands(package)  # KB17947's dual reboot: upgrade --allow-outage

    def to_json(self) -> dict[str, Any]:
        return {
            "state": self.state,
            "model": self.model,
            "running": self.running,
            "target": self.target,
            "hops": [{**h.to_json(), "commands": self.commands(h)} for h in self.hops],
            "refused": self.refused,
            "automated": self.automated,
            "method": self.method,
            "estimate": self.estimate.to_json() if self.estimate else None,
        }


def plan_cluster(
    name: str,
    view: ClusterView,
    target: str,
    packages: dict[str, str],
    method: str = "auto",
    timing: Timing | None = None,
) -> ClusterPlan:
    """The cluster's plan from this observation, by `method` (auto: the table's choice);
    with `timing`, each hop's estimate by its method."""
    state = classify(view).state
    software = next((view.nodes[n].software for n in NODES if view.nodes[n].software), None)
    model = software.model if software else ""
    running = view.versions["node0"]
    if state not in PLANNABLE or running is None:
        unfit = f"no plan for a cluster in state {state.value}: status and recover first"
        return ClusterPlan(name, state.value, model, running, target, refused=unfit, method=method)
    if running == target:
        return ClusterPlan(name, state.value, model, running, target, method=method)
    hops, why = plan_hops(model, running, target, packages, method)
    guess = estimate(hops, timing) if timing is not None and hops else None
    return ClusterPlan(name, state.value, model, running, target, tuple(hops), why, method, guess)
