"""The real upgrade, abort and recover jobs (tasks.jobs.srx_*, through Nornir, the executor,
locks and journal) against in-process clusters: the simulator's model and replies
(simulator/inprocess.py) under a virtual clock (tasks.state.clock), each RPC's XML read by
the real parsers. Each scenario is checked against the model's truth and its audit of the
RPCs it received, and takes well under a second of real time."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from simulator.inprocess import InProcessLab, nornir_for
from simulator.testing import DESTRUCTIVE_RPCS
from tasks.device.wire import WireDevices
from tasks.executor import LogSink
from tasks.jobs import srx_abort, srx_recover, srx_upgrade
from tasks.state.backends import LocalBackend, build_context
from tasks.state.clock import VirtualClock
from tasks.state.run_context import Outcome

NEW, OLD = "24.2R2-S1.3", "23.4R2-S3.9"
DESTRUCTIVE = DESTRUCTIVE_RPCS
REAL_SECONDS: dict[str, float] = {}  # test -> real seconds (printed at the end)
JOB_SECONDS: list[tuple[float, float]] = []  # (real, CPU) seconds of each job run


@dataclass
class Rig:
    clock: VirtualClock
    lab: InProcessLab
    state: Path

    def run(self, job: Any, name: str = "br-1", **kwargs: Any) -> Outcome:
        """One job on one cluster, in a run of its own (its own context, shared journal)."""
        context = build_context(
            LocalBackend(self.state),
            run_id=f"run-{len(self.lab.audit)}",
            state_dir=self.state,
            sink=LogSink(),
            transcripts=False,
            clock=self.clock,
            devices=WireDevices(self.lab),
        )
        started, cpu = time.perf_counter(), time.process_time()
        result = nornir_for(self.lab).filter(name=name).run(task=job, context=context, **kwargs)
        JOB_SECONDS.append((time.perf_counter() - started, time.process_time() - cpu))
        outcome = result[name][0].result
        assert isinstance(outcome, Outcome), result[name][0].exception
        return outcome

    def destructive(self, name: str = "br-1") -> list[tuple[str, str]]:
        return [(r["node"], r["rpc"]) for r in self.lab.sent(name, *DESTRUCTIVE)]

    def truth(self, name: str = "br-1") -> dict[str, Any]:
        return self.lab.truth(name)


@pytest.fixture
def rig(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    made: list[Rig] = []

    def make(*clusters: dict[str, Any]) -> Rig:
        clock = VirtualClock()
        # each lab its own state directory: its run ids start again at run-0, and a journal
        # of another lab's run-0 would be a world no device is in
        state = tmp_path / f"rig{len(made)}"
        made.append(Rig(clock, InProcessLab(clock, {"clusters": list(clusters)}), state))
        return made[-1]

    started = time.perf_counter()
    yield make
    REAL_SECONDS[request.node.name] = time.perf_counter() - started
    for r in made:
        r.lab.close()
        r.clock.close()


@pytest.fixture(scope="module", autouse=True)
def _print_real_seconds() -> Iterator[None]:
    yield
    width = max((len(n) for n in REAL_SECONDS), default=0)
    print("\nreal seconds per in-process scenario:")
    for name, seconds in REAL_SECONDS.items():
        print(f"  {name:<{width}}  {seconds:.3f}")


def versions(truth: dict[str, Any]) -> dict[str, str]:
    return {n: v["release"] for n, v in truth["nodes"].items()}


def test_a_healthy_cluster_is_upgraded_to_a_verified_ok_in_virtual_time(rig: Any) -> None:
    r = rig({"name": "br-1"})
    outcome = r.run(srx_upgrade)
    assert outcome.outcome == "ok", outcome.detail
    truth = r.truth()
    assert versions(truth) == {"node0": NEW, "node1": NEW}  # the model agrees
    assert truth["icu_phase"] is None and not any(n["pending"] for n in truth["nodes"].values())
    assert r.destructive() == [("node0", "request-package-in-service-upgrade")]  # RG0 primary
    assert 45 * 60 < r.clock.monotonic() < 90 * 60  # a whole ICU passed on the virtual clock
    # a second run finds it on target and sends nothing
    assert r.run(srx_upgrade).outcome == "skipped"
    assert len(r.destructive()) == 1


def test_an_abort_during_the_icu_lands_clean_and_leaves_the_old_release(rig: Any) -> None:
    r = rig({"name": "br-1", "state": "icu-in-progress", "icu_phase": "install-primary"})
    outcome = r.run(srx_abort)
    assert outcome.outcome == "ok", outcome.detail
    truth = r.truth()
    assert truth["icu_phase"] is None and versions(truth) == {"node0": OLD, "node1": OLD}
    assert r.destructive() == [("node0", "abort-in-service-upgrade")]


def test_an_abort_after_the_secondary_rebooted_recovers_it_in_the_documented_order(
    rig: Any,
) -> None:
    r = rig({"name": "br-1", "state": "icu-in-progress", "icu_phase": "secondary-reboot"})
    outcome = r.run(srx_abort)
    assert outcome.outcome == "ok", outcome.detail
    assert versions(r.truth()) == {"node0": OLD, "node1": OLD}
    assert r.destructive() == [
        ("node0", "abort-in-service-upgrade"),  # the ICU's abort on the RG0 primary
        ("node1", "abort-in-service-upgrade"),  # then recovery on the secondary
        ("node1", "request-package-rollback"),
        ("node1", "request-reboot"),
    ]


def test_an_inconsistent_cluster_is_recovered_abort_rollback_reboot_on_the_secondary(
    rig: Any,
) -> None:
    r = rig({"name": "br-1", "state": "inconsistent"})
    outcome = r.run(srx_recover)
    assert outcome.outcome == "ok", outcome.detail
    truth = r.truth()
    assert versions(truth) == {"node0": OLD, "node1": OLD}
    assert not truth["nodes"]["node1"]["stale_icu"]
    assert r.destructive() == [
        ("node1", "abort-in-service-upgrade"),
        ("node1", "request-package-rollback"),
        ("node1", "request-reboot"),
    ]
    assert {a["args"].get("node") for a in r.lab.sent("br-1", "request-package-rollback")} == {"1"}


def test_a_lost_rollback_reply_is_read_from_the_device_and_never_sent_again(rig: Any) -> None:
    r = rig({"name": "br-1", "state": "inconsistent", "faults": ["rollback-reply-lost"]})
    outcome = r.run(srx_recover)
    assert outcome.outcome == "ok", outcome.detail
    assert [rpc for _, rpc in r.destructive()].count("request-package-rollback") == 1
    assert r.lab.sent("br-1", "request-package-rollback")[0]["result"] == "no-reply"


def test_sessions_dropped_during_the_icu_are_expected_and_the_icu_is_sent_once(
    rig: Any,
) -> None:
    r = rig({"name": "br-1", "faults": ["session-drop"]})
    outcome = r.run(srx_upgrade)
    assert outcome.outcome == "ok", outcome.detail
    assert versions(r.truth()) == {"node0": NEW, "node1": NEW}
    assert r.destructive() == [("node0", "request-package-in-service-upgrade")]
    icu = r.lab.sent("br-1", "request-package-in-service-upgrade")[0]
    later = [
        a for a in r.lab.sent("br-1") if a["session"] != icu["session"] and a["node"] == "node0"
    ]
    assert len({a["session"] for a in later}) >= 2  # the polls reopened their sessions


def test_an_icu_that_fails_on_the_device_is_answered_late_and_reported_failed(
    rig: Any,
) -> None:
    r = rig({"name": "br-1", "faults": ["icu-fails"]})
    outcome = r.run(srx_upgrade)
    assert outcome.outcome == "failed"
    assert "install on node1 failed" in outcome.detail
    assert versions(r.truth()) == {"node0": OLD, "node1": OLD}
    assert [a["rpc"] for a in r.lab.sent("br-1", "late-reply")] == ["late-reply"]


def test_silent_sessions_after_a_reboot_time_out_in_virtual_time(rig: Any) -> None:
    r = rig({"name": "br-1", "faults": ["rpc-silent"]})
    outcome = r.run(srx_upgrade)
    assert outcome.outcome == "ok", outcome.detail
    assert r.destructive() == [("node0", "request-package-in-service-upgrade")]


def test_a_node_down_and_refused_credentials_send_nothing(rig: Any) -> None:
    r = rig({"name": "br-1", "state": "node-down"}, {"name": "br-2", "faults": ["auth-fails"]})
    down = r.run(srx_upgrade, name="br-1")
    assert down.outcome == "failed" and r.destructive("br-1") == []
    refused = r.run(srx_upgrade, name="br-2")
    assert refused.outcome == "failed" and "authentication failed" in refused.detail
    assert r.lab.sent("br-2") == []


def test_a_run_under_a_virtual_clock_replays_exactly(
    rig: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def once() -> list[tuple[float, str, str, str]]:
        # a world of its own: the device lock (keyed by the nodes' addresses, which both labs
        # share) would otherwise show the first run's journal to the second
        monkeypatch.setenv("RUNBOOKS_COORD_DIR", str(tmp_path / f"coord-{len(seen)}"))
        seen.append(1)
        r = rig({"name": "br-1", "faults": ["session-drop"]})
        r.run(srx_upgrade)
        return [(a["ts"], a["node"], a["rpc"], a["result"]) for a in r.lab.audit]

    seen: list[int] = []
    assert once() == once()


def test_every_in_process_job_takes_well_under_a_second() -> None:
    # CPU seconds: on a machine shared with other work the real time stretches, but nothing
    # here waits for real (about 0.1-0.5 s real on an idle 2-core machine)
    assert JOB_SECONDS and max(cpu for _, cpu in JOB_SECONDS) < 1.0, JOB_SECONDS
    assert max(real for real, _ in JOB_SECONDS) < 10.0, JOB_SECONDS
