"""`--method` through the real jobs (tasks.jobs.srx_plan / srx_upgrade) against in-process
clusters (simulator/inprocess.py) in virtual time: each method's plan, the refusals with
nothing sent, and a dual reboot for every hop carried out to the target with the lab's
mixed-release record empty."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from simulator.inprocess import InProcessLab, nornir_for
from simulator.testing import DESTRUCTIVE_RPCS
from tasks.device.wire import WireDevices
from tasks.executor import LogSink
from tasks.jobs import srx_plan, srx_upgrade
from tasks.plans.path_plan import ClusterPlan
from tasks.state.backends import LocalBackend, build_context
from tasks.state.clock import VirtualClock
from tasks.state.run_context import Outcome

pytestmark = pytest.mark.unit

OLD, HOP, TARGET = "23.4R2-S3.9", "24.4R1.9", "25.2R1.9"
ACROSS = {"name": "c1", "model": "SRX345", "target": TARGET, "packages": [HOP]}
DESTRUCTIVE = DESTRUCTIVE_RPCS


@dataclass
class Rig:
    clock: VirtualClock
    lab: InProcessLab
    state: Path

    def context(self, sink: Any = None, devices: Any = None) -> Any:
        return build_context(
            LocalBackend(self.state),
            run_id=f"run-{len(self.lab.audit)}",
            state_dir=self.state,
            sink=sink or LogSink(),
            transcripts=False,
            clock=self.clock,
            devices=devices or WireDevices(self.lab),
        )

    def run(self, job: Any, name: str = "c1", **kwargs: Any) -> Any:
        result = (
            nornir_for(self.lab).filter(name=name).run(task=job, context=self.context(), **kwargs)
        )
        found = result[name][0].result
        assert isinstance(found, Outcome | ClusterPlan), result[name][0].exception
        return found

    def sends(self, name: str = "c1") -> Counter[tuple[str, str]]:
        return Counter((r["rpc"], r["node"]) for r in self.lab.sent(name, *DESTRUCTIVE))

    def releases(self, name: str = "c1") -> set[str]:
        return {n["release"] for n in self.lab.truth(name)["nodes"].values()}


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Any]:
    made: list[Rig] = []

    def make(*clusters: dict[str, Any]) -> Rig:
        clock = VirtualClock()
        made.append(Rig(clock, InProcessLab(clock, {"clusters": list(clusters)}), tmp_path))
        return made[-1]

    yield make
    for r in made:
        r.lab.close()
        r.clock.close()


@pytest.mark.parametrize(
    ("method", "hops"),
    [
        ("auto", [(HOP, "dual-reboot"), (TARGET, "icu")]),
        ("dual-reboot", [(HOP, "dual-reboot"), (TARGET, "dual-reboot")]),
        ("icu", []),
        ("issu", []),
        ("minimal-downtime", []),
    ],
)
def test_plan_by_each_method(rig: Any, method: str, hops: list[tuple[str, str]]) -> None:
    r = rig(ACROSS)
    plan = r.run(srx_plan, method=method)
    assert [(h.to, h.method) for h in plan.hops] == hops
    assert plan.method == method and (plan.refused is None) == bool(hops), plan.refused
    assert r.sends() == Counter()


@pytest.mark.parametrize(
    ("method", "says"),
    [
        ("icu", "--method icu: SRX345 cannot use ICU across 24.4R1"),
        ("issu", "--method issu: Juniper documents ICU for SRX345, not ISSU"),
        ("minimal-downtime", "its detailed steps, above all how the two nodes' control and"),
    ],
)
def test_upgrade_by_a_method_the_cluster_cannot_take_is_refused_nothing_sent(
    rig: Any, method: str, says: str
) -> None:
    r = rig(ACROSS)
    outcome = r.run(srx_upgrade, method=method, allow_outage=True)
    assert outcome.outcome == "refused" and says in outcome.detail, outcome.detail
    if method == "minimal-downtime":
        assert outcome.detail.endswith("Follow KB17947 by hand")
    assert r.sends() == Counter() and r.releases() == {OLD}


def test_upgrade_method_icu_where_the_table_allows_it_is_todays_icu(rig: Any) -> None:
    r = rig({"name": "c1", "model": "SRX345", "target": "24.2R2-S1.3"})
    outcome = r.run(srx_upgrade, method="icu")
    assert outcome.outcome == "ok", outcome.detail
    assert r.sends() == Counter({("request-package-in-service-upgrade", "node0"): 1})


def test_upgrade_method_dual_reboot_needs_allow_outage_then_does_every_hop(rig: Any) -> None:
    # the target's package on both nodes too: each node installs its own copy
    r = rig({**ACROSS, "packages": [HOP, TARGET]})
    held = r.run(srx_upgrade, method="dual-reboot")
    assert held.outcome == "refused" and "--allow-outage" in held.detail, held.detail
    assert r.sends() == Counter()
    outcome = r.run(srx_upgrade, method="dual-reboot", allow_outage=True)
    assert outcome.outcome == "ok", outcome.detail
    assert [(h["to"], h["method"]) for h in outcome.extra["hops"]] == [
        (HOP, "dual-reboot"),
        (TARGET, "dual-reboot"),
    ]
    assert r.releases() == {TARGET} and r.lab.truth("c1")["mixed_release"] == []
    assert r.sends() == Counter(
        {(rpc, node): 2 for rpc in ("request-package-add", "request-reboot") for node in NODES}
    )


NODES = ("node0", "node1")
