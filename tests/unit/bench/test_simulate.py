"""bench/simulate.py: seeded scenarios replay, and its invariants catch what they are for."""

from __future__ import annotations

from typing import Any

from bench.simulate import Scenario, check, main, order_violations
from simulator.inprocess import InProcessLab
from tasks.state.clock import VirtualClock


def test_a_seed_draws_the_same_scenario_every_time() -> None:
    assert Scenario.draw(7) == Scenario.draw(7)
    assert len({Scenario.draw(s) for s in range(50)}) > 20


def test_a_few_scenarios_run_with_no_violation(capsys: Any) -> None:
    assert main(["--scenarios", "3", "--seed", "11"]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "3 scenarios, 0 violations"


def test_the_invariants_catch_a_second_reboot_a_wrong_order_and_a_false_ok() -> None:
    audit = [
        {"node": "node1", "rpc": "request-package-rollback"},
        {"node": "node1", "rpc": "request-reboot"},
        {"node": "node1", "rpc": "request-reboot"},
    ]
    assert order_violations(audit) == [
        "request-package-rollback on node1 without abort-in-service-upgrade before it"
    ]
    clock = VirtualClock()
    lab = InProcessLab(clock, {"clusters": [{"name": "sim-1", "state": "inconsistent"}]})
    lab.audit.extend({"result": "ok", **r} for r in audit)
    found = check(Scenario(1, "inconsistent", None, None, "recover"), lab, "node0", "ok")
    assert "request-reboot sent 2 times to node1" in found
    assert any(f.startswith("ok, but the nodes run") for f in found)
